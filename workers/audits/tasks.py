"""Celery tasks of the membership audit: start and fix (an admin waits: default queue) and the
checking pages (bulk queue), each a thin call of one use case in `service`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from celery import Task, shared_task

from infra import task_names
from infra.celery_config import MAX_COUNTDOWN
from infra.telegram import TelegramTransient, retry_countdown
from workers import lifecycle  # noqa: F401 - registers the per-process hooks
from workers.admin.service import Command
from workers.audits import service
from workers.context import context
from workers.dispatch import dispatch
from workers.retrying import DB_RETRYING


def _now() -> datetime:
    return datetime.now(UTC)


@shared_task(name=task_names.AUDIT_START, **DB_RETRYING)
def start(command: dict[str, Any]) -> int | None:
    ctx = context()
    with ctx.sessions.begin() as session:
        outcome = service.start(session, command=Command(**command), settings=ctx.settings,
                                now=_now())
    dispatch(outcome.effects)
    if outcome.run is not None:
        ctx.send(task_names.AUDIT_CHECK_PAGE, outcome.run)
    return outcome.run


@shared_task(name=task_names.AUDIT_CHECK_PAGE, bind=True, **DB_RETRYING)
def check_page(self: Task, run_id: int) -> int:
    ctx = context()
    page = service.check_page(ctx, run_id, clock=_now)
    dispatch(page.effects)
    if page.report is not None:
        try:
            service.send_report(ctx, page.report, now=_now())
        except TelegramTransient as failure:
            raise self.retry(countdown=retry_countdown(failure, self.request.retries,
                                                       cap=MAX_COUNTDOWN)) from None
    if page.next_in is not None:
        ctx.send_later(task_names.AUDIT_CHECK_PAGE, run_id,
                       countdown=min(page.next_in, MAX_COUNTDOWN))
    return page.checked


@shared_task(name=task_names.AUDIT_FIX, bind=True, **DB_RETRYING)
def fix(self: Task, command: dict[str, Any], confirm: bool = False) -> dict[str, int]:
    ctx = context()
    result = service.fix(ctx, command=Command(**command), confirm=confirm, clock=_now)
    dispatch(result.effects)
    if result.interrupted is not None:
        raise self.retry(countdown=retry_countdown(result.interrupted, self.request.retries,
                                                   cap=MAX_COUNTDOWN))
    return dict(result.outcomes)
