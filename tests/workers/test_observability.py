"""Poison-task parking, dead letters and worker metrics: the hook functions on both databases,
the scrape-time collector, and one real worker whose task keeps killing its process."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import fakeredis
import httpx
import pytest
from prometheus_client import generate_latest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from infra.celery_config import create_celery
from infra.embedded_redis import free_port
from infra.migrate import seed_plans
from infra.settings import load_settings
from models.history import record_history
from models.schema import (
    CommissionEntry,
    DeadLetter,
    Invoice,
    Plan,
    Referrer,
    TaskAttempt,
    TelegramEffect,
    User,
)
from tests.fixtures.processes import ChildProcess, child_env, worker_command
from tests.fixtures.waiting import eventually
from tests.workers import poison_tasks
from workers import observability
from workers.observability import (
    MAX_DELIVERIES,
    build_registry,
    forget_attempts,
    note_delivery,
    park_failure,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def deliver(sessions: sessionmaker[Session], *, retries: int = 0, task_id: str = "t-1") -> bool:
    return note_delivery(sessions, task_id=task_id, task_name="payments.process_event",
                         retries=retries, args=[42], kwargs={}, now=NOW)


def letters(sessions: sessionmaker[Session]) -> list[DeadLetter]:
    with sessions() as session:
        return list(session.scalars(select(DeadLetter).order_by(DeadLetter.id)))


def attempts_of(sessions: sessionmaker[Session], task_id: str = "t-1") -> int | None:
    with sessions() as session:
        return session.scalar(select(TaskAttempt.attempts).where(TaskAttempt.task_id == task_id))


def test_a_task_delivered_more_than_n_times_is_parked_once(
    session_factory: sessionmaker[Session],
) -> None:
    """N deliveries run; every one after that is a dead letter (recorded once per task id)."""
    assert [deliver(session_factory) for _ in range(MAX_DELIVERIES)] == [False] * MAX_DELIVERIES
    assert deliver(session_factory) is True
    assert deliver(session_factory) is True  # the ack was lost: parked again, not run
    [letter] = letters(session_factory)
    assert (letter.task_name, letter.task_id) == ("payments.process_event", "t-1")
    assert letter.error == f"exceeded {MAX_DELIVERIES} deliveries"
    assert json.loads(letter.args or "") == {"args": [42], "kwargs": {}}
    assert attempts_of(session_factory) == MAX_DELIVERIES + 2


def test_retries_are_not_redeliveries(session_factory: sessionmaker[Session]) -> None:
    """A task retried eight times (same id, retries 0..8) is never mistaken for poison."""
    assert not any(deliver(session_factory, retries=retries) for retries in range(9))
    assert letters(session_factory) == []


def test_success_forgets_the_count_and_prunes_stale_ones(
    session_factory: sessionmaker[Session],
) -> None:
    """A finished task id loses its counter; counters untouched for a day go with it."""
    deliver(session_factory, task_id="done")
    note_delivery(session_factory, task_id="stale", task_name="x", retries=0, args=[],
                  kwargs={}, now=NOW - timedelta(days=2))
    deliver(session_factory, task_id="running")
    forget_attempts(session_factory, "done", now=NOW)
    with session_factory() as session:
        assert set(session.scalars(select(TaskAttempt.task_id))) == {"running"}


def test_a_failure_for_good_is_parked_with_its_error(
    session_factory: sessionmaker[Session],
) -> None:
    """task_failure (retries exhausted or not retried): a dead letter, counter dropped."""
    deliver(session_factory)
    park_failure(session_factory, task_name="access.grant_invite", task_id="t-1", args=[7],
                 kwargs={}, exception=ValueError("boom"), now=NOW)
    [letter] = letters(session_factory)
    assert (letter.task_name, letter.error) == ("access.grant_invite", "ValueError: boom")
    assert attempts_of(session_factory) is None


def test_eager_tasks_are_left_alone(
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """In-process runs (`apply()`, the test harness) are no deliveries: nothing is recorded."""
    monkeypatch.setattr(observability._resources, "sessions", session_factory)
    with pytest.raises(ValueError, match="eager"):
        poison_tasks.fail.apply(args=["eager"], throw=True).get()
    poison_tasks.touch.apply(args=[str(tmp_path / "done")]).get()
    assert letters(session_factory) == []
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(TaskAttempt)) == 0


def metric_lines(text: str) -> set[str]:
    return {line for line in text.splitlines() if not line.startswith("#")}


def test_the_collector_reports_totals_from_the_database_and_redis(
    session_factory: sessionmaker[Session],
) -> None:
    """After some activity the scrape shows each metric with the counts the tables hold."""
    with session_factory.begin() as session:
        for user_id, blocked in ((1, None), (2, NOW)):
            session.add(User(id=user_id, created_at=NOW, blocked_bot_at=blocked))
        session.flush()
        plan = Plan(code="month", title="Month", days=30, price_usd=Decimal(10))
        session.add_all([plan, Referrer(user_id=1, pct=Decimal(10), created_at=NOW,
                                        updated_at=NOW)])
        session.flush()
        invoice = Invoice(order_id="ord_2", user_id=2, plan_id=plan.id, amount_usd=Decimal(10))
        session.add(invoice)
        session.flush()
        session.add(CommissionEntry(referrer_id=1, kind="credit", amount=Decimal("1.00"),
                                    invoice_id=invoice.id, created_at=NOW))
        for action in ("payment_activated", "payment_activated", "trial_started",
                       "admin_removed", "invite_sent"):
            record_history(session, user_id=1, action=action, source="payment", now=NOW)
        for key, status, attempts, chat in (("a", "done", 1, 1), ("b", "done", 3, 1),
                                            ("c", "failed", 1, 2), ("d", "failed", 2, 1),
                                            ("e", "pending", 2, 1)):
            session.add(TelegramEffect(key=key, method="sendMessage", chat_id=chat,
                                       status=status, attempts=attempts))
        session.add(DeadLetter(task_name="x", task_id="1", created_at=NOW))
        session.add(DeadLetter(task_name="x", task_id="2", created_at=NOW, replayed_at=NOW))
    redis = fakeredis.FakeRedis()
    redis.lpush("payments", "m1", "m2")
    redis.hset("unacked", "tag", "m")
    observability.RETRIES.labels(task="payments.process_event").inc()

    text = generate_latest(build_registry(session_factory, redis)).decode()

    assert {
        'worker_activations_total{kind="payment"} 2.0',
        'worker_activations_total{kind="trial"} 1.0',
        'worker_activations_total{kind="admin"} 0.0',
        'worker_removals_total{source="admin"} 1.0',
        "worker_commissions_total 1.0",
        "worker_reminders_total 0.0",
        # 9 attempts: 2 done, 1 blocked (user 2 blocked the bot), 1 permanent, 5 transient
        'worker_telegram_calls_total{outcome="ok"} 2.0',
        'worker_telegram_calls_total{outcome="transient"} 5.0',
        'worker_telegram_calls_total{outcome="blocked"} 1.0',
        'worker_telegram_calls_total{outcome="permanent"} 1.0',
        "worker_dead_letters_total 2.0",
        "worker_dead_letters_waiting 1.0",
        'worker_queue_depth{queue="payments"} 2.0',
        'worker_queue_depth{queue="telegram"} 0.0',
        "worker_unacked_messages 1.0",
    } <= metric_lines(text)
    assert 'worker_task_retries_total{task="payments.process_event"}' in text


@pytest.mark.slow
@pytest.mark.redis
def test_a_task_that_kills_its_worker_runs_n_times_then_is_parked(
    db_url: str, session_factory: sessionmaker[Session], redis_client: Any, redis_url: str,
    tmp_path: Path,
) -> None:
    """A real worker: the suicidal task starts N times, is parked, and the worker goes on."""
    if not db_url.startswith("sqlite"):
        # ~5 s per killed child (billiard replaces it on a timer): one backend keeps the suite
        # fast, and the hooks' SQL is proven on PostgreSQL by the tests above.
        pytest.skip("one real worker run is enough; it runs on SQLite")
    redis_client.flushdb()  # nothing another test left queued may reach this worker
    with session_factory.begin() as session:  # a worker refuses a catalogue out of line
        seed_plans(session, load_settings(_env_file=None, database_url=db_url))
    port = free_port()
    env = child_env(DATABASE_URL=db_url, REDIS_URL=redis_url, WORKER_METRICS_PORT=str(port))
    command = [*worker_command(concurrency=2, queues="default"),
               "--include", "tests.workers.poison_tasks"]
    worker = ChildProcess(command, env, tmp_path / "worker.log")
    producer = create_celery(load_settings(_env_file=None, database_url=db_url,
                                           redis_url=redis_url), main="test-producer")
    starts, done = tmp_path / "starts", tmp_path / "done"
    try:
        worker.start()
        producer.send_task("tests.poison.kill_self", args=[str(starts)])
        eventually(lambda: letters(session_factory), timeout=40, what="the dead letter")
        assert starts.read_text().count("started") == MAX_DELIVERIES

        producer.send_task("tests.poison.touch", args=[str(done)])
        producer.send_task("tests.poison.fail", args=["not retried"])
        eventually(done.exists, timeout=20, what="the worker to run a healthy task")
        eventually(lambda: len(letters(session_factory)) == 2, timeout=20,
                   what="the failed task's dead letter")
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        producer.close()
        worker.stop()
    poison, failed = letters(session_factory)
    assert poison.task_name == "tests.poison.kill_self"
    assert poison.error == f"exceeded {MAX_DELIVERIES} deliveries"
    assert json.loads(poison.args or "") == {"args": [str(starts)], "kwargs": {}}
    assert (failed.task_name, failed.error) == ("tests.poison.fail", "ValueError: not retried")
    with session_factory() as session:  # the successful task's counter is gone
        assert session.scalar(select(func.count()).select_from(TaskAttempt)) == 1
    assert "worker_dead_letters_total 2.0" in metric_lines(metrics)
    assert 'worker_queue_depth{queue="default"} 0.0' in metric_lines(metrics)
    assert worker.process is not None and worker.process.returncode is not None
