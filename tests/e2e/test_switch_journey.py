"""A plan switch through the whole sandbox: the bot process, a Celery worker, Redis, the gateway
and both stand-ins. Ann buys a month, upgrades to a year from /myplan (paying the difference at
the CryptoCloud stand-in), then downgrades to a week without paying.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from infra import texts
from infra.migrate import seed_plans
from infra.settings import load_settings
from tests.e2e.test_promo_journey import Sandbox
from tests.fixtures.processes import ROOT, celery_worker, child_env, serve_wsgi
from webhook_gateway import create_app

pytestmark = [pytest.mark.slow, pytest.mark.redis,
              pytest.mark.parametrize("migrated_template", ["sqlite"], indirect=True)]
PLANS = "month:30:10.00:1 month,week:7:3.00:1 week,year:365:100.00:1 year"


@pytest.fixture
def switch_sandbox(db_url: str, session_factory: sessionmaker[Session], redis_url: str,
                   telegram_sandbox: Any, cryptocloud_sandbox: Any,
                   tmp_path: Path) -> Iterator[Sandbox]:
    """Everything `make run` starts in sandbox mode (beat aside), selling three plans."""
    settings = load_settings(_env_file=None, database_url=db_url, redis_url=redis_url,
                             telegram_api_base=telegram_sandbox.base_url,
                             cryptocloud_api_base=cryptocloud_sandbox.base_url, plans=PLANS)
    with session_factory.begin() as session:
        seed_plans(session, settings)
    env = child_env(DATABASE_URL=db_url, REDIS_URL=redis_url, PLANS=PLANS,
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


def pay(sandbox: Sandbox, message: dict[str, Any]) -> Decimal:
    """Pay the invoice behind the message's pay button in full; its amount."""
    [link] = [b["url"] for b in sandbox.buttons(message) if b.get("url")]
    code = "INV-" + link.rstrip("/").rsplit("/", 1)[-1]  # the pay page is /<invoice code>
    amount: Decimal = sandbox.cryptocloud.invoice(code).amount_usd
    sandbox.cryptocloud.pay(code)
    return amount


def switch_to(sandbox: Sandbox, user_id: int, title: str) -> dict[str, Any]:
    """/myplan, Switch plan, the plan titled `title`: the quote shown."""
    sandbox.say(user_id, "/myplan")
    sandbox.press(user_id, sandbox.heard(user_id, "Status: "), texts.SWITCH_BUTTON)
    sandbox.press(user_id, sandbox.heard(user_id, "Switch to which plan?"), title)
    return sandbox.heard(user_id, f"to {title}")


def test_an_upgrade_paid_then_a_downgrade_for_nothing(switch_sandbox: Sandbox) -> None:
    """The year costs $100 minus the month's unused value, paid at CryptoCloud; the week then
    costs nothing and the bot says each switch happened."""
    sandbox = switch_sandbox
    ann = sandbox.new_user("Ann")
    sandbox.press(ann, sandbox.heard(ann, "Choose a plan"), "1 month")
    assert pay(sandbox, sandbox.heard(ann, "Your invoice for 1 month")) == Decimal("10.00")
    sandbox.heard(ann, "personal invite link")

    quote = switch_to(sandbox, ann, "1 year")
    assert "To pay: $90.0" in quote["text"]
    sandbox.press(ann, quote, texts.SWITCH_CONFIRM_BUTTON)
    invoice = sandbox.heard(ann, "Your invoice to switch from 1 month to 1 year")
    paid = pay(sandbox, invoice)
    assert Decimal("90.00") <= paid <= Decimal("90.01")
    sandbox.heard(ann, f"Payment of ${paid} received. Your plan is now 1 year (was 1 month)")

    quote = switch_to(sandbox, ann, "1 week")
    assert "No payment" in quote["text"]
    sandbox.press(ann, quote, texts.SWITCH_CONFIRM_BUTTON)
    sandbox.heard(ann, "Your plan is now 1 week (was 1 year)")
