"""Promo and gift codes through the whole sandbox: the bot process, a Celery worker, Redis, the
gateway and both stand-ins. The admin creates codes by typing commands; subscribers redeem them
by deep link and by the "I have a code" button, pay the discounted price at the CryptoCloud
stand-in, and get their invite.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from infra import texts
from infra.migrate import seed_plans
from infra.settings import SANDBOX_ADMIN_ID, load_settings
from tests.fixtures.processes import ROOT, celery_worker, child_env, serve_wsgi
from tests.fixtures.waiting import eventually
from webhook_gateway import create_app

pytestmark = [pytest.mark.slow, pytest.mark.redis,
              pytest.mark.parametrize("migrated_template", ["sqlite"], indirect=True)]


@dataclass
class Sandbox:
    control: httpx.Client
    cryptocloud: Any

    def api(self, verb: str, path: str, **kwargs: Any) -> Any:
        answer = self.control.request(verb, path, **kwargs).json()
        assert answer["ok"], answer
        return answer["result"]

    def say(self, user_id: int, text: str) -> None:
        self.api("POST", f"/control/users/{user_id}/messages", json={"text": text})

    def bot_messages(self, user_id: int) -> list[dict[str, Any]]:
        chat = self.api("GET", f"/control/users/{user_id}/chat")
        return [m for m in chat["messages"] if m["direction"] == "bot_to_user"]

    def heard(self, user_id: int, part: str) -> dict[str, Any]:
        """Wait for a bot message to `user_id` containing `part`; that message."""
        found: dict[str, Any] = eventually(
            lambda: next((m for m in reversed(self.bot_messages(user_id))
                          if part in (m["text"] or "")), None),
            timeout=60, what=f"{part!r} in {user_id}'s chat")
        return found

    def buttons(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]

    def press(self, user_id: int, message: dict[str, Any], text_part: str) -> None:
        """Press the button whose label contains `text_part` on `message`."""
        [button] = [b for b in self.buttons(message) if text_part in b["text"]]
        self.api("POST", f"/control/users/{user_id}/callbacks",
                 json={"message_id": message["message_id"], "data": button["callback_data"]})

    def new_user(self, name: str) -> int:
        user_id = int(self.api("POST", "/control/users", json={"first_name": name})["id"])
        self.say(user_id, "/start")
        self.press(user_id, self.heard(user_id, "Press the button below"), "accept")
        self.heard(user_id, "Choose a plan")
        return user_id


@pytest.fixture
def sandbox(db_url: str, session_factory: sessionmaker[Session], redis_url: str,
            telegram_sandbox: Any, cryptocloud_sandbox: Any, tmp_path: Path) -> Iterator[Sandbox]:
    """Everything `make run` starts in sandbox mode (beat aside), on this test's database."""
    settings = load_settings(_env_file=None, database_url=db_url, redis_url=redis_url,
                             telegram_api_base=telegram_sandbox.base_url,
                             cryptocloud_api_base=cryptocloud_sandbox.base_url)
    with session_factory.begin() as session:
        seed_plans(session, settings)
    env = child_env(DATABASE_URL=db_url, REDIS_URL=redis_url,
                    TELEGRAM_API_BASE=telegram_sandbox.base_url,
                    CRYPTOCLOUD_API_BASE=cryptocloud_sandbox.base_url)
    gateway = create_app({"settings": settings})
    with serve_wsgi(gateway) as gateway_url, \
            celery_worker(env, tmp_path / "worker.log") as worker, \
            httpx.Client(base_url=telegram_sandbox.base_url, timeout=5) as control:
        cryptocloud_sandbox.configure(notify_url=f"{gateway_url}/cryptocloud_webhook")
        bot = subprocess.Popen([sys.executable, "-m", "bot_frontend"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            yield Sandbox(control=control, cryptocloud=cryptocloud_sandbox)
        finally:
            bot.send_signal(signal.SIGTERM)
            output, _ = bot.communicate(timeout=15)
        assert "Traceback" not in output, output[-3000:]
        assert "Traceback" not in worker.log(), worker.log()[-3000:]
    gateway.extensions["gateway"]["engine"].dispose()


def test_a_discount_by_deep_link_and_a_gift_by_the_button(sandbox: Sandbox) -> None:
    """The admin types /promo_add twice; Ann opens /start promo_SPRING, sees $8.00 on the plan
    menu, pays $8.00 at CryptoCloud and gets her invite; Bob types GIFT7 after "I have a code"
    and gets seven days and his invite without paying; /promos counts both."""
    sandbox.say(SANDBOX_ADMIN_ID, "/promo_add SPRING 20% uses=10")
    sandbox.heard(SANDBOX_ADMIN_ID, "Done: code SPRING created")
    sandbox.say(SANDBOX_ADMIN_ID, "/promo_add GIFT7 7d uses=1")
    sandbox.heard(SANDBOX_ADMIN_ID, "Done: code GIFT7 created")
    sandbox.say(SANDBOX_ADMIN_ID, "/promo_add BAD 200%")
    sandbox.heard(SANDBOX_ADMIN_ID, "“200%”: the second argument must be")

    ann = sandbox.new_user("Ann")
    sandbox.say(ann, "/start promo_spring")
    applied = sandbox.heard(ann, "Code SPRING applied")
    sandbox.press(ann, applied, texts.PLANS_BUTTON)
    menu = sandbox.heard(ann, texts.promo_menu_line(codes=["SPRING"]))
    sandbox.press(ann, menu, "$8.00 (was $10.00)")
    pay = sandbox.heard(ann, "Your invoice for 1 month: $8.00")
    [link] = [b["url"] for b in sandbox.buttons(pay) if b.get("url")]
    code = "INV-" + link.rstrip("/").rsplit("/", 1)[-1]  # the pay page is /<invoice code>
    assert sandbox.cryptocloud.invoice(code).amount_usd == Decimal("8.00")
    sandbox.cryptocloud.pay(code)
    sandbox.heard(ann, "personal invite link")

    bob = sandbox.new_user("Bob")
    menu = sandbox.heard(bob, "Choose a plan")
    sandbox.press(bob, menu, texts.PROMO_BUTTON)
    sandbox.heard(bob, texts.PROMO_ASK_CODE)
    sandbox.say(bob, "gift7")
    sandbox.heard(bob, "Code GIFT7: 7 free days added")
    sandbox.heard(bob, "personal invite link")
    sandbox.say(ann, "/start promo_GIFT7")
    sandbox.heard(ann, texts.promo_refused(code="GIFT7", text=texts.PROMO_USED_UP))

    sandbox.say(SANDBOX_ADMIN_ID, "/promos")
    listing = sandbox.heard(SANDBOX_ADMIN_ID, "SPRING: 20% off")["text"]
    assert "SPRING: 20% off · used 1/10 · on" in listing
    assert "GIFT7: 7 free days · used 1/1 · used up" in listing
