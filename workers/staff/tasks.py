"""Celery tasks behind /role and /resend, and the command menu of a staff member.

Thin: build the command, run one use case through run_admin_command (which checks the
actor's role first), dispatch. A role change then refreshes the member's menu in a task of
its own, which reads the role as it is then (two changes in a row end with the last one's).
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from infra import task_names, texts
from infra.celery_config import MAX_COUNTDOWN
from infra.i18n import use_language
from infra.logging import get_logger
from infra.telegram import TelegramFailure, TelegramTransient, retry_countdown
from models.domain import roles
from models.staff import role_of
from workers import lifecycle  # noqa: F401 - registers the per-process hooks
from workers.admin.service import Command
from workers.admin.tasks import run_admin_command
from workers.context import context
from workers.languages import language_of
from workers.retrying import DB_RETRYING
from workers.staff import service

log = get_logger("workers.staff")


@shared_task(name=task_names.ADMIN_SET_ROLE, **DB_RETRYING)
def set_role(command: dict[str, Any], user_id: int, role: str) -> int:
    ctx, cmd = context(), Command(**command)
    granted = roles.parse_role(role)
    done = run_admin_command(cmd, lambda session, now: service.set_role(
        session, command=cmd, user_id=user_id, role=granted, owners=ctx.settings.admins,
        now=now), action="role")
    if isinstance(done, service.RoleDone) and done.changed:
        # After the commit; the refresh reads the role as it is when it runs.
        ctx.send(task_names.REFRESH_STAFF_MENU, user_id)
    return len(done.effects)


@shared_task(name=task_names.ADMIN_RESEND_INVITE, **DB_RETRYING)
def resend_invite(command: dict[str, Any], user_id: int) -> int:
    ctx, cmd = context(), Command(**command)
    done = run_admin_command(cmd, lambda session, now: service.resend(
        session, command=cmd, user_id=user_id, chat_id=ctx.settings.channel,
        grace=ctx.settings.grace, now=now), action="resend")
    return len(done.effects)


def staff_menu(role: roles.Role) -> list[tuple[str, str]]:
    """What a member with `role` sees: the subscriber commands, then those of their role."""
    return [*texts.COMMAND_DESCRIPTIONS.items(),
            *((name, f"/{name}") for name in roles.commands_of(role))]


@shared_task(name=task_names.REFRESH_STAFF_MENU, bind=True, **DB_RETRYING)
def refresh_staff_menu(self: Task, user_id: int) -> str:
    """Set the member's own menu to their role's commands now (none: the default menu), in
    the member's language (the menu of their own chat is for them alone)."""
    ctx = context()
    with ctx.sessions() as session:
        role = role_of(session, user_id, owners=ctx.settings.admins)
        language = language_of(session, user_id)
    try:
        if role is None:
            ctx.telegram.delete_commands(chat_id=user_id)
        else:
            with use_language(language):
                commands = staff_menu(role)
            ctx.telegram.set_commands(chat_id=user_id, commands=commands)
    except TelegramTransient as failure:
        raise self.retry(countdown=retry_countdown(failure, self.request.retries,
                                                   cap=MAX_COUNTDOWN)) from None
    except TelegramFailure as refused:
        # The commands work without the menu; a refused menu is no reason to retry for ever.
        log.warning("staff_menu_refused", user_id=user_id, error=refused.description)
        return "refused"
    return role.value if role else roles.NONE
