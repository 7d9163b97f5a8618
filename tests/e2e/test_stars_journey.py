"""Telegram Stars through the whole sandbox: the bot process, a Celery worker, real Redis, the
database, and the Telegram stand-in's page. Ann taps the Stars price, presses Pay on the
invoice; Telegram delivers the payment twice; she gets one invite. The admin types /refund
twice: one refund at Telegram, her days taken back once.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from infra import texts
from infra.migrate import seed_plans
from infra.settings import SANDBOX_ADMIN_ID, load_settings
from models.schema import AccessHistory, PaymentEvent, StarPayment
from tests.fixtures.processes import ROOT, celery_worker, child_env
from tests.fixtures.waiting import eventually

pytestmark = [pytest.mark.slow, pytest.mark.redis,
              pytest.mark.parametrize("migrated_template", ["sqlite", "postgresql"],
                                      indirect=True)]
PLANS = "month:30:10.00/250:1 month"


@dataclass
class Page:
    """What a person does on the stand-in's page, through the control API it calls."""

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

    def heard(self, user_id: int, part: str) -> dict[str, Any]:
        found: dict[str, Any] = eventually(
            lambda: next((m for m in reversed(self.bot_messages(user_id))
                          if part in (m["text"] or "")), None),
            timeout=60, what=f"{part!r} in {user_id}'s chat")
        return found

    def count(self, user_id: int, part: str) -> int:
        return sum(part in (m["text"] or "") for m in self.bot_messages(user_id))

    def press(self, user_id: int, message: dict[str, Any], text_part: str) -> None:
        rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        [button] = [b for row in rows for b in row if text_part in b["text"]]
        self.api("POST", f"/control/users/{user_id}/callbacks",
                 json={"message_id": message["message_id"], "data": button["callback_data"]})

    def invoice(self, user_id: int) -> dict[str, Any]:
        found: dict[str, Any] = eventually(
            lambda: next((m for m in self.bot_messages(user_id) if m["invoice"]), None),
            timeout=60, what=f"an invoice in {user_id}'s chat")
        return found

    def refund_calls(self) -> int:
        calls = self.api("GET", "/control/calls")
        return sum(call["method"] == "refundStarPayment" for call in calls)


@pytest.fixture
def page(db_url: str, session_factory: sessionmaker[Session], redis_url: str,
         telegram_sandbox: Any, cryptocloud_sandbox: Any, tmp_path: Path) -> Iterator[Page]:
    """The bot and a worker on this test's database and a real Redis, Telegram stand-in."""
    settings = load_settings(_env_file=None, database_url=db_url, redis_url=redis_url,
                             telegram_api_base=telegram_sandbox.base_url,
                             cryptocloud_api_base=cryptocloud_sandbox.base_url, plans=PLANS)
    with session_factory.begin() as session:
        seed_plans(session, settings)
    env = child_env(DATABASE_URL=db_url, REDIS_URL=redis_url, PLANS=PLANS,
                    TELEGRAM_API_BASE=telegram_sandbox.base_url,
                    CRYPTOCLOUD_API_BASE=cryptocloud_sandbox.base_url)
    with celery_worker(env, tmp_path / "worker.log") as worker, \
            httpx.Client(base_url=telegram_sandbox.base_url, timeout=5) as control:
        bot = subprocess.Popen([sys.executable, "-m", "bot_frontend"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            yield Page(control=control)
        finally:
            bot.send_signal(signal.SIGTERM)
            output, _ = bot.communicate(timeout=15)
        assert "Traceback" not in output, output[-3000:]
        assert "Traceback" not in worker.log(), worker.log()[-3000:]


def test_pay_in_stars_twice_delivered_then_refund_twice(
    page: Page, session_factory: sessionmaker[Session],
) -> None:
    """One Pay press, successful_payment delivered twice: one activation, one invite. /refund
    twice: one refundStarPayment, one refund in the history, Ann told once."""
    ann = int(page.api("POST", "/control/users", json={"first_name": "Ann"})["id"])
    page.say(ann, "/start")
    page.press(ann, page.heard(ann, "Press the button below"), "accept")
    menu = page.heard(ann, "Choose a plan")
    page.press(ann, menu, texts.stars(250))
    invoice = page.invoice(ann)
    assert invoice["invoice"]["total_amount"] == 250

    page.api("POST", "/control/stars", json={"duplicate_payments": True})
    page.api("POST", f"/control/users/{ann}/pay", json={"message_id": invoice["message_id"]})
    page.heard(ann, "personal invite link")
    eventually(lambda: page.count(ann, texts.STARS_PAYMENT_RECEIVED) == 2, timeout=30,
               what="the bot's two acknowledgements")
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(StarPayment)) == 1
        assert session.scalar(select(func.count()).select_from(PaymentEvent)) == 1
        assert session.scalar(select(func.count()).select_from(AccessHistory).where(
            AccessHistory.action == "payment_activated")) == 1
    assert page.count(ann, "personal invite link") == 1

    page.say(SANDBOX_ADMIN_ID, f"/refund {ann}")
    page.heard(SANDBOX_ADMIN_ID, "Refunded 250 Stars")
    page.say(SANDBOX_ADMIN_ID, f"/refund {ann}")
    page.heard(SANDBOX_ADMIN_ID, texts.admin_refund_already(user_id=ann))
    page.heard(ann, "was refunded")
    assert page.refund_calls() == 1
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(AccessHistory).where(
            AccessHistory.action == "stars_refunded")) == 1
    assert [m["payment_state"] for m in page.bot_messages(ann) if m["invoice"]] == ["paid"]
