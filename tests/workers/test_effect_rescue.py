"""A worker killed while holding a Telegram effect: the effect is done within seconds (item 9).

Messages a dead worker held return only after Redis's visibility timeout (30 minutes here); the
relay used to wait a fixed 10 minutes. Now a task claims its effect for a lease, and the relay
re-queues a pending effect whose claim ran out (its holder is gone) or that nobody claimed
within EFFECT_RELAY_AFTER_SECONDS.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.celery_config import create_celery
from infra.migrate import seed_plans
from infra.settings import Settings, load_settings
from models import outbox
from models.schema import TelegramEffect
from tests.fixtures.processes import ChildProcess, child_env, worker_command
from tests.fixtures.waiting import eventually
from tests.workers.harness import make_pipeline
from workers.context import use_context
from workers.payments.tasks import relay_inbox

SUBSCRIBER = 8101
LEASE = 3  # seconds (EFFECT_RELAY_AFTER_SECONDS); production waits 60


def effect_row(sessions: sessionmaker[Session], effect_id: int) -> TelegramEffect:
    with sessions() as session:
        return session.get_one(TelegramEffect, effect_id)


def new_message(sessions: sessionmaker[Session], *, now: datetime, key: str = "hello") -> int:
    with sessions.begin() as session:
        [(effect_id, _)] = outbox.queue_message(session, key=key, chat_id=SUBSCRIBER,
                                                text="Your invite", now=now)
    return effect_id


# The relay's rules, in-process ----------------------------------------------------------------

@pytest.fixture
def relay(db_url: str, engine: Any, session_factory: sessionmaker[Session]) -> Iterator[Any]:
    """The relay task on a pipeline whose queued tasks are recorded, not run."""
    ctx = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine,
                        effect_relay_after_seconds=60)
    with use_context(ctx):
        yield ctx


def requeued(ctx: Any, at: datetime, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Run the relay as if the clock read `at`; the effect ids it queued."""
    monkeypatch.setattr("workers.payments.tasks._now", lambda: at)
    ctx.queued.clear()
    relay_inbox.apply().get()
    return [args[0] for name, args in ctx.queued if name == task_names.SEND_MESSAGE]


def test_the_relay_leaves_a_live_claim_alone_and_takes_over_an_expired_one(
        relay: Any, session_factory: sessionmaker[Session],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Claimed: not re-queued until the lease ends; unclaimed: re-queued after the setting."""
    now = datetime.now(UTC)
    claimed = new_message(session_factory, now=now, key="claimed")
    unclaimed = new_message(session_factory, now=now, key="unclaimed")
    with session_factory.begin() as session:
        assert outbox.claim_effect(session, claimed, owner="task-1", now=now,
                                   lease=timedelta(seconds=200))

    assert requeued(relay, now + timedelta(seconds=59), monkeypatch) == []
    assert requeued(relay, now + timedelta(seconds=61), monkeypatch) == [unclaimed]
    # Once relayed, the unclaimed one waits another full delay before the next re-queue.
    assert requeued(relay, now + timedelta(seconds=119), monkeypatch) == []
    assert requeued(relay, now + timedelta(seconds=201), monkeypatch) == [claimed, unclaimed]


def test_a_claim_excludes_other_copies_but_not_its_own_retry(
        session_factory: sessionmaker[Session]) -> None:
    """Another task id cannot claim a held effect; the same task id (a retry) can."""
    now = datetime.now(UTC)
    effect_id = new_message(session_factory, now=now)
    lease = timedelta(seconds=30)
    with session_factory.begin() as session:
        assert outbox.claim_effect(session, effect_id, owner="a", now=now, lease=lease)
        assert not outbox.claim_effect(session, effect_id, owner="b", now=now, lease=lease)
        assert outbox.claim_effect(session, effect_id, owner="a", now=now, lease=lease)
        assert outbox.claim_effect(session, effect_id, owner="b", now=now + lease, lease=lease)
        outbox.finish_effect(session, effect_id, status="done", now=now)
        assert not outbox.claim_effect(session, effect_id, owner="c", now=now + 2 * lease,
                                       lease=lease)


def test_a_slow_live_task_keeps_its_effect_past_the_lease(
        db_url: str, engine: Any, session_factory: sessionmaker[Session],
        tmp_path: Path) -> None:
    """The holder renews its claim while Telegram is slow: the relay never hands it over."""
    ctx = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine,
                        effect_relay_after_seconds=LEASE)
    effect_id = new_message(session_factory, now=datetime.now(UTC))
    from tests.workers.poison_tasks import hold_effect

    with use_context(ctx):
        outcome: list[str] = []
        holder = threading.Thread(target=lambda: outcome.append(
            hold_effect.apply(args=[effect_id, str(tmp_path), 3 * LEASE]).get()))
        holder.start()
        eventually(lambda: list(tmp_path.glob("perform-*")), timeout=10, what="the send")
        time.sleep(2 * LEASE)  # the claim would have run out twice without its renewals
        ctx.queued.clear()
        relay_inbox.apply().get()
        relayed = list(ctx.queued)
        holder.join(timeout=30)
    assert relayed == []
    assert outcome == ["done"]
    assert effect_row(session_factory, effect_id).status == "done"


# A real worker, killed ------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.redis
def test_an_effect_held_by_a_killed_worker_is_sent_once_within_seconds(
        db_url: str, session_factory: sessionmaker[Session], redis_client: Any,
        redis_url: str, telegram_sandbox: Any, tmp_path: Path) -> None:
    """SIGKILL the worker mid-send: a second worker sends it once, well within a minute."""
    if not db_url.startswith("sqlite"):
        pytest.skip("one real worker run is enough; the rules run on both backends above")
    redis_client.flushdb()
    with session_factory.begin() as session:  # a worker refuses a catalogue out of line
        seed_plans(session, load_settings(_env_file=None, database_url=db_url))
    with httpx.Client(base_url=telegram_sandbox.base_url, timeout=5.0) as control:
        control.post("/control/users", json={"id": SUBSCRIBER, "first_name": "Ann"}
                     ).raise_for_status()
        control.post(f"/control/users/{SUBSCRIBER}/messages", json={"text": "/start"}
                     ).raise_for_status()
    env = child_env(DATABASE_URL=db_url, REDIS_URL=redis_url,
                    TELEGRAM_API_BASE=telegram_sandbox.base_url,
                    EFFECT_RELAY_AFTER_SECONDS=str(LEASE))
    settings: Settings = load_settings(_env_file=None, database_url=db_url, redis_url=redis_url)
    producer = create_celery(settings, main="producer")
    command = [*worker_command(concurrency=1), "--include", "tests.workers.poison_tasks"]
    marks = tmp_path / "marks"
    marks.mkdir()
    first = ChildProcess(command, env, tmp_path / "first.log")
    second = ChildProcess(command, env, tmp_path / "second.log")
    effect_id = new_message(session_factory, now=datetime.now(UTC))
    try:
        first.start()
        producer.send_task("tests.poison.hold_effect", args=[effect_id, str(marks), 30.0])
        eventually(lambda: list(marks.glob("perform-*")), timeout=30, what="the send to start")
        assert first.process is not None
        os.killpg(first.process.pid, signal.SIGKILL)  # the whole worker, as a power loss
        first.process.wait()
        killed_at = datetime.now(UTC)

        second.start()
        for _ in range(3):  # beat's relay, a few rounds
            producer.send_task(task_names.RELAY_PAYMENT_INBOX)
        eventually(lambda: effect_row(session_factory, effect_id).status == "done",
                   timeout=45, what="the rescued effect to be done")
        done_at = effect_row(session_factory, effect_id).updated_at
    finally:
        producer.close()
        second.stop()
        first.stop()
    with httpx.Client(base_url=telegram_sandbox.base_url, timeout=5.0) as control:
        calls = control.get("/control/calls", params={"method": "sendMessage"}).json()["result"]
    sent = [call for call in calls if call["params"].get("text") == "Your invite"]
    assert len(sent) == 1, calls  # the killed worker never sent; the rescue sent once
    assert list(marks.glob("sent-*")) == []
    assert done_at.replace(tzinfo=UTC) - killed_at < timedelta(seconds=45)
    with session_factory() as session:
        assert session.scalar(select(TelegramEffect.attempts).where(
            TelegramEffect.id == effect_id)) == 1
