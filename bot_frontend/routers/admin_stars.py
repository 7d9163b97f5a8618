"""/refund <user_id>: give the user's latest Telegram Stars payment back and take its days.

The arguments and the user are checked here; the refund (claimed once, Telegram called once,
the days and the commission taken back) is the task's.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.orm import Session, sessionmaker

from bot_frontend import admin_args
from bot_frontend.middlewares import AdminOnly
from bot_frontend.producer import Tasks
from infra import task_names, texts


async def refund(message: Message, command: CommandObject, tasks: Tasks,
                 sessions: sessionmaker[Session]) -> None:
    try:
        (word,) = admin_args.words(command.args)
        user_id = admin_args.user_id(word)
    except ValueError:
        await message.answer(texts.USAGE_REFUND)
        return
    if await admin_args.known_user(message, sessions, user_id):
        await admin_args.queue(message, tasks, task_names.ADMIN_STARS_REFUND, user_id)


def create_router() -> Router:
    """A fresh router with this module's handlers (a router joins one dispatcher only)."""
    router = Router(name="admin_stars")
    router.message.middleware(AdminOnly())
    router.message.register(refund, Command("refund"))
    return router
