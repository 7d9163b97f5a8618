"""A bundle's grant across a SIGKILLed worker: exactly one invite per chat (real Celery worker,
real Redis and PostgreSQL, the Telegram stand-in)."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.celery_config import create_celery
from infra.cryptocloud import InvoiceState
from infra.migrate import seed_plans
from infra.settings import SANDBOX_BUNDLE_CHAT_ID, SANDBOX_CHANNEL_ID, load_settings
from models.outbox import GRANT_ACCESS
from models.schema import InviteLink, Invoice, Plan, TelegramEffect, User
from tests.fixtures.processes import ChildProcess, child_env, worker_command
from tests.fixtures.waiting import eventually
from workers.payments.service import Outcome, settle_invoice

SUBSCRIBER = 8201
PLANS = "month:30:10.00:1 month,vip:30:25.00:VIP"
PLAN_CHATS = f"vip={SANDBOX_CHANNEL_ID},{SANDBOX_BUNDLE_CHAT_ID}"
LEASE = 3  # seconds (EFFECT_RELAY_AFTER_SECONDS); production waits 60


def grant_effects(sessions: sessionmaker[Session]) -> dict[int, tuple[int, str]]:
    """chat id -> (effect id, status) of the payment's grants."""
    with sessions() as session:
        return {json.loads(effect.request or "{}")["chat_id"]: (effect.id, effect.status)
                for effect in session.scalars(select(TelegramEffect).where(
                    TelegramEffect.method == GRANT_ACCESS))}


def pay_vip(sessions: sessionmaker[Session]) -> None:
    """The vip invoice, paid: one transaction writes the access and a grant per chat."""
    now = datetime.now(UTC)
    with sessions.begin() as session:
        session.add(User(id=SUBSCRIBER, first_name="Ann", created_at=now, terms_accepted_at=now))
        session.flush()
        vip = session.scalars(select(Plan.id).where(Plan.code == "vip")).one()
        session.add(Invoice(uuid="BUNDLE1", order_id="order-bundle-1", user_id=SUBSCRIBER,
                            plan_id=vip, amount_usd=Decimal("25.00"), created_at=now))
    with sessions.begin() as session:
        settled = settle_invoice(session, state=InvoiceState(
            uuid="BUNDLE1", status="paid", order_id="order-bundle-1",  # type: ignore[arg-type]
            amount_usd=Decimal("25.00"), paid_usd=Decimal("25.00"), currency="USD",
            expires_at=None, test_mode=True), now=now, admins=frozenset())
    assert settled.outcome is Outcome.ACTIVATED


@pytest.mark.slow
@pytest.mark.redis
def test_a_bundle_grant_across_a_worker_kill_sends_one_invite_per_chat(
        db_url: str, session_factory: sessionmaker[Session], redis_client: Any,
        redis_url: str, telegram_sandbox: Any, tmp_path: Path) -> None:
    """SIGKILL while the second chat's link is being made: a new worker finishes; one each."""
    if db_url.startswith("sqlite"):
        pytest.skip("the kill is run on PostgreSQL, as the brief's deployment at scale")
    redis_client.flushdb()
    settings = load_settings(_env_file=None, database_url=db_url, redis_url=redis_url,
                             plans=PLANS, plan_chats=PLAN_CHATS)
    with session_factory.begin() as session:
        seed_plans(session, settings)
    base = telegram_sandbox.base_url
    with httpx.Client(base_url=base, timeout=5.0) as control:
        control.post("/control/users", json={"id": SUBSCRIBER, "first_name": "Ann"}
                     ).raise_for_status()
        control.post(f"/control/users/{SUBSCRIBER}/messages", json={"text": "/start"}
                     ).raise_for_status()
        # The channel's link hangs: the worker is killed while making it.
        control.post("/control/faults", json={"method": "createChatInviteLink",
                                              "chat_id": SANDBOX_CHANNEL_ID,
                                              "latency_seconds": 30}).raise_for_status()
    pay_vip(session_factory)
    effects = grant_effects(session_factory)
    assert set(effects) == {SANDBOX_CHANNEL_ID, SANDBOX_BUNDLE_CHAT_ID}

    env = child_env(DATABASE_URL=db_url, REDIS_URL=redis_url, TELEGRAM_API_BASE=base,
                    PLANS=PLANS, PLAN_CHATS=PLAN_CHATS, EFFECT_RELAY_AFTER_SECONDS=str(LEASE))
    producer = create_celery(settings, main="producer")
    first = ChildProcess(worker_command(concurrency=1), env, tmp_path / "first.log")
    second = ChildProcess(worker_command(concurrency=1), env, tmp_path / "second.log")
    try:
        first.start()
        producer.send_task(task_names.GRANT_INVITE,
                           args=[effects[SANDBOX_BUNDLE_CHAT_ID][0]])
        eventually(lambda: grant_effects(session_factory)[SANDBOX_BUNDLE_CHAT_ID][1] == "done",
                   timeout=30, what="the group's invite")
        producer.send_task(task_names.GRANT_INVITE, args=[effects[SANDBOX_CHANNEL_ID][0]])
        time.sleep(3)  # inside the hanging createChatInviteLink
        assert first.process is not None
        os.killpg(first.process.pid, signal.SIGKILL)  # the whole worker, as a power loss
        first.process.wait()
        assert grant_effects(session_factory)[SANDBOX_CHANNEL_ID][1] != "done"
        with httpx.Client(base_url=base, timeout=5.0) as control:
            control.delete("/control/faults").raise_for_status()

        second.start()

        deadline = time.monotonic() + 60
        while any(status != "done" for _, status in grant_effects(session_factory).values()):
            assert time.monotonic() < deadline, "both grants done: timed out"
            producer.send_task(task_names.RELAY_PAYMENT_INBOX)  # beat's relay, a round
            time.sleep(2)
    finally:
        producer.close()
        second.stop()
        first.stop()

    with httpx.Client(base_url=base, timeout=5.0) as control:
        calls = control.get("/control/calls", params={"method": "sendMessage"}).json()["result"]
    texts = [call["params"].get("text", "") for call in calls]
    with session_factory() as session:
        links = session.execute(select(InviteLink.chat_id, InviteLink.link)).all()
    for chat_id in (SANDBOX_CHANNEL_ID, SANDBOX_BUNDLE_CHAT_ID):
        own = [link for chat, link in links if chat == chat_id]
        sent = [text for text in texts if any(link in text for link in own)]
        assert len(sent) == 1, (chat_id, own, texts)
