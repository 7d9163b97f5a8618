"""Staff commands: /role and /roles (owners), /user and /resend (every role).

Arguments are checked here, each problem named, and nothing is sent for a command that does
not fit: an unknown user, an ADMIN_IDS owner, or oneself are answered at once. The change is
the task's, which checks the role again; /roles and /user are quick reads answered here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.orm import Session, sessionmaker

from bot_frontend import admin_args
from bot_frontend.db import read
from bot_frontend.middlewares import AdminOnly
from bot_frontend.producer import Tasks
from bot_frontend.staff_queries import user_card
from infra import task_names, texts
from infra.settings import Settings
from models import staff
from models.domain import roles


async def role(message: Message, command: CommandObject, tasks: Tasks, settings: Settings,
               sessions: sessionmaker[Session]) -> None:
    try:
        user_word, role_word = admin_args.words(command.args)
        user_id = admin_args.user_id(user_word)
    except ValueError:
        await message.answer(texts.USAGE_ROLE)
        return
    try:
        granted = roles.parse_role(role_word)
    except roles.BadRoleArguments:
        await message.answer(texts.role_not_a_role(word=role_word))
        return
    assert message.from_user is not None
    refusal = roles.check_change(actor_id=message.from_user.id, target_id=user_id,
                                 owners=settings.admins)
    if refusal is roles.RoleRefusal.FIXED_OWNER:
        await message.answer(texts.role_fixed_owner(user_id=user_id))
    elif refusal is roles.RoleRefusal.SELF:
        await message.answer(texts.ROLE_SELF)
    elif await admin_args.known_user(message, sessions, user_id):
        await admin_args.queue(message, tasks, task_names.ADMIN_SET_ROLE, user_id,
                               granted.value if granted else roles.NONE)


async def list_roles(message: Message, command: CommandObject, settings: Settings,
                     sessions: sessionmaker[Session]) -> None:
    if await admin_args.refuse_arguments(message, command):
        return
    members = await read(sessions, staff.members, owners=settings.admins)
    lines = [texts.role_line(user_id=m.user_id, name=m.name, role=m.role.value,
                             granted_by=m.granted_by, granted_at=m.granted_at) for m in members]
    await message.answer("\n".join(lines) or texts.NO_STAFF)


async def user(message: Message, command: CommandObject, settings: Settings,
               sessions: sessionmaker[Session]) -> None:
    try:
        (word,) = admin_args.words(command.args)
        user_id = admin_args.user_id(word)
    except ValueError:
        await message.answer(texts.USAGE_USER)
        return
    card = await read(sessions, user_card, user_id=user_id, grace=settings.grace,
                      now=datetime.now(UTC))
    if card is None:
        await message.answer(texts.unknown_user(user_id=user_id))
        return
    lines = [texts.user_header(user_id=card.user_id, name=card.name, username=card.username)]
    lines += [texts.user_status_line(chat_id=c.chat_id, status=c.status.value,
                                     paid_through=c.paid_through, trial_used=card.trial_used)
              for c in card.chats]
    lines += [texts.user_payment_line(paid_at=p.paid_at, amount=str(p.amount), plan=p.plan)
              for p in card.payments] or [texts.USER_NO_PAYMENTS]
    await message.answer("\n".join(lines))


async def resend(message: Message, command: CommandObject, tasks: Tasks,
                 sessions: sessionmaker[Session]) -> None:
    try:
        (word,) = admin_args.words(command.args)
        user_id = admin_args.user_id(word)
    except ValueError:
        await message.answer(texts.USAGE_RESEND)
        return
    if await admin_args.known_user(message, sessions, user_id):
        await admin_args.queue(message, tasks, task_names.ADMIN_RESEND_INVITE, user_id)


def create_router() -> Router:
    """A fresh router with this module's handlers (a router joins one dispatcher only)."""
    router = Router(name="admin_staff")
    router.message.middleware(AdminOnly())
    router.message.register(role, Command("role"))
    router.message.register(list_roles, Command("roles"))
    router.message.register(user, Command("user"))
    router.message.register(resend, Command("resend"))
    return router
