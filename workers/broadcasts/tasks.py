"""Celery tasks of broadcasts: start, stop and resume (an admin waits: default queue) and the
sending pages (bulk queue), each a thin call of one use case in `service`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from celery import Task, shared_task

from infra import task_names
from infra.celery_config import MAX_COUNTDOWN
from infra.logging import get_logger
from models.domain.segments import BadAudience, BadMessage
from workers import lifecycle  # noqa: F401 - registers the per-process hooks
from workers.admin.service import Command
from workers.broadcasts import service
from workers.context import WorkerContext, context
from workers.dispatch import dispatch
from workers.languages import speaking_to
from workers.retrying import DB_RETRYING

log = get_logger("workers.broadcasts")


def _now() -> datetime:
    return datetime.now(UTC)


def _carry_on(ctx: WorkerContext, outcome: service.Outcome) -> None:
    dispatch(outcome.effects)
    if outcome.run is not None:
        for _ in range(service.CHAINS):
            ctx.send(task_names.BROADCAST_SEND_PAGE, outcome.run)


@shared_task(name=task_names.BROADCAST_START, **DB_RETRYING)
def start(command: dict[str, Any], draft: dict[str, Any]) -> int | None:
    ctx, cmd = context(), Command(**command)
    try:
        confirmed = service.draft_from(draft)
    except (BadAudience, BadMessage, KeyError, ValueError) as bad:
        log.error("broadcast_refused", actor_id=cmd.actor_id, error=str(bad))
        return None
    settings = ctx.settings
    with ctx.sessions.begin() as session, speaking_to(session, cmd.actor_id):
        outcome = service.start(session, command=cmd, draft=confirmed, admins=settings.admins,
                                chat_id=settings.channel, grace=settings.grace, now=_now())
    _carry_on(ctx, outcome)
    return outcome.run


@shared_task(name=task_names.BROADCAST_STOP, **DB_RETRYING)
def stop(command: dict[str, Any], broadcast_id: int) -> None:
    ctx, cmd = context(), Command(**command)
    with ctx.sessions.begin() as session, speaking_to(session, cmd.actor_id):
        outcome = service.stop(session, command=cmd, broadcast_id=broadcast_id,
                               admins=ctx.settings.admins, now=_now())
    _carry_on(ctx, outcome)


@shared_task(name=task_names.BROADCAST_RESUME, **DB_RETRYING)
def resume(command: dict[str, Any], broadcast_id: int) -> int | None:
    ctx, cmd = context(), Command(**command)
    with ctx.sessions.begin() as session, speaking_to(session, cmd.actor_id):
        outcome = service.resume(session, command=cmd, broadcast_id=broadcast_id,
                                 admins=ctx.settings.admins, now=_now())
    _carry_on(ctx, outcome)
    return outcome.run


@shared_task(name=task_names.BROADCAST_SEND_PAGE, bind=True, **DB_RETRYING)
def send_page(self: Task, broadcast_id: int) -> int:
    ctx = context()
    page = service.send_page(ctx, broadcast_id, clock=_now)
    dispatch(page.effects)
    if page.next_in is not None:
        ctx.send_later(task_names.BROADCAST_SEND_PAGE, broadcast_id,
                       countdown=min(page.next_in, MAX_COUNTDOWN))
    return page.sent
