"""A real Celery worker SIGKILLed in the middle of a broadcast, then a Resume: nobody gets the
message twice and every recipient ends in a final state (real Redis, the Telegram stand-in
over HTTP, SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.celery_config import create_celery
from infra.migrate import seed_plans
from infra.sandbox.telegram.people import add_started_users
from infra.settings import load_settings
from models.schema import Broadcast, BroadcastRecipient, User
from tests.fixtures.processes import ChildProcess, child_env, worker_command
from tests.fixtures.waiting import eventually

ADMIN = 100
FIRST = 970_000_000
RECIPIENTS = 240
CONCURRENCY = 2
TEXT = "Flash sale: 20 % off until Sunday"


def status_of(sessions: sessionmaker[Session], user_id: int) -> str | None:
    with sessions() as session:
        return session.scalar(select(BroadcastRecipient.status).where(
            BroadcastRecipient.user_id == user_id))


def count(sessions: sessionmaker[Session], *statuses: str) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(BroadcastRecipient).where(
            BroadcastRecipient.status.in_(statuses))) or 0)


def delivered(world: Any, user_id: int) -> int:
    """Copies of the broadcast in the user's chat, as the stand-in recorded them."""
    with world.lock:
        chat = world.private_chat(world.default_bot.id, user_id)
        return sum(1 for m in chat.messages if m.from_bot and m.text == TEXT)


@pytest.mark.slow
@pytest.mark.redis
def test_a_broadcast_survives_a_sigkill_and_a_resume_without_doubles(
        db_url: str, session_factory: sessionmaker[Session], redis_client: Any,
        redis_url: str, telegram_sandbox: Any, tmp_path: Path) -> None:
    """Kill the whole worker a third of the way in, while Telegram is accepting one message it
    has not answered yet; a new worker and Resume finish the rest: that recipient ends
    unconfirmed with the one copy they got, each recipient has at most one copy, the sent ones
    exactly one, none is left open, and at most one per worker slot is unconfirmed."""
    redis_client.flushdb()
    users = list(range(FIRST, FIRST + RECIPIENTS))
    add_started_users(telegram_sandbox.world, users)
    # Telegram is slow to answer for this one: the kill lands after the request left.
    in_flight = users[RECIPIENTS // 3]
    httpx.post(f"{telegram_sandbox.base_url}/control/faults", timeout=5.0, json={
        "method": "sendMessage", "user_id": in_flight, "latency_seconds": 3.0,
    }).raise_for_status()
    now = datetime.now(UTC)
    with session_factory.begin() as session:  # a worker refuses a catalogue out of line
        seed_plans(session, load_settings(_env_file=None, database_url=db_url))
        session.execute(insert(User), [{"id": u, "first_name": f"u{u}", "created_at": now}
                                       for u in users])
    env = child_env(DATABASE_URL=db_url, REDIS_URL=redis_url,
                    TELEGRAM_API_BASE=telegram_sandbox.base_url, ADMIN_IDS=str(ADMIN),
                    EFFECT_RELAY_AFTER_SECONDS="3", TELEGRAM_RATE_PER_SEC="40")
    producer = create_celery(load_settings(_env_file=None, database_url=db_url,
                                           redis_url=redis_url), main="producer")
    command = worker_command(concurrency=CONCURRENCY)
    first = ChildProcess(command, env, tmp_path / "first.log")
    second = ChildProcess(command, env, tmp_path / "second.log")
    try:
        first.start()
        producer.send_task(task_names.BROADCAST_START, args=[
            {"actor_id": ADMIN, "text": "/broadcast", "request_key": "sigkill"},
            {"segment": "all", "days": None, "text": TEXT, "photo": None, "buttons": []}])
        eventually(lambda: status_of(session_factory, in_flight) == "sending", timeout=30,
                   what="the message to the slow recipient to be on its way")
        time.sleep(1.0)  # claimed, then (within its bulk token's wait) sent: now in flight
        assert first.process is not None
        os.killpg(first.process.pid, signal.SIGKILL)  # the whole worker, as a power loss
        first.process.wait()
        at_kill = count(session_factory, "sent", "sending")
        assert at_kill < RECIPIENTS

        second.start()
        with session_factory() as session:
            broadcast_id = session.scalar(select(Broadcast.id))
        producer.send_task(task_names.BROADCAST_RESUME, args=[
            {"actor_id": ADMIN, "text": "bcast_resume", "request_key": "resume-1"},
            broadcast_id])
        started = time.monotonic()
        eventually(lambda: _status(session_factory) == "done", timeout=45,
                   what="the resumed broadcast to finish")
        resumed_in = time.monotonic() - started
    finally:
        producer.close()
        second.stop()
        first.stop()

    with session_factory() as session:
        outcome = dict(session.execute(select(BroadcastRecipient.user_id,
                                              BroadcastRecipient.status)).all())
    copies = {user: delivered(telegram_sandbox.world, user) for user in users}
    assert set(outcome) == set(users)
    assert set(outcome.values()) <= {"sent", "unconfirmed"}, outcome  # all final
    assert max(copies.values()) == 1  # nobody got it twice
    assert all(copies[u] == 1 for u, status in outcome.items() if status == "sent")
    unconfirmed = [u for u, status in outcome.items() if status == "unconfirmed"]
    assert len(unconfirmed) <= CONCURRENCY
    # The message Telegram accepted as the worker died: delivered once, never repeated.
    assert (outcome[in_flight], copies[in_flight]) == ("unconfirmed", 1)
    assert resumed_in < 45


def _status(sessions: sessionmaker[Session]) -> str | None:
    with sessions() as session:
        return session.scalar(select(Broadcast.status))
