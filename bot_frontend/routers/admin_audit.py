"""/audit, /audit fix, /audit fix confirm: the membership audit, run by the workers.

The arguments are checked here; everything else (one run at a time, its progress, the breaker
on the fix) is the tasks', which answer the admin themselves.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot_frontend import admin_args
from bot_frontend.middlewares import AdminOnly
from bot_frontend.producer import Tasks
from infra import task_names, texts


async def audit(message: Message, command: CommandObject, tasks: Tasks) -> None:
    words = admin_args.words(command.args)
    if not words:
        await admin_args.queue(message, tasks, task_names.AUDIT_START)
    elif words in (["fix"], ["fix", "confirm"]):
        await admin_args.queue(message, tasks, task_names.AUDIT_FIX, len(words) == 2)
    else:
        await message.answer(texts.USAGE_AUDIT)


def create_router() -> Router:
    """A fresh router with this module's handler (a router joins one dispatcher only)."""
    router = Router(name="admin_audit")
    router.message.middleware(AdminOnly())
    router.message.register(audit, Command("audit"))
    return router
