"""Celery configuration derived from the settings: reliability first.

Every task is idempotent (its guarantees live in the database), so messages are acknowledged
late and re-queued when a worker dies; the Redis visibility timeout is longer than anything
that can keep a message unacknowledged on purpose (time limits, countdowns, retry backoff), so
Redis never hands a message that is still being worked on to a second worker
(../shared/reference/reliability.md, P1–P4 and pitfalls A–B).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery
from kombu.entity import Queue
from kombu.utils.scheduling import round_robin_cycle

from infra import broker_client_reuse, broker_patch, task_names
from infra.settings import Settings

# Workers consume every queue (Procfile, deploy files: `--queues` + WORKER_QUEUES). They take
# turns among the first four, as kombu does by default, but look at `bulk` only when all of
# those are empty (`BulkLast` below): a bulk wave queued first never sits in front of a payment.
QUEUES = ("payments", "telegram", "sweeps", "default", "bulk")
WORKER_QUEUES = ",".join(QUEUES)
LAST_QUEUES = frozenset({"bulk"})


class BulkLast(round_robin_cycle):
    """kombu's round robin over the queues, except that the bulk queue always comes last.

    A worker BRPOPs its queues in the order this gives, and Redis answers from the first
    non-empty one. Strict priority for every queue would starve the telegram queue (invites)
    while payments arrive; round robin for all would hand a bulk wave every other free slot.
    """

    def consume(self, n: int) -> list[str]:
        queues: list[str] = self.items[:n]
        return ([queue for queue in queues if queue not in LAST_QUEUES]
                + [queue for queue in queues if queue in LAST_QUEUES])


# Upper bounds that the visibility timeout must exceed (asserted by tests/infra/test_celery_config).
# A retry waits its countdown in the worker, unacknowledged, and then runs up to the time limit,
# so the visibility timeout exceeds their sum. It is also how long the messages of a worker that
# died outright (SIGKILL, power loss) wait before Redis hands them out again: kept short, so a
# subscriber whose task such a worker held waits minutes, not half an hour. Telegram's longer
# `retry_after` answers are met by retrying again at the cap.
TASK_SOFT_TIME_LIMIT = 90
TASK_TIME_LIMIT = 120
RETRY_BACKOFF_MAX = 120
MAX_COUNTDOWN = 120  # every explicit retry countdown (e.g. Telegram's retry_after) is capped here
VISIBILITY_TIMEOUT = 300
# A publish gives up after about half a second (Celery's own default, written down).
PUBLISH_RETRY_POLICY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.2,
                        "interval_max": 0.2}

# The modules whose tasks a worker registers; the doors never import them.
WORKER_MODULES: tuple[str, ...] = (
    "workers.payments.tasks",
    "workers.access.tasks",
    "workers.notifications.tasks",
    "workers.users.tasks",
    "workers.admin.tasks",
    "workers.referrals.tasks",
    "workers.sweeps.tasks",
    "workers.stats.tasks",
    "workers.promos.tasks",
    "workers.broadcasts.tasks",
    "workers.audits.tasks",

    "workers.staff.tasks",
)

ROUTES = {
    "payments.*": {"queue": "payments"},
    "access.*": {"queue": "telegram"},
    "notifications.*": {"queue": "telegram"},
    # Exact names win over the patterns above: messages many receive at once go last.
    task_names.SEND_BULK_MESSAGE: {"queue": "bulk"},
    "sweeps.*": {"queue": "sweeps"},
    task_names.BROADCAST_SEND_PAGE: {"queue": "bulk"},
    task_names.AUDIT_CHECK_PAGE: {"queue": "bulk"},
}


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Periodic tasks; each expires within its interval so a backlog never piles up."""

    def every(seconds: int, name: str) -> dict[str, Any]:
        return {
            "task": name,
            "schedule": timedelta(seconds=seconds),
            # The task claims its run for the interval (workers/scheduling.py), so a second
            # beat started by mistake doubles nothing.
            "kwargs": {"every": seconds},
            "options": {"expires": max(seconds - 1, 1)},
        }

    return {
        name: every(seconds, name)
        for seconds, name in (
            (settings.sweep_interval_seconds, task_names.EXPIRE_SUBSCRIPTIONS),
            (settings.reminder_interval_seconds, task_names.SEND_RENEWAL_REMINDERS),
            (settings.poll_interval_seconds, task_names.POLL_PENDING_INVOICES),
            (settings.relay_interval_seconds, task_names.RELAY_PAYMENT_INBOX),
        )
    }


def celery_config(settings: Settings) -> dict[str, Any]:
    """The whole Celery configuration as a plain dict (what `config_from_object` takes)."""
    transport = {
        "visibility_timeout": VISIBILITY_TIMEOUT,
        # Bounded reads and keepalive: a worker must notice a dead or frozen Redis (P7).
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
        "health_check_interval": 25,
        "retry_on_timeout": True,
        # Scan for messages whose visibility timeout ended every 10 s rather than kombu's
        # ~100 s (interval x throttle): a message a dead worker held returns VT + 10 s later.
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
        "queue_order_strategy": f"{__name__}:{BulkLast.__name__}",
    }
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 5,
        # Workers and beat (the only readers of this setting) reconnect for as long as Redis is
        # away: with a bound they ended with "Unrecoverable error" after ~40 s of a Redis outage.
        # Producers fail fast through the publish retry policy instead, so the gateway answers
        # from its inbox and the bot spools, rather than hanging a request.
        "broker_connection_max_retries": None,
        "task_publish_retry_policy": PUBLISH_RETRY_POLICY,
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_soft_shutdown_timeout": 10.0,
        "task_soft_time_limit": TASK_SOFT_TIME_LIMIT,
        "task_time_limit": TASK_TIME_LIMIT,
        # State lives in the database; nobody reads task results.
        "task_ignore_result": True,
        "result_backend": None,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_queues": [Queue(name) for name in QUEUES],
        "task_default_queue": "default",
        "task_routes": ROUTES,
        "task_create_missing_queues": False,
        # Workers report task events for Flower and `celery events`; producers do not send a
        # "sent" event per publish: it doubled the gateway's publishing cost (see bench/).
        "worker_send_task_events": True,
        "task_send_sent_event": False,
        "timezone": "UTC",
        "enable_utc": True,
        "beat_schedule": beat_schedule(settings),
        "beat_max_loop_interval": 30,
        "include": list(WORKER_MODULES),
    }


def create_celery(settings: Settings, *, main: str = "paywall") -> Celery:
    """A configured Celery app: the worker's (celery_app.py) and the doors' producer."""
    broker_patch.apply()
    broker_client_reuse.apply()
    app = Celery(main)
    app.config_from_object(celery_config(settings))
    return app
