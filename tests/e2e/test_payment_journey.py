"""Payments through real parts: Redis, a Celery worker process, the gateway over HTTP, and both
stand-ins. A payment made at the CryptoCloud stand-in must end as an invite link in the user's
Telegram chat, exactly once, whatever the network does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.celery_config import create_celery
from infra.embedded_redis import EmbeddedRedis, free_port
from infra.migrate import seed_plans
from infra.settings import Settings, load_settings
from models.schema import (
    AccessHistory,
    CommissionEntry,
    InviteLink,
    Invoice,
    PaymentEvent,
    Referral,
    Referrer,
    TelegramEffect,
    User,
)
from tests.fixtures import postbacks
from tests.fixtures.processes import (
    broker_backlog,
    celery_beat,
    celery_worker,
    child_env,
    serve_wsgi,
    tasks_succeeded,
)
from tests.fixtures.secrets import SANDBOX_SECRETS, assert_no_secrets
from tests.fixtures.waiting import eventually
from webhook_gateway import create_app

pytestmark = [pytest.mark.slow, pytest.mark.redis]

SUBSCRIBER, REFERRER = 5001, 5002




class Journey:
    """Everything one journey needs, wired together."""

    def __init__(self, *, settings: Settings, sessions: sessionmaker[Session], telegram: Any,
                 cryptocloud: Any, gateway_url: str) -> None:
        self.settings, self.sessions = settings, sessions
        self.telegram, self.cryptocloud, self.gateway_url = telegram, cryptocloud, gateway_url
        self.producer = create_celery(settings, main="e2e-producer")
        self.control = httpx.Client(base_url=telegram.base_url, timeout=5.0)

    worker_log: Callable[[], str] = staticmethod(lambda: "")  # set once the worker runs

    def log_events(self, event: str) -> list[dict[str, Any]]:
        """The worker's structured log lines for one event name."""
        lines = (line for line in self.worker_log().splitlines() if line.startswith("{"))
        return [entry for entry in map(json.loads, lines) if entry.get("event") == event]

    def close(self) -> None:
        self.control.close()
        self.producer.close()

    def user_messages(self, user_id: int = SUBSCRIBER) -> list[dict[str, Any]]:
        found = self.control.get("/control/messages", params={"chat_id": user_id}).json()
        return [m for m in found["result"] if m["direction"] == "bot_to_user"]

    def calls(self, method: str) -> list[dict[str, Any]]:
        return list(self.control.get("/control/calls", params={"method": method}).json()["result"])

    def checkout(self, request_key: str = "tap-1") -> Invoice:
        """Tap "pay" (a fresh `request_key` for each new invoice); the invoice it made."""
        before = self.count(Invoice)
        self.producer.send_task(task_names.CHECKOUT, args=[SUBSCRIBER, "month", request_key])

        def stored() -> Invoice | None:
            with self.sessions() as session:
                return session.scalar(select(Invoice).where(Invoice.pay_link.is_not(None))
                                      .order_by(Invoice.id).offset(before))

        invoice = eventually(stored, what="the invoice to be created")
        link = str(invoice.pay_link)
        eventually(lambda: any(link in str(m) for m in self.user_messages()),
                   what="the pay link in the user's chat")
        return invoice

    def invite_messages(self) -> list[dict[str, Any]]:
        return [m for m in self.user_messages() if "invite link" in str(m.get("text"))]

    def count(self, model: Any, *where: Any) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    def activations(self) -> int:
        return self.count(AccessHistory, AccessHistory.action == "payment_activated")

    def settled(self) -> bool:
        """Nothing left that could still act, so nothing more can happen: every payment event
        processed, every Telegram effect done, no task queued or held by a worker."""
        return not (self.count(PaymentEvent, PaymentEvent.processed_at.is_(None))
                    or self.count(TelegramEffect, TelegramEffect.status == "pending")
                    or broker_backlog(self.settings.broker_url))


def prepare(*, db_url: str, broker: str, sessions: sessionmaker[Session], telegram: Any,
            cryptocloud: Any) -> Settings:
    """Settings pointing at the stand-ins, plans seeded, a subscriber known to both sides."""
    settings = load_settings(
        _env_file=None, database_url=db_url, redis_url=broker,
        telegram_api_base=telegram.base_url, cryptocloud_api_base=cryptocloud.base_url,
    )
    with sessions.begin() as session:
        seed_plans(session, settings)
        now = datetime.now(UTC)
        session.add(User(id=SUBSCRIBER, first_name="Ann", created_at=now, terms_accepted_at=now))
    with httpx.Client(base_url=telegram.base_url, timeout=5.0) as control:
        control.post("/control/users", json={"id": SUBSCRIBER, "first_name": "Ann"}
                     ).raise_for_status()
        control.post(f"/control/users/{SUBSCRIBER}/messages", json={"text": "/start"}
                     ).raise_for_status()
    return settings


@pytest.fixture
def journey(
    db_url: str, session_factory: sessionmaker[Session], redis_url: str, telegram_sandbox: Any,
    cryptocloud_sandbox: Any, tmp_path: Path,
) -> Iterator[Journey]:
    """Seeded database, a subscriber known to both sides, gateway served, worker running."""
    settings = prepare(db_url=db_url, broker=redis_url, sessions=session_factory,
                       telegram=telegram_sandbox, cryptocloud=cryptocloud_sandbox)
    gateway = create_app({"settings": settings})
    with serve_wsgi(gateway) as gateway_url:
        cryptocloud_sandbox.configure(notify_url=f"{gateway_url}/cryptocloud_webhook")
        env = child_env(DATABASE_URL=db_url, REDIS_URL=redis_url,
                        TELEGRAM_API_BASE=telegram_sandbox.base_url,
                        CRYPTOCLOUD_API_BASE=cryptocloud_sandbox.base_url)
        with celery_worker(env, tmp_path / "worker.log") as worker:
            journey = Journey(settings=settings, sessions=session_factory,
                              telegram=telegram_sandbox, cryptocloud=cryptocloud_sandbox,
                              gateway_url=gateway_url)
            journey.worker_log = worker.log
            try:
                yield journey
            finally:
                journey.close()
            assert "Traceback" not in worker.log(), worker.log()[-3000:]
            # The run uses the sandbox's credentials where production has its own: the same
            # code paths must not print them (a Bot API URL carries the token, for one).
            assert_no_secrets(worker.log(), env, generated=SANDBOX_SECRETS)
    gateway.extensions["gateway"]["engine"].dispose()


def test_a_signed_postback_ends_with_the_invite_link_in_the_users_chat(journey: Journey) -> None:
    """checkout → pay at CryptoCloud → postback → worker → invite link DMed, once."""
    invoice = journey.checkout()
    journey.cryptocloud.pay(f"INV-{invoice.uuid}")
    invites = eventually(journey.invite_messages, what="the invite link message")
    assert [call["status"] for call in journey.calls("createChatInviteLink")] == [200]
    with journey.sessions() as session:
        link = session.scalars(select(InviteLink.link)).one()
    assert link in str(invites[0])
    assert journey.activations() == 1
    # The payment path's log lines carry the invoice and the task that processed it.
    [processed] = journey.log_events("payment_event_processed")
    assert processed["invoice_uuid"] == invoice.uuid
    assert (processed["invoice_id"], processed["user_id"]) == (invoice.id, SUBSCRIBER)
    assert processed["task"] == task_names.PROCESS_PAYMENT_EVENT and processed["task_id"]


def test_each_invite_opens_with_payment_received(journey: Journey) -> None:
    """Five payments, worker concurrency 2: each brings one message, "Payment received" first
    and its invite after, never a confirmation apart from its invite."""
    for n in range(5):
        invoice = journey.checkout(f"tap-order-{n}")
        journey.cryptocloud.pay(f"INV-{invoice.uuid}")
        invites = n + 1
        eventually(lambda: len(journey.invite_messages()) >= invites,  # noqa: B023 - awaited here
                   what=f"invite {invites}")
    eventually(journey.settled, what="every effect to be done")
    said = [str(m.get("text")) for m in journey.user_messages()]
    after_payment = [text for text in said
                     if text.startswith("Payment received") or "personal invite link" in text]
    assert len(after_payment) == 5, after_payment
    for text in after_payment:
        received, invite = text.split("\n", 1)
        assert received.startswith("Payment received") and "personal invite link" in invite


def test_the_same_postback_three_times_activates_once(journey: Journey) -> None:
    """Resent postbacks (any order, fresh tokens): one activation, one commission, one link."""
    with journey.sessions.begin() as session:
        now = datetime.now(UTC)
        session.add(User(id=REFERRER, first_name="Ref", created_at=now))
        session.flush()
        session.add(Referrer(user_id=REFERRER, pct=Decimal("10"), created_at=now,
                             updated_at=now))
        session.flush()
        session.add(Referral(referred_user_id=SUBSCRIBER, referrer_id=REFERRER, created_at=now))
    invoice = journey.checkout()
    journey.cryptocloud.pay(f"INV-{invoice.uuid}")
    journey.cryptocloud.resend_postback(f"INV-{invoice.uuid}")
    journey.cryptocloud.resend_postback(f"INV-{invoice.uuid}")
    eventually(journey.invite_messages, what="the invite link message")
    eventually(lambda: len(journey.cryptocloud.deliveries) >= 3, what="three deliveries")
    eventually(journey.settled, what="every delivery's work to finish")
    assert journey.activations() == 1
    assert journey.count(CommissionEntry) == 1
    assert len(journey.calls("createChatInviteLink")) == 1
    assert len(journey.invite_messages()) == 1


def test_partial_then_top_up_activates_once(journey: Journey) -> None:
    """Part paid (seen by the poll): the user hears the exact remainder; the top-up activates."""
    invoice = journey.checkout()
    uuid = f"INV-{invoice.uuid}"
    journey.cryptocloud.pay(uuid, amount=Decimal("4.00"))
    journey.producer.send_task(task_names.POLL_PENDING_INVOICES)
    eventually(lambda: any("$6.00 is still missing" in str(m.get("text"))
                           for m in journey.user_messages()), what="the remainder message")
    assert journey.activations() == 0
    journey.cryptocloud.pay(uuid, amount=Decimal("6.00"))
    eventually(journey.invite_messages, what="the invite after the top-up")
    journey.producer.send_task(task_names.POLL_PENDING_INVOICES)  # a late poll changes nothing
    eventually(lambda: tasks_succeeded(journey.worker_log(), task_names.POLL_PENDING_INVOICES)
               >= 2, what="the late poll to run")
    eventually(journey.settled, what="the late poll's work to finish")
    assert journey.activations() == 1


def test_a_postback_never_sent_is_found_by_the_poll_within_one_interval(
    journey: Journey, tmp_path: Path
) -> None:
    """CryptoCloud drops the postback; beat's poll (every 3 s here) activates the payment."""
    journey.cryptocloud.configure(drop=True)
    invoice = journey.checkout()
    journey.cryptocloud.pay(f"INV-{invoice.uuid}")
    env = child_env(DATABASE_URL=journey.settings.database_url,
                    REDIS_URL=journey.settings.broker_url, POLL_INTERVAL_SECONDS="5")
    with celery_beat(env, tmp_path / "beat.log"):
        eventually(journey.invite_messages, timeout=20, what="the poll to activate")
    assert journey.count(PaymentEvent, PaymentEvent.source == "postback") == 0
    assert journey.count(PaymentEvent, PaymentEvent.source == "poll") == 1
    assert journey.activations() == 1


@pytest.mark.parametrize(
    "mint",
    [
        lambda: postbacks.token("AB12CD34", key="x" * 40),
        lambda: postbacks.token("AB12CD34", exp_in=-600),
        lambda: postbacks.unsigned_token("AB12CD34"),
    ],
    ids=["wrong-key", "expired", "alg-none"],
)
def test_forged_postbacks_are_refused_over_http(
    journey: Journey, mint: Callable[[], str]
) -> None:
    """Forged tokens get 401 over real HTTP and nothing is recorded or activated."""
    answer = httpx.post(f"{journey.gateway_url}/cryptocloud_webhook",
                        data=postbacks.fields("AB12CD34", tok=mint()), timeout=5.0)
    assert answer.status_code == 401
    assert journey.count(AccessHistory) == 0


def test_redis_down_at_ingress_loses_nothing(
    db_url: str, session_factory: sessionmaker[Session], telegram_sandbox: Any,
    cryptocloud_sandbox: Any, tmp_path: Path,
) -> None:
    """Redis stopped: the postback still gets a durable 200; once Redis is back, one activation.

    The broker is a Redis of this test's own, stopped while CryptoCloud delivers the postback
    (so the gateway cannot queue); the inbox relay, run by beat, queues it when Redis returns.
    """
    redis = EmbeddedRedis(port=free_port(), data_dir=tmp_path / "redis", appendonly=False)
    broker = redis.start()
    settings = prepare(db_url=db_url, broker=broker, sessions=session_factory,
                       telegram=telegram_sandbox, cryptocloud=cryptocloud_sandbox)
    env = child_env(DATABASE_URL=db_url, REDIS_URL=broker,
                    TELEGRAM_API_BASE=telegram_sandbox.base_url,
                    CRYPTOCLOUD_API_BASE=cryptocloud_sandbox.base_url,
                    RELAY_INTERVAL_SECONDS="2", RELAY_AFTER_SECONDS="1")
    gateway = create_app({"settings": settings})
    try:
        with serve_wsgi(gateway) as gateway_url:
            cryptocloud_sandbox.configure(notify_url=f"{gateway_url}/cryptocloud_webhook")
            journey = Journey(settings=settings, sessions=session_factory,
                              telegram=telegram_sandbox, cryptocloud=cryptocloud_sandbox,
                              gateway_url=gateway_url)
            try:
                with celery_worker(env, tmp_path / "worker1.log"):
                    invoice = journey.checkout()
                redis.stop()
                journey.cryptocloud.pay(f"INV-{invoice.uuid}")
                delivered = journey.cryptocloud.wait_for_deliveries(1, timeout=15)
                assert delivered[0].status_code == 200
                assert journey.count(PaymentEvent) == 1
                redis.start()
                with celery_worker(env, tmp_path / "worker2.log") as worker, \
                        celery_beat(env, tmp_path / "beat.log"):
                    eventually(journey.invite_messages, timeout=30,
                               what="the relayed event to be processed")
                    relays = tasks_succeeded(worker.log(), task_names.RELAY_PAYMENT_INBOX)
                    # Two further relay rounds, and all they started, must change nothing.
                    eventually(lambda: tasks_succeeded(worker.log(), task_names.RELAY_PAYMENT_INBOX)
                               >= relays + 2, timeout=15, what="two more relay rounds")
                    eventually(journey.settled, timeout=60,
                               what="the relay rounds' work to finish")
                assert journey.activations() == 1
                assert len(journey.invite_messages()) == 1
            finally:
                journey.close()
    finally:
        gateway.extensions["gateway"]["engine"].dispose()
        redis.stop()
