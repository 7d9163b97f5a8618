"""A broadcast through the real parts, as an admin does it in the sandbox: the bot process, a
Celery worker, Redis and the Telegram stand-in; every step a message or a button press."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from infra import texts
from infra.db import create_engine, make_session_factory
from infra.migrate import migrate_and_seed
from infra.settings import load_settings
from models.schema import User
from tests.fixtures.images import png
from tests.fixtures.processes import ROOT, celery_worker, child_env
from tests.fixtures.waiting import eventually

pytestmark = [pytest.mark.slow, pytest.mark.redis]
ADMIN = 100  # the sandbox admin
CAPTION = "Summer sale: 20 % off"


class Sandbox:
    """The stand-in's control API, as the sandbox page uses it."""

    def __init__(self, control: httpx.Client) -> None:
        self.control = control

    def api(self, verb: str, path: str, **kwargs: Any) -> Any:
        answer = self.control.request(verb, path, **kwargs).json()
        assert answer["ok"], answer
        return answer["result"]

    def bot_messages(self, user_id: int) -> list[dict[str, Any]]:
        chat = self.api("GET", f"/control/users/{user_id}/chat")
        return [m for m in chat["messages"] if m["direction"] == "bot_to_user"]

    def say(self, user_id: int, text: str) -> None:
        self.api("POST", f"/control/users/{user_id}/messages", json={"text": text})

    def press(self, user_id: int, label: str) -> None:
        """Press the button labelled `label` on the bot's latest message that has it."""
        def find() -> tuple[int, str] | None:
            for message in reversed(self.bot_messages(user_id)):
                rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
                for button in (b for row in rows for b in row):
                    if button["text"] == label and "callback_data" in button:
                        return message["message_id"], button["callback_data"]
            return None

        message_id, data = eventually(find, timeout=30, what=f"the button {label!r}")
        self.api("POST", f"/control/users/{user_id}/callbacks",
                 json={"message_id": message_id, "data": data})

    def wait_for_text(self, user_id: int, start: str) -> str:
        return str(eventually(
            lambda: next((m["text"] for m in reversed(self.bot_messages(user_id))
                          if (m["text"] or "").startswith(start)), None),
            timeout=30, what=f"a message starting {start!r}"))


@pytest.fixture
def system(telegram_sandbox: Any, redis_url: str, redis_client: Any,
           tmp_path: Path) -> Iterator[tuple[Sandbox, str]]:
    """The bot (long polling) and one worker on a fresh SQLite database, sandbox settings."""
    database_url = f"sqlite:///{tmp_path / 'app.db'}"
    migrate_and_seed(load_settings(_env_file=None, database_url=database_url))
    env = child_env(DATABASE_URL=database_url, REDIS_URL=redis_url,
                    TELEGRAM_API_BASE=telegram_sandbox.base_url)
    bot_log = (tmp_path / "bot.log").open("w")
    bot = subprocess.Popen([sys.executable, "-m", "bot_frontend"], cwd=ROOT, env=env,
                           stdout=bot_log, stderr=subprocess.STDOUT)
    try:
        with celery_worker(env, tmp_path / "worker.log"), \
                httpx.Client(base_url=telegram_sandbox.base_url, timeout=5) as control:
            yield Sandbox(control), database_url
    finally:
        os.kill(bot.pid, signal.SIGTERM)
        bot.wait(timeout=15)
        bot_log.close()


def test_an_admin_broadcasts_a_photo_to_everyone(system: tuple[Sandbox, str]) -> None:
    """/broadcast → Everyone → a photo with a button line → preview → Confirm: each subscriber
    gets the photo once, the admin hears the final counts, /broadcast_status shows them."""
    sandbox, database_url = system
    people = [sandbox.api("POST", "/control/users", json={"first_name": f"P{n}"})["id"]
              for n in range(3)]
    for person in people:
        sandbox.say(person, "/start")
    engine = create_engine(database_url)
    sessions = make_session_factory(engine)

    def registered() -> bool:
        with sessions() as session:
            return session.scalar(select(func.count()).select_from(User)) == len(people)

    try:
        eventually(registered, timeout=30, what="the subscribers to be registered")
    finally:
        engine.dispose()

    sandbox.say(ADMIN, "/broadcast")
    sandbox.press(ADMIN, texts.segment_name("all"))
    sandbox.wait_for_text(ADMIN, texts.BROADCAST_ASK_MESSAGE)
    sandbox.api("POST", f"/control/users/{ADMIN}/photos", json={
        "data": base64.b64encode(png(64, 48)).decode(),
        "caption": f"{CAPTION}\nSee the offer - https://example.com/sale"})
    preview = sandbox.wait_for_text(ADMIN, "Above is the message")
    assert "Recipients now: 3" in preview
    [shown] = [m for m in sandbox.bot_messages(ADMIN) if m.get("photo")]
    assert shown["caption"] == CAPTION
    sandbox.press(ADMIN, texts.CONFIRM_BUTTON)

    report = sandbox.wait_for_text(ADMIN, "Broadcast #1 finished")
    assert "sent 3, failed 0, blocked 0, left 0 (of 3)" in report
    for person in people:
        photos = [m for m in sandbox.bot_messages(person) if m.get("photo")]
        assert [m["caption"] for m in photos] == [CAPTION]
        [[button]] = photos[0]["reply_markup"]["inline_keyboard"]
        assert (button["text"], button["url"]) == ("See the offer", "https://example.com/sale")
    sandbox.say(ADMIN, "/broadcast_status")
    status = sandbox.wait_for_text(ADMIN, "#1 done")
    assert "sent 3" in status
