"""The guard every periodic task runs first: one run per interval, however many beats fire it."""

from __future__ import annotations

from datetime import UTC, datetime

from celery import Task

from infra.logging import get_logger
from models.schedule import claim_scheduled_run
from workers.context import context

log = get_logger("workers.scheduling")


def should_run(task: Task, every: int | None) -> bool:
    """False when beat fired `task` and another run started less than half an interval ago.

    `every` comes only from beat's schedule (infra/celery_config.beat_schedule): a run an
    operator starts by hand, and any retry of a run that went ahead, always run.
    """
    if every is None or task.request.retries:
        return True
    with context().sessions.begin() as session:
        claimed = claim_scheduled_run(session, task=task.name, now=datetime.now(UTC),
                                      every=every)
    if not claimed:
        log.info("scheduled_run_skipped", task=task.name, every=every)
    return claimed
