"""Celery tasks behind the admin commands: parse nothing, call one admin use case, dispatch.

The bot has already checked the arguments and that the user exists; `command` is a dict with
the admin's id, the command text and a key unique to the admin's message. Every task but the
audit checks again that this id has a role allowed to run the command (models/domain/roles.py;
the broker is not trusted to say so).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from celery import Task, shared_task
from sqlalchemy.orm import Session

from infra import task_names, texts
from infra.celery_config import MAX_COUNTDOWN
from infra.logging import get_logger
from infra.telegram import TelegramTransient, retry_countdown
from workers import lifecycle  # noqa: F401 - registers the per-process hooks
from workers.admin import service
from workers.context import WorkerContext, context
from workers.dispatch import dispatch
from workers.languages import speaking_to
from workers.retrying import DB_RETRYING

log = get_logger("workers.admin")


def _now() -> datetime:
    return datetime.now(UTC)


def run_admin_command(command: service.Command,
                      use_case: Callable[[Session, datetime], service.Done], *,
                      action: str) -> service.Done:
    """Check the actor's role for `action` (models/domain/roles.py), apply, dispatch."""
    ctx = context()
    with ctx.sessions.begin() as session:
        now = _now()
        if not service.authorized(session, command=command, admins=ctx.settings.admins,
                                  action=action, now=now):
            log.warning("admin_task_refused", actor_id=command.actor_id, command=command.text)
            return service.Done()
        with speaking_to(session, command.actor_id):  # the answer is in the admin's language
            done = use_case(session, now)
    dispatch(done.effects)
    return done


@shared_task(name=task_names.ADMIN_AUDIT, **DB_RETRYING)
def audit(command: dict[str, Any], user_id: int, action: str,
          details: dict[str, Any] | None = None) -> None:
    with context().sessions.begin() as session:
        service.audit(session, command=service.Command(**command), user_id=user_id,
                      action=action, now=_now(), details=details)


@shared_task(name=task_names.ADMIN_ACTIVATE, **DB_RETRYING)
def activate(command: dict[str, Any], user_id: int, days: int) -> int:
    chat_id, cmd = context().settings.channel, service.Command(**command)
    done = run_admin_command(cmd, lambda session, now: service.activate(
        session, command=cmd, user_id=user_id, days=days, chat_id=chat_id, now=now),
        action="activate")
    return len(done.effects)


def _kick(task: Task, ctx: WorkerContext, *, command: service.Command,
          kick: service.Kick) -> None:
    try:
        effects = service.carry_out_kick(ctx, command=command, kick=kick, now=_now())
    except TelegramTransient as failure:
        raise task.retry(countdown=retry_countdown(failure, task.request.retries,
                                                   cap=MAX_COUNTDOWN)) from None
    dispatch(effects)


@shared_task(name=task_names.ADMIN_EDIT, bind=True, **DB_RETRYING)
def edit(self: Task, command: dict[str, Any], user_id: int, action: str,
         days: int | None = None) -> str:
    ctx = context()
    cmd, chat_id = service.Command(**command), ctx.settings.channel
    if action == "remove":
        done = run_admin_command(cmd, lambda session, now: service.remove(
            session, command=cmd, user_id=user_id, chat_id=chat_id, now=now), action="edit")
        if done.kick is not None:
            _kick(self, ctx, command=cmd, kick=done.kick)
    elif action == "setdays" and days is not None:
        run_admin_command(cmd, lambda session, now: service.set_days(
            session, command=cmd, user_id=user_id, days=days, chat_id=chat_id, now=now),
            action="edit")
    elif action in ("marktrial", "resettrial"):
        run_admin_command(cmd, lambda session, now: service.set_trial_used(
            session, command=cmd, user_id=user_id, used=action == "marktrial", now=now),
            action="edit")
    else:
        log.error("admin_edit_unknown_action", action=action)
        return "unknown action"
    return action


@shared_task(name=task_names.ADMIN_ADD_REFERRER, **DB_RETRYING)
def add_referrer(command: dict[str, Any], user_id: int, pct: str) -> None:
    cmd = service.Command(**command)
    run_admin_command(cmd, lambda session, now: service.add_referrer(
        session, command=cmd, user_id=user_id, pct=Decimal(pct), now=now), action="refree_add")


@shared_task(name=task_names.ADMIN_REMOVE_REFERRER, **DB_RETRYING)
def remove_referrer(command: dict[str, Any], user_id: int) -> None:
    cmd = service.Command(**command)
    run_admin_command(cmd, lambda session, now: service.remove_referrer(
        session, command=cmd, user_id=user_id, now=now), action="refree_remove")


def _send_export(task: Task, *, command: service.Command, name: str, action: str,
                 filename: str, caption: Callable[[], str],
                 build: Callable[[Session, datetime], bytes]) -> str:
    """`name` is the command's (what its role is checked for), `action` the history's."""
    ctx = context()
    with ctx.sessions.begin() as session:
        now = _now()
        if not service.authorized(session, command=command, admins=ctx.settings.admins,
                                  action=name, now=now):
            log.warning("admin_task_refused", actor_id=command.actor_id, command=command.text)
            return ""
        data = build(session, now)
        service.audit(session, command=command, user_id=command.actor_id, action=action,
                      now=now)
        with speaking_to(session, command.actor_id):
            said = caption()
    try:
        ctx.telegram.send_document(chat_id=command.actor_id, filename=filename, data=data,
                                   caption=said)
    except TelegramTransient as failure:
        raise task.retry(countdown=retry_countdown(failure, task.request.retries,
                                                   cap=MAX_COUNTDOWN)) from None
    return filename


@shared_task(name=task_names.ADMIN_EXPORT_USERS, bind=True, **DB_RETRYING)
def export_users(self: Task, command: dict[str, Any]) -> str:
    settings = context().settings
    return _send_export(
        self, command=service.Command(**command), name="export", action="admin_export_users",
        filename="users.csv", caption=lambda: texts.EXPORT_USERS_CAPTION,
        build=lambda session, now: service.users_csv(
            session, chat_id=settings.channel, grace=settings.grace, now=now),
    )


@shared_task(name=task_names.ADMIN_EXPORT_REFERRERS, bind=True, **DB_RETRYING)
def export_referrers(self: Task, command: dict[str, Any]) -> str:
    return _send_export(
        self, command=service.Command(**command), name="export_refree",
        action="admin_export_referrers",
        filename="referrers.csv", caption=lambda: texts.EXPORT_REFERRERS_CAPTION,
        build=lambda session, now: service.referrers_csv(session),
    )
