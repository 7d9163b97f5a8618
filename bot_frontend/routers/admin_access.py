"""Admin commands about access: /activate, /edit, /export, /history, /sweep_confirm.

Arguments are checked here and an unknown user is reported before any task is sent; the
change itself, with its audit row, is the task's.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.orm import Session, sessionmaker

from bot_frontend import admin_args, queries
from bot_frontend.db import read
from bot_frontend.middlewares import AdminOnly
from bot_frontend.producer import Tasks
from infra import task_names, texts

EDIT_ACTIONS = ("remove", "marktrial", "resettrial")


async def activate(message: Message, command: CommandObject, tasks: Tasks,
                   sessions: sessionmaker[Session]) -> None:
    try:
        user_word, days_word = admin_args.words(command.args)
        user_id, days = admin_args.user_id(user_word), admin_args.days(days_word, minimum=1)
    except ValueError:
        await message.answer(texts.USAGE_ACTIVATE)
        return
    if await admin_args.known_user(message, sessions, user_id):
        await admin_args.queue(message, tasks, task_names.ADMIN_ACTIVATE, user_id, days)


async def edit(message: Message, command: CommandObject, tasks: Tasks,
               sessions: sessionmaker[Session]) -> None:
    words = admin_args.words(command.args)
    try:
        user_id = admin_args.user_id(words[0])
        action, rest = words[1], words[2:]
        if action == "setdays" and len(rest) == 1:
            days: int | None = admin_args.days(rest[0], minimum=0)
        elif action in EDIT_ACTIONS and not rest:
            days = None
        else:
            raise admin_args.BadArguments(action)
    except (ValueError, IndexError):
        await message.answer(texts.USAGE_EDIT)
        return
    if await admin_args.known_user(message, sessions, user_id):
        await admin_args.queue(message, tasks, task_names.ADMIN_EDIT, user_id, action, days)


async def export(message: Message, command: CommandObject, tasks: Tasks) -> None:
    if await admin_args.refuse_arguments(message, command):
        return
    await admin_args.queue(message, tasks, task_names.ADMIN_EXPORT_USERS)


async def history(message: Message, command: CommandObject,
                  sessions: sessionmaker[Session]) -> None:
    try:
        (word,) = admin_args.words(command.args)
        user_id = admin_args.user_id(word)
    except ValueError:
        await message.answer(texts.USAGE_HISTORY)
        return
    entries = await read(sessions, queries.history, user_id=user_id)
    if not entries and not await admin_args.known_user(message, sessions, user_id):
        return
    lines = [texts.history_line(moment=e.created_at, action=e.action, source=e.source,
                                actor_id=e.actor_id, after=e.paid_through_after,
                                command=e.command)
             for e in entries]
    await message.answer("\n".join(lines) or texts.NO_HISTORY)


async def sweep_confirm(message: Message, command: CommandObject, tasks: Tasks) -> None:
    if await admin_args.refuse_arguments(message, command):
        return
    assert message.from_user is not None
    await tasks.send(task_names.CONFIRM_SWEEP_HOLD, message.from_user.id)
    await tasks.send(task_names.ADMIN_AUDIT, admin_args.command_of(message),
                     message.from_user.id, "sweep_confirm")
    await message.answer(texts.SWEEP_CONFIRM_SENT)


def create_router() -> Router:
    """A fresh router with this module's handlers (a router joins one dispatcher only)."""
    router = Router(name="admin_access")
    router.message.middleware(AdminOnly())
    router.message.register(activate, Command("activate"))
    router.message.register(edit, Command("edit"))
    router.message.register(export, Command("export"))
    router.message.register(history, Command("history"))
    router.message.register(sweep_confirm, Command("sweep_confirm"))
    return router
