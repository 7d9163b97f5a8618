"""A payer who arrives while a bulk wave is queued is not kept behind it (issue 13, item 2).

A real worker (the Procfile's queues and order), the real broker and the Telegram stand-in over
HTTP with its flood limits on. The budget is 2 calls/s so that every token is scarce; the bound
is in tokens (calls the wave got between the payment and the invite), never in seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.celery_config import create_celery
from infra.migrate import seed_plans
from infra.sandbox.telegram import FloodLimits
from infra.sandbox.telegram.people import add_started_users
from infra.settings import SANDBOX_CHANNEL_ID, load_settings
from models import outbox
from models.schema import AccessHistory, User
from tests.fixtures.processes import ChildProcess, child_env, worker_command
from tests.fixtures.waiting import eventually
from workers.access.service import extend_access
from workers.users.service import grant

PAYER = 8201
WAVE = [8300 + index for index in range(40)]
RATE = 2  # calls/s for the whole fleet: one token every half second
# What the wave may take before the payer's invite: the tasks already running when the payer
# arrived (2), and a token in each gap where the payer has no call waiting (between its tasks).
BOUND = 8


def calls_after(world: Any, mark: int) -> list[Any]:
    with world.lock:
        return [call for call in world.calls if call.id > mark]


@pytest.mark.slow
@pytest.mark.redis
def test_a_queued_bulk_wave_does_not_delay_a_payers_invite(
        db_url: str, session_factory: sessionmaker[Session], redis_client: Any,
        redis_url: str, telegram_sandbox: Any, tmp_path: Path) -> None:
    """The payer's receipt and invite overtake a 40-message wave queued before them."""
    if not db_url.startswith("sqlite"):
        pytest.skip("one real worker run is enough")
    redis_client.flushdb()
    world = telegram_sandbox.world
    world.flood.configure(enabled=True, limits=FloodLimits())
    now = datetime.now(UTC)
    add_started_users(world, [PAYER, *WAVE])
    with session_factory.begin() as session:
        seed_plans(session, load_settings(_env_file=None, database_url=db_url))
        session.add_all(User(id=user_id, first_name="x", created_at=now, terms_accepted_at=now)
                        for user_id in [PAYER, *WAVE])
        session.flush()
        wave = [effect for user_id in WAVE for effect in outbox.queue_message(
            session, key=f"reminder:{user_id}", chat_id=user_id, text="Renew soon", now=now,
            bulk=True)]
    producer = create_celery(load_settings(_env_file=None, database_url=db_url,
                                           redis_url=redis_url), main="producer")
    worker = ChildProcess(worker_command(concurrency=2), child_env(
        DATABASE_URL=db_url, REDIS_URL=redis_url, TELEGRAM_API_BASE=telegram_sandbox.base_url,
        TELEGRAM_RATE_PER_SEC=str(RATE)), tmp_path / "worker.log")
    try:
        for effect_id, _ in wave:
            producer.send_task(task_names.SEND_BULK_MESSAGE, args=[effect_id])
        worker.start()
        eventually(lambda: len(calls_after(world, 0)) >= 3, timeout=30,
                   what="the wave to be under way")
        mark = max(call.id for call in calls_after(world, 0))
        with session_factory.begin() as session:  # a payment's effects: receipt, then invite
            change = extend_access(session, user_id=PAYER, chat_id=SANDBOX_CHANNEL_ID, days=30,
                                   now=now, plan_id=None, action="payment_activated",
                                   source="payment")
            [(receipt, _)] = outbox.queue_message(session, key="paid:1", chat_id=PAYER,
                                                  text="Payment received", now=now)
            [(invite, _)] = grant(session, key="grant:1", user_id=PAYER,
                                  chat_id=SANDBOX_CHANNEL_ID, access_id=change.access_id,
                                  now=now)
        producer.send_task(task_names.SEND_MESSAGE, args=[receipt])
        producer.send_task(task_names.GRANT_INVITE, args=[invite])

        def invited() -> int:
            with session_factory() as session:
                return int(session.scalar(select(func.count()).select_from(AccessHistory).where(
                    AccessHistory.user_id == PAYER, AccessHistory.action == "invite_sent")) or 0)

        eventually(invited, timeout=60, what="the payer's invite")
    finally:
        producer.close()
        worker.stop()
    since = calls_after(world, mark)
    last_invite = max(call.id for call in since
                      if call.method == "sendMessage" and call.params.get("chat_id") == str(PAYER))
    wave_calls = [call for call in since if call.id < last_invite
                  and int(str(call.params.get("chat_id", 0))) in WAVE]
    sent_before = len([call for call in calls_after(world, 0) if call.id <= last_invite
                       and int(str(call.params.get("chat_id", 0))) in WAVE])
    assert len(wave_calls) <= BOUND, f"the wave took {len(wave_calls)} tokens ahead of the payer"
    assert len(WAVE) - sent_before >= 20, "the wave ran out before the payer: nothing was proven"
    assert [call for call in calls_after(world, 0) if call.status == 429] == []
