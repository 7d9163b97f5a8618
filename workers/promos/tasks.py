"""Celery tasks for promo and gift codes: a subscriber redeeming one, and the admin commands.

The admin tasks check again that the actor is an admin (the broker is not trusted to say so),
exactly like workers/admin/tasks.py; the bot has already parsed and checked the arguments, and
the task parses the `/promo_add` arguments again from the text, so a forged message cannot
create a code the parser would refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from celery import shared_task
from sqlalchemy.orm import Session

from infra import task_names
from infra.logging import get_logger
from models.domain import promo as rules
from workers import lifecycle  # noqa: F401 - registers the per-process hooks
from workers.admin import service as admin
from workers.admin.tasks import run_admin_command
from workers.context import context
from workers.dispatch import dispatch
from workers.promos import admin as promo_admin
from workers.promos import service
from workers.retrying import DB_RETRYING

log = get_logger("workers.promos")


def _now() -> datetime:
    return datetime.now(UTC)


@shared_task(name=task_names.REDEEM_PROMO, **DB_RETRYING)
def redeem(user: int | dict[str, Any], code: str, request_key: str) -> int:
    """`user` is the Telegram profile the bot saw; `request_key` keys the one answer."""
    ctx = context()
    with ctx.sessions.begin() as session:
        effects = service.redeem(session, user=user, code=code, request_key=request_key,
                                 chat_id=ctx.settings.channel, now=_now())
    dispatch(effects)
    return len(effects)


def _run(command: admin.Command, use_case: Callable[[Session, datetime], admin.Done], *,
         action: str) -> int:
    """Authorize, apply and dispatch as every admin command does (workers/admin/tasks.py)."""
    return len(run_admin_command(command, use_case, action=action).effects)


@shared_task(name=task_names.ADMIN_PROMO_ADD, **DB_RETRYING)
def promo_add(command: dict[str, Any], args: str) -> int:
    cmd = admin.Command(**command)

    def add(session: Session, now: datetime) -> admin.Done:
        try:
            spec = rules.parse_promo_add(args, now=now)
        except rules.BadPromoArguments as bad:
            # Checked by the bot already: only a forged or stale message gets here.
            log.error("promo_add_bad_arguments", problem=bad.message)
            return admin.Done()
        return promo_admin.add(session, command=cmd, spec=spec, now=now)

    return _run(cmd, add, action="promo_add")


@shared_task(name=task_names.ADMIN_PROMO_SET_ACTIVE, **DB_RETRYING)
def promo_set_active(command: dict[str, Any], code: str, active: bool) -> int:
    cmd = admin.Command(**command)
    return _run(cmd, lambda session, now: promo_admin.set_active(
        session, command=cmd, code=code, active=active, now=now),
        action="promo_on" if active else "promo_off")


@shared_task(name=task_names.ADMIN_PROMO_DELETE, **DB_RETRYING)
def promo_delete(command: dict[str, Any], code: str) -> int:
    cmd = admin.Command(**command)
    return _run(cmd, lambda session, now: promo_admin.delete(
        session, command=cmd, code=code, now=now), action="promo_delete")
