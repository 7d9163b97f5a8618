"""The membership audit through the whole sandbox: the bot process, a Celery worker, Redis and
the Telegram stand-in. The channel's owner makes it drift by hand; the admin types /audit and
gets the summary and the CSV, then /audit fix, which removes and re-invites.
"""

from __future__ import annotations

import csv
import io
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from infra.migrate import seed_plans
from infra.settings import SANDBOX_ADMIN_ID, load_settings
from tests.fixtures.processes import ROOT, celery_worker, child_env
from tests.fixtures.waiting import eventually

pytestmark = [pytest.mark.slow, pytest.mark.redis,
              pytest.mark.parametrize("migrated_template", ["sqlite"], indirect=True)]


@dataclass
class Sandbox:
    control: httpx.Client

    def api(self, verb: str, path: str, **kwargs: Any) -> Any:
        answer = self.control.request(verb, path, **kwargs).json()
        assert answer["ok"], answer
        return answer["result"]

    def say(self, user_id: int, text: str) -> None:
        self.api("POST", f"/control/users/{user_id}/messages", json={"text": text})

    def bot_messages(self, user_id: int) -> list[dict[str, Any]]:
        chat = self.api("GET", f"/control/users/{user_id}/chat")
        return [m for m in chat["messages"] if m["direction"] == "bot_to_user"]

    def heard(self, user_id: int, part: str, *, after: int = 0) -> dict[str, Any]:
        """Wait for a bot message to `user_id` (past the first `after`) containing `part`."""
        found: dict[str, Any] = eventually(
            lambda: next((m for m in self.bot_messages(user_id)[after:]
                          if part in (m["text"] or "") or part in (m["caption"] or "")), None),
            timeout=60, what=f"{part!r} in {user_id}'s chat")
        return found

    def press(self, user_id: int, message: dict[str, Any], text_part: str) -> None:
        rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        [button] = [b for row in rows for b in row if text_part in b["text"]]
        self.api("POST", f"/control/users/{user_id}/callbacks",
                 json={"message_id": message["message_id"], "data": button["callback_data"]})

    def new_user(self, name: str) -> int:
        user_id = int(self.api("POST", "/control/users", json={"first_name": name})["id"])
        self.say(user_id, "/start")
        self.press(user_id, self.heard(user_id, "Press the button below"), "accept")
        self.heard(user_id, "Choose a plan")
        return user_id

    def standing(self, user_id: int) -> str:
        return str(self.api("GET", f"/control/users/{user_id}/chat")["user"]["channel_status"])


@pytest.fixture
def sandbox(db_url: str, session_factory: sessionmaker[Session], redis_url: str,
            telegram_sandbox: Any, tmp_path: Path) -> Iterator[Sandbox]:
    """The bot process and a worker on the Telegram stand-in and this test's database."""
    settings = load_settings(_env_file=None, database_url=db_url, redis_url=redis_url,
                             telegram_api_base=telegram_sandbox.base_url)
    with session_factory.begin() as session:
        seed_plans(session, settings)
    env = child_env(DATABASE_URL=db_url, REDIS_URL=redis_url,
                    TELEGRAM_API_BASE=telegram_sandbox.base_url)
    with celery_worker(env, tmp_path / "worker.log") as worker, \
            httpx.Client(base_url=telegram_sandbox.base_url, timeout=5) as control:
        bot = subprocess.Popen([sys.executable, "-m", "bot_frontend"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            yield Sandbox(control=control)
        finally:
            bot.send_signal(signal.SIGTERM)
            output, _ = bot.communicate(timeout=15)
        assert "Traceback" not in output, output[-3000:]
        assert "Traceback" not in worker.log(), worker.log()[-3000:]


def test_the_admin_audits_a_drifted_channel_and_fixes_it(sandbox: Sandbox) -> None:
    """Ann never paid but the owner added her by hand; Bob's trial runs but he never joined:
    /audit reports both (summary and CSV), /audit fix removes Ann and re-invites Bob."""
    ann, bob = sandbox.new_user("Ann"), sandbox.new_user("Bob")
    sandbox.api("POST", f"/control/users/{ann}/standing", json={"status": "member"})
    sandbox.press(bob, sandbox.heard(bob, "Choose a plan"), "trial")
    sandbox.heard(bob, "personal invite link")
    invites_before = len(sandbox.bot_messages(bob))

    sandbox.say(SANDBOX_ADMIN_ID, "/audit")
    summary = sandbox.heard(SANDBOX_ADMIN_ID, "Audit #1 finished")["text"]
    assert "members without access: 1; payers not in the chat: 1; admins: 1." in summary
    document = eventually(lambda: next((m["document"] for m in sandbox.bot_messages(
        SANDBOX_ADMIN_ID) if m.get("document")), None), timeout=30, what="the CSV")
    data = sandbox.control.get(document["download_url"]).text
    rows = {int(r["user_id"]): r["finding"] for r in csv.DictReader(io.StringIO(data))}
    assert rows == {SANDBOX_ADMIN_ID: "admin", ann: "member_without_access",
                    bob: "payer_not_in_chat"}

    sandbox.say(SANDBOX_ADMIN_ID, "/audit fix")
    fixed = sandbox.heard(SANDBOX_ADMIN_ID, "Audit #1 fix:")["text"]
    assert fixed.startswith("Audit #1 fix: 1 removed, 1 invited")
    assert sandbox.standing(ann) == "left"
    sandbox.heard(bob, "personal invite link", after=invites_before)
