"""Worker observability: poison-task parking, dead letters, and the worker's Prometheus metrics.

Poison tasks (reliability.md P5). `task_reject_on_worker_lost` puts a message back whenever its
pool child dies, so a task that kills its process would run forever. The worker's main process
counts every delivery of a task id in `task_attempts` when the message arrives
(`task_received`); a delivery beyond its retries plus MAX_DELIVERIES is parked in
`dead_letters` and revoked locally, so Celery acknowledges the message without running it.
This happens in the main process because a pool child cannot skip a task from a signal
(`Signal.send` swallows a receiver's `Ignore`/`Reject`) and because the main process outlives
the child being killed. A task that fails for good (retries exhausted, or an exception nobody
retries) is parked too, by `task_failure`; a success forgets the task id's count.

Metrics. The worker's main process serves them over HTTP (`worker_ready`, 127.0.0.1 on
WORKER_METRICS_PORT, default 9808, 0 turns it off). Nothing is counted inside the pool
children: business totals are read from the database at scrape time (what happened is in the
tables already, for every process), queue depths from Redis, and retries are counted where the
retried message arrives, in the main process. So no multiprocess directory is needed, and the
figures survive restarts of any process. Database-derived totals are the same on every worker:
aggregate them with max(), not sum().
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from celery.signals import (
    task_failure,
    task_received,
    task_success,
    worker_process_init,
    worker_ready,
)
from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from infra.celery_config import QUEUES
from infra.db import create_engine, insert_ignore, make_session_factory
from infra.logging import get_logger
from infra.settings import Settings, load_settings
from models.schema import (
    AccessHistory,
    CommissionEntry,
    DeadLetter,
    RenewalReminder,
    TaskAttempt,
    TelegramEffect,
    User,
)

log = get_logger("workers.observability")

# Deliveries of one task id, beyond its own retries, before it is parked as poison.
MAX_DELIVERIES = 5
# Attempt counters of task ids not seen for this long are dropped (they ended some other way).
ATTEMPTS_KEPT_FOR = timedelta(days=1)
DEFAULT_METRICS_PORT = 9808
METRICS_HOST = "127.0.0.1"

# access_history actions counted by the business metrics, by metric label.
ACTIVATION_ACTIONS = {"payment": "payment_activated", "trial": "trial_started",
                      "admin": "admin_activated"}
REMOVAL_ACTIONS = {"admin": "admin_removed", "sweep": "expired_removed"}  # workers.sweeps

RETRIES = Counter(
    "worker_task_retries", "Retried task messages received by this worker, by task.", ["task"]
)


def _now() -> datetime:
    return datetime.now(UTC)


# Attempts and dead letters -----------------------------------------------------------------


def count_delivery(session: Session, *, task_id: str, task_name: str, now: datetime) -> int:
    """Count one more delivery of `task_id`; return the deliveries so far."""
    insert_ignore(
        session, TaskAttempt,
        {"task_id": task_id, "task_name": task_name, "attempts": 0, "updated_at": now},
        conflict=["task_id"],
    )
    session.execute(
        update(TaskAttempt)
        .where(TaskAttempt.task_id == task_id)
        .values(attempts=TaskAttempt.attempts + 1, updated_at=now)
    )
    return int(session.scalar(select(TaskAttempt.attempts).where(TaskAttempt.task_id == task_id))
               or 0)


def record_dead_letter(
    session: Session, *, task_name: str, task_id: str | None, args: Sequence[Any],
    kwargs: Mapping[str, Any], error: str, now: datetime,
) -> int:
    """Park a task with its arguments; a task id already parked and not replayed is kept once."""
    if task_id is not None:
        existing = session.scalar(
            select(DeadLetter.id).where(DeadLetter.task_id == task_id,
                                        DeadLetter.replayed_at.is_(None))
        )
        if existing is not None:
            return existing
    letter = DeadLetter(
        task_name=task_name, task_id=task_id,
        args=json.dumps({"args": list(args), "kwargs": dict(kwargs)}, default=str),
        error=error[:2000], created_at=now,
    )
    session.add(letter)
    session.flush()
    return letter.id


def note_delivery(
    sessions: sessionmaker[Session], *, task_id: str, task_name: str, retries: int,
    args: Sequence[Any], kwargs: Mapping[str, Any], now: datetime,
    max_deliveries: int = MAX_DELIVERIES,
) -> bool:
    """Count a delivery; True when it is one too many and the task was parked as poison.

    A retry is a new message under the same task id, so the deliveries a task is entitled to
    grow with its `retries`: only redeliveries (a killed worker, a lost acknowledgement) count.
    """
    with sessions.begin() as session:
        deliveries = count_delivery(session, task_id=task_id, task_name=task_name, now=now)
        if deliveries - retries <= max_deliveries:
            return False
        record_dead_letter(
            session, task_name=task_name, task_id=task_id, args=args, kwargs=kwargs,
            error=f"exceeded {max_deliveries} deliveries", now=now,
        )
    return True


def forget_attempts(sessions: sessionmaker[Session], task_id: str, *, now: datetime) -> None:
    """Drop the count of a finished task id, and counts nobody has touched for a day."""
    with sessions.begin() as session:
        session.execute(
            delete(TaskAttempt).where(
                (TaskAttempt.task_id == task_id)
                | (TaskAttempt.updated_at < now - ATTEMPTS_KEPT_FOR)
            )
        )


def park_failure(
    sessions: sessionmaker[Session], *, task_name: str, task_id: str | None,
    args: Sequence[Any], kwargs: Mapping[str, Any], exception: BaseException, now: datetime,
) -> int:
    """A task failed for good: park it with its error and forget its delivery count."""
    with sessions.begin() as session:
        letter_id = record_dead_letter(
            session, task_name=task_name, task_id=task_id, args=args, kwargs=kwargs,
            error=f"{type(exception).__name__}: {exception}", now=now,
        )
        if task_id is not None:
            session.execute(delete(TaskAttempt).where(TaskAttempt.task_id == task_id))
    return letter_id


# Metrics --------------------------------------------------------------------------------------


def queue_depths(redis: Redis, queues: Iterable[str] = QUEUES) -> dict[str, int]:
    """Messages waiting in each Celery queue (kombu keeps a queue as a Redis list of its name)."""
    return {queue: int(redis.llen(queue)) for queue in queues}  # type: ignore[arg-type]


def unacked_messages(redis: Redis) -> int:
    """Messages taken by a worker and not yet acknowledged (kombu's `unacked` hash)."""
    return int(redis.hlen("unacked"))  # type: ignore[arg-type]


class WorkerCollector(Collector):
    """Business and machinery totals read from the database and Redis at scrape time."""

    def __init__(self, sessions: sessionmaker[Session], redis: Redis) -> None:
        self._sessions, self._redis = sessions, redis

    def collect(self) -> Iterator[Metric]:
        try:
            with self._sessions() as session:
                yield from self._from_database(session)
        except SQLAlchemyError as error:
            log.warning("metrics_database_unavailable", error=type(error).__name__)
        try:
            depth = GaugeMetricFamily("worker_queue_depth", "Messages waiting in a Celery queue.",
                                      labels=["queue"])
            for queue, length in queue_depths(self._redis).items():
                depth.add_metric([queue], length)
            yield depth
            yield GaugeMetricFamily("worker_unacked_messages",
                                    "Messages taken by workers and not yet acknowledged.",
                                    value=unacked_messages(self._redis))
        except RedisError as error:
            log.warning("metrics_redis_unavailable", error=type(error).__name__)

    @staticmethod
    def _from_database(session: Session) -> Iterator[Metric]:
        actions: dict[str, int] = {
            action: count for action, count in session.execute(
                select(AccessHistory.action, func.count()).where(
                    AccessHistory.action.in_([*ACTIVATION_ACTIONS.values(),
                                              *REMOVAL_ACTIONS.values()])
                ).group_by(AccessHistory.action)
            )
        }
        for name, help_text, by_label in (
            ("worker_activations", "Access activations recorded, by kind.", ACTIVATION_ACTIONS),
            ("worker_removals", "Removals from the channel recorded, by source.", REMOVAL_ACTIONS),
        ):
            label = "kind" if by_label is ACTIVATION_ACTIONS else "source"
            family = CounterMetricFamily(name, help_text, labels=[label])
            for key, action in by_label.items():
                family.add_metric([key], actions.get(action, 0))
            yield family
        yield CounterMetricFamily(
            "worker_commissions", "Referral commissions credited.",
            value=session.scalar(select(func.count()).select_from(CommissionEntry)
                                 .where(CommissionEntry.kind == "credit")) or 0,
        )
        yield CounterMetricFamily(
            "worker_reminders", "Renewal reminders sent.",
            value=session.scalar(select(func.count()).select_from(RenewalReminder)) or 0,
        )
        yield _telegram_calls(session)
        waiting = DeadLetter.replayed_at.is_(None)
        parked: dict[bool, int] = {
            bool(is_waiting): count for is_waiting, count in session.execute(
                select(waiting, func.count()).group_by(waiting))
        }
        yield CounterMetricFamily("worker_dead_letters", "Tasks parked as dead letters.",
                                  value=sum(parked.values()))
        yield GaugeMetricFamily("worker_dead_letters_waiting",
                                "Dead letters not replayed yet.", value=parked.get(True, 0))


def _telegram_calls(session: Session) -> Metric:
    """Bot API calls by outcome, from the outbox: every attempt is counted on its effect row.

    A finished effect's last attempt was its outcome (done → ok; failed → blocked when the user
    is recorded as having blocked the bot, else permanent); every other attempt was transient.
    """
    blocked_user = select(User.id).where(User.blocked_bot_at.is_not(None))
    row = session.execute(
        select(
            func.coalesce(func.sum(TelegramEffect.attempts), 0),
            func.count().filter(TelegramEffect.status == "done"),
            func.count().filter(TelegramEffect.status == "failed",
                                TelegramEffect.chat_id.in_(blocked_user)),
            func.count().filter(TelegramEffect.status == "failed"),
        )
    ).one()
    attempts, done, blocked, failed = (int(value or 0) for value in row)
    family = CounterMetricFamily("worker_telegram_calls", "Telegram Bot API calls by outcome.",
                                 labels=["outcome"])
    for outcome, value in (("ok", done), ("transient", attempts - done - failed),
                           ("blocked", blocked), ("permanent", failed - blocked)):
        family.add_metric([outcome], value)
    return family


def build_registry(sessions: sessionmaker[Session], redis: Redis) -> CollectorRegistry:
    """The worker's metrics: the scrape-time collector plus this process's retry counter."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerCollector(sessions, redis))
    registry.register(RETRIES)
    return registry


# Per-process resources and the signal hooks ---------------------------------------------------


class _Resources:
    """This process's own database engine and Redis client, built on first use."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.engine: Engine | None = None
        self.sessions: sessionmaker[Session] | None = None

    def get_sessions(self) -> sessionmaker[Session]:
        if self.sessions is None:
            self.settings = self.settings or load_settings()
            self.engine = create_engine(self.settings.database_url)
            self.sessions = make_session_factory(self.engine)
        return self.sessions

    def forget_after_fork(self) -> None:
        # The parent's connections stay the parent's: drop them here without closing them.
        if self.engine is not None:
            self.engine.dispose(close=False)
        self.engine = self.sessions = None


_resources = _Resources()


@task_received.connect
def _count_delivery(request: Any = None, **_: Any) -> None:
    """Main process: count the delivery; revoke a poison task so it is acked, never run."""
    from celery.worker.state import revoked

    retries = int((request.request_dict or {}).get("retries") or 0)
    if retries:
        RETRIES.labels(task=request.name).inc()
    try:
        poison = note_delivery(
            _resources.get_sessions(), task_id=request.id, task_name=request.name,
            retries=retries, args=request.args or (), kwargs=request.kwargs or {}, now=_now(),
        )
    except SQLAlchemyError as error:
        # Counting is a safety net: without the database the task runs as it would anyway.
        log.warning("delivery_not_counted", task_id=request.id, error=type(error).__name__)
        return
    if poison:
        revoked.add(request.id)
        log.error("poison_task_parked", task=request.name, task_id=request.id,
                  max_deliveries=MAX_DELIVERIES)


@task_success.connect
def _forget_on_success(sender: Any = None, **_: Any) -> None:
    if sender is None or sender.request.is_eager or sender.request.id is None:
        return
    try:
        forget_attempts(_resources.get_sessions(), sender.request.id, now=_now())
    except SQLAlchemyError as error:
        log.warning("attempts_not_forgotten", task_id=sender.request.id,
                    error=type(error).__name__)


@task_failure.connect
def _park_failure(sender: Any = None, task_id: str | None = None,
                  exception: BaseException | None = None, args: Any = None,
                  kwargs: Any = None, **_: Any) -> None:
    if sender is None or sender.request.is_eager:
        return
    try:
        letter_id = park_failure(
            _resources.get_sessions(), task_name=sender.name, task_id=task_id,
            args=args or (), kwargs=kwargs or {},
            exception=exception or RuntimeError("unknown failure"), now=_now(),
        )
    except SQLAlchemyError as error:
        log.error("dead_letter_not_recorded", task=sender.name, task_id=task_id,
                  error=type(error).__name__)
        return
    log.error("task_dead_lettered", task=sender.name, task_id=task_id, dead_letter=letter_id)


@worker_process_init.connect
def _forget_parent_resources(**_: Any) -> None:
    _resources.forget_after_fork()


@worker_ready.connect
def _serve_metrics(**_: Any) -> None:
    """Main process: serve /metrics on 127.0.0.1; a taken port is logged, never fatal."""
    settings = _resources.settings or load_settings()
    _resources.settings = settings
    port = settings.worker_metrics_port
    if port == 0:
        return
    redis = Redis.from_url(settings.broker_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        start_http_server(port, addr=METRICS_HOST,
                          registry=build_registry(_resources.get_sessions(), redis))
    except OSError as error:
        log.warning("worker_metrics_not_served", port=port, error=str(error))
        return
    log.info("worker_metrics_served", url=f"http://{METRICS_HOST}:{port}/metrics")
