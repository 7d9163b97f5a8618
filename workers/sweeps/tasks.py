"""Celery tasks of the sweeps queue: expire what is due, confirm a held sweep, remind.

Each returns a short summary of counts for an operator running `celery -A celery_app call`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from celery import Task, shared_task

from infra import task_names
from infra.celery_config import MAX_COUNTDOWN
from infra.logging import get_logger
from infra.telegram import retry_countdown
from workers import lifecycle  # noqa: F401 - registers the per-process hooks
from workers.context import context
from workers.dispatch import dispatch
from workers.retrying import DB_RETRYING
from workers.scheduling import should_run
from workers.sweeps import service

log = get_logger("workers.sweeps")
SWEEP_MAX_RETRIES = 12


def _now() -> datetime:
    return datetime.now(UTC)


def _finish(task: Task, summary: service.SweepSummary) -> dict[str, Any]:
    dispatch(summary.effects)
    if summary.interrupted is not None:
        # Every removal done so far is committed; the retry picks up the rest.
        countdown = retry_countdown(summary.interrupted, task.request.retries, cap=MAX_COUNTDOWN)
        log.warning("sweep_retry", countdown=round(countdown, 2), error=str(summary.interrupted))
        raise task.retry(countdown=countdown, max_retries=SWEEP_MAX_RETRIES)
    return summary.report()


@shared_task(name=task_names.EXPIRE_SUBSCRIPTIONS, bind=True, **DB_RETRYING)
def expire_subscriptions(self: Task, every: int | None = None) -> dict[str, Any]:
    if not should_run(self, every):
        return {"skipped": True}
    return _finish(self, service.expire_subscriptions(context(), now=_now(), dispatch=dispatch))


@shared_task(name=task_names.CONFIRM_SWEEP_HOLD, bind=True, **DB_RETRYING)
def confirm_hold(self: Task, admin_id: int) -> dict[str, Any]:
    confirmation = service.confirm_hold(context(), admin_id=admin_id, now=_now(),
                                        dispatch=dispatch)
    if confirmation.summary is None:
        return {"outcome": confirmation.outcome}
    return {"outcome": confirmation.outcome, **_finish(self, confirmation.summary)}


@shared_task(name=task_names.SEND_RENEWAL_REMINDERS, bind=True, **DB_RETRYING)
def send_renewal_reminders(self: Task, every: int | None = None) -> dict[str, int]:
    if not should_run(self, every):
        return {"reminded": 0}
    return {"reminded": service.remind_in_batches(context(), now=_now(), dispatch=dispatch)}
