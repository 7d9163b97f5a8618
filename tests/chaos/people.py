"""Subscribers as people meet the bot: /start, accept the terms, tap the plan, wait for the link.

Every action goes through the Telegram stand-in's user API over HTTP, exactly as the sandbox
page's buttons do; what the bot shows is read from the stand-in's world. A person who hears
nothing for `patience` seconds repeats the last step, as people do, and gives up only after
`give_up` seconds; each repeat is counted, so a bot that leaves people in silence shows up in
the figures.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from bot_frontend import keyboards
from infra.sandbox.telegram import TelegramWorld

TERMS = keyboards.AcceptTerms().pack()
PAY_CODE = re.compile(r"/([A-Z0-9]{8})$")  # the stand-in's pay page, /<invoice code>


@dataclass
class Journey:
    """One person's way to a pay link, and what it cost them."""

    user_id: int
    referrer_id: int | None
    repeats: int = 0
    invoice_code: str | None = None
    steps: list[str] = field(default_factory=list)


class Person:
    """Acts for one user id through the control API; reads the bot's answers from the world."""

    def __init__(self, journey: Journey, *, control: httpx.Client, world: TelegramWorld,
                 plan_code: str, patience: float, give_up: float) -> None:
        self.journey, self.control, self.world = journey, control, world
        self.plan_data = keyboards.ChoosePlan(code=plan_code).pack()
        self.patience, self.give_up = patience, give_up

    @property
    def user_id(self) -> int:
        return self.journey.user_id

    def go_to_pay_link(self) -> str | None:
        """Walk to a pay link; its invoice code, or None when the bot never gave one."""
        self._post("/control/users", {"id": self.user_id, "first_name": f"Sub{self.user_id}"})
        start = "/start" if self.journey.referrer_id is None \
            else f"/start ref_{self.journey.referrer_id}"
        waited_for: Callable[[], object]
        deadline = time.monotonic() + self.give_up
        while time.monotonic() < deadline:
            code = self._pay_code()
            if code is not None:
                self.journey.invoice_code = code
                return code
            plan = self._button(self.plan_data)
            terms = self._button(TERMS)
            if plan is not None:
                self._press(plan, self.plan_data)
                waited_for = self._pay_code
            elif terms is not None:
                self._press(terms, TERMS)
                waited_for = lambda: self._button(self.plan_data)  # noqa: E731
            else:
                self._post(f"/control/users/{self.user_id}/messages", {"text": start})
                self.journey.steps.append("start")
                waited_for = lambda: self._button(TERMS) or self._button(self.plan_data)  # noqa: E731
            if not self._wait(waited_for):
                self.journey.repeats += 1
        self.journey.invoice_code = self._pay_code()
        return self.journey.invoice_code

    # --- acting ---------------------------------------------------------------------------

    def _press(self, message_id: int, data: str) -> None:
        self._post(f"/control/users/{self.user_id}/callbacks",
                   {"message_id": message_id, "data": data})
        self.journey.steps.append(data)

    def _post(self, path: str, body: dict[str, object]) -> None:
        answer = self.control.post(path, json=body)
        if answer.status_code >= 500:
            answer.raise_for_status()  # the stand-in's own failure: the harness is broken

    # --- reading what the bot shows -------------------------------------------------------

    def _wait(self, found: Callable[[], object]) -> bool:
        deadline = time.monotonic() + self.patience
        while time.monotonic() < deadline:
            if found():
                return True
            time.sleep(0.25)
        return False

    def _markups(self) -> list[tuple[int, list[dict[str, object]]]]:
        with self.world.lock:
            chat = self.world.private_chats.get((self.world.default_bot.id, self.user_id))
            messages = [] if chat is None else [m for m in chat.messages
                                                 if m.from_bot and not m.deleted]
            return [(m.message_id, _buttons(m.reply_markup)) for m in messages]

    def _button(self, data: str) -> int | None:
        """The newest bot message carrying a button with `data`."""
        for message_id, buttons in reversed(self._markups()):
            if any(button.get("callback_data") == data for button in buttons):
                return message_id
        return None

    def _pay_code(self) -> str | None:
        for _, buttons in reversed(self._markups()):
            for button in buttons:
                match = PAY_CODE.search(str(button.get("url") or ""))
                if match:
                    return match.group(1)
        return None


def _buttons(markup: dict[str, object] | None) -> list[dict[str, object]]:
    rows = (markup or {}).get("inline_keyboard")
    if not isinstance(rows, list):
        return []
    return [button for row in rows if isinstance(row, list)
            for button in row if isinstance(button, dict)]
