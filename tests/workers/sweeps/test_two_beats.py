"""Two beats (an operator's mistake) fire every periodic task twice at once: nothing doubles.

Each scheduled firing carries `every` (infra/celery_config.beat_schedule) and claims its run in
the database first (workers/scheduling.py); the second firing of the same interval does nothing.
The evidence is what a duplicate would leave: Telegram and CryptoCloud calls, history rows,
reminders written.
"""

from __future__ import annotations

import importlib
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.celery_config import WORKER_MODULES, beat_schedule
from infra.migrate import seed_plans
from infra.settings import load_settings
from models.schedule import claim_scheduled_run
from models.schema import Access, AccessHistory, Invoice, Plan, RenewalReminder
from tests.fixtures.processes import celery_beat, celery_worker, child_env, tasks_succeeded
from tests.fixtures.waiting import eventually
from tests.workers.harness import CountingProvider, Pipeline, add_user
from tests.workers.sweeps.conftest import subscriber
from workers.context import use_context

LAPSED, REMINDED, PAYER = 9101, 9102, 9103
PERIODIC = (task_names.EXPIRE_SUBSCRIPTIONS, task_names.SEND_RENEWAL_REMINDERS,
            task_names.POLL_PENDING_INVOICES, task_names.RELAY_PAYMENT_INBOX)


def task_named(name: str) -> Any:
    for module in WORKER_MODULES:
        importlib.import_module(module)
    return current_app.tasks[name]


def fire_twice_at_once(name: str, every: int) -> list[Any]:
    """What two beats do: the same scheduled task, twice, at the same moment."""
    task = task_named(name)
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def fire() -> None:
        barrier.wait()
        results.append(task.apply(kwargs={"every": every}).get())

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2
    return results


def count(sessions: sessionmaker[Session], model: Any, *where: Any) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_beat_fires_every_periodic_task_with_its_interval() -> None:
    """The claim needs `every`: every scheduled entry passes its own interval."""
    schedule = beat_schedule(load_settings(_env_file=None))
    assert {entry["task"] for entry in schedule.values()} == set(PERIODIC)
    for entry in schedule.values():
        assert entry["kwargs"] == {"every": int(entry["schedule"].total_seconds())}


def test_two_beats_remove_remind_and_poll_once(ctx: Pipeline) -> None:
    """Sweep, reminders and poll fired twice at once: one ban, one reminder, one poll call."""
    now = datetime.now(UTC)
    subscriber(ctx, LAPSED, paid_through=now - timedelta(days=1))
    subscriber(ctx, REMINDED, paid_through=now + timedelta(hours=20))
    subscriber(ctx, PAYER, paid_through=now + timedelta(days=20))
    ctx.payments = CountingProvider()
    with ctx.sessions.begin() as session:
        seed_plans(session, ctx.settings)
        plan = session.scalars(select(Plan)).first()
        assert plan is not None
        session.add(Invoice(uuid="TWOBEATS", order_id="ord-two-beats", user_id=PAYER,
                            plan_id=plan.id, amount_usd=Decimal("10.00"), status="created",
                            created_at=now, next_poll_at=now))

    with use_context(ctx):
        sweeps = fire_twice_at_once(task_names.EXPIRE_SUBSCRIPTIONS, 300)
        reminders = fire_twice_at_once(task_names.SEND_RENEWAL_REMINDERS, 900)
        polls = fire_twice_at_once(task_names.POLL_PENDING_INVOICES, 60)
        relays = fire_twice_at_once(task_names.RELAY_PAYMENT_INBOX, 30)

    bans = [call for call in ctx.telegram.calls_of("banChatMember") if call.user_id == LAPSED]
    lookups = [call for call in ctx.telegram.calls_of("getChatMember")
               if call.user_id == LAPSED]
    assert (len(bans), len(lookups)) == (1, 1)
    assert count(ctx.sessions, AccessHistory, AccessHistory.user_id == LAPSED,
                 AccessHistory.action == "expired_removed") == 1
    assert count(ctx.sessions, RenewalReminder) == 1
    assert ctx.payments.info_calls == [["TWOBEATS"]]
    # Each pair: one run went ahead, the other stood down.
    assert {"skipped": True} in sweeps
    assert sorted(r["reminded"] for r in reminders) == [0, 1]
    assert sorted(polls) == [0, 0] and sorted(relays) == [0, 0]


def test_one_beat_runs_every_interval_and_a_manual_run_always_goes(ctx: Pipeline) -> None:
    """The claim never starves a single beat, nor an operator's own run."""
    with use_context(ctx):
        task = task_named(task_names.RELAY_PAYMENT_INBOX)
        assert task.apply(kwargs={"every": 30}).get() == 0
        assert task.apply().get() == 0  # by hand: no claim needed
        with ctx.sessions.begin() as session:
            later = datetime.now(UTC) + timedelta(seconds=30)
            assert claim_scheduled_run(session, task=task.name, now=later, every=30)
            assert not claim_scheduled_run(session, task=task.name,
                                           now=later + timedelta(seconds=14), every=30)


# Two real beat processes ------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.redis
def test_two_real_beats_and_a_worker_look_up_and_remind_each_subscriber_once(
        db_url: str, session_factory: sessionmaker[Session], redis_client: Any,
        redis_url: str, telegram_sandbox: Any, tmp_path: Path) -> None:
    """Two beats started together fire every sweep twice; the stand-in sees each call once."""
    if not db_url.startswith("sqlite"):
        pytest.skip("one real run is enough; the claim runs on both backends above")
    redis_client.flushdb()
    now = datetime.now(UTC)
    settings = load_settings(_env_file=None, database_url=db_url)
    with session_factory.begin() as session:
        seed_plans(session, settings)
    with httpx.Client(base_url=telegram_sandbox.base_url, timeout=5.0) as control:
        for user_id in (LAPSED, REMINDED):
            control.post("/control/users", json={"id": user_id, "first_name": f"u{user_id}"}
                         ).raise_for_status()
            control.post(f"/control/users/{user_id}/messages", json={"text": "/start"}
                         ).raise_for_status()
    for user_id, paid_through in ((LAPSED, now - timedelta(days=1)),
                                  (REMINDED, now + timedelta(hours=20))):
        add_user(session_factory, user_id)
        with session_factory.begin() as session:
            session.add(Access(user_id=user_id, chat_id=settings.channel,
                               paid_through=paid_through, status="active", created_at=now))
    env = child_env(DATABASE_URL=db_url, REDIS_URL=redis_url,
                    TELEGRAM_API_BASE=telegram_sandbox.base_url, SWEEP_INTERVAL_SECONDS="10",
                    REMINDER_INTERVAL_SECONDS="10", POLL_INTERVAL_SECONDS="3600",
                    RELAY_INTERVAL_SECONDS="3600")
    with celery_worker(env, tmp_path / "worker.log") as worker, \
            celery_beat(env, tmp_path / "first.log"), celery_beat(env, tmp_path / "second.log"):
        # Each beat fires each sweep at least twice; every firing has finished.
        eventually(lambda: tasks_succeeded(worker.log(), task_names.EXPIRE_SUBSCRIPTIONS) >= 4
                   and tasks_succeeded(worker.log(), task_names.SEND_RENEWAL_REMINDERS) >= 4,
                   timeout=90, what="two beats to fire each sweep twice")
        log = worker.log()
    with httpx.Client(base_url=telegram_sandbox.base_url, timeout=5.0) as control:
        calls = control.get("/control/calls").json()["result"]
    lookups = [c for c in calls if c["method"] == "getChatMember"
               and str(c["params"].get("user_id")) == str(LAPSED)]
    reminders = [c for c in calls if c["method"] == "sendMessage"
                 and str(c["params"].get("chat_id")) == str(REMINDED)]
    assert (len(lookups), len(reminders)) == (1, 1), calls
    assert count(session_factory, AccessHistory, AccessHistory.user_id == LAPSED) == 1
    # The second beat's firings stood down (a run that goes ahead reports its counts).
    assert log.count("{'skipped': True}") >= 1
