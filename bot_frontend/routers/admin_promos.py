"""Admin commands about promo and gift codes: /promo_add, /promos, /promo_off, /promo_on,
/promo_delete.

Arguments are checked here, each problem named with what is expected, and nothing is sent for
a command that does not fit; creating, pausing and deleting are the tasks'.
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
from bot_frontend.promo_queries import PromoCheck, promo_check, promo_list
from infra import task_names, texts
from models.domain import promo as rules


async def add(message: Message, command: CommandObject, tasks: Tasks,
              sessions: sessionmaker[Session]) -> None:
    try:
        spec = rules.parse_promo_add(command.args, now=datetime.now(UTC))
    except rules.BadPromoArguments as bad:
        await message.answer(texts.promo_bad_argument(problem=bad.reason.value, word=bad.word))
        return
    check = await read(sessions, promo_check, code=spec.code)
    unknown = rules.unknown_plans(spec, plans_on_sale=check.plans_on_sale)
    if unknown:
        await message.answer(texts.promo_unknown_plans(plans=unknown,
                                                       on_sale=sorted(check.plans_on_sale)))
    elif check.exists:
        await message.answer(texts.promo_exists(code=spec.code))
    else:
        await admin_args.queue(message, tasks, task_names.ADMIN_PROMO_ADD, command.args or "")


async def promos(message: Message, command: CommandObject,
                 sessions: sessionmaker[Session]) -> None:
    if await admin_args.refuse_arguments(message, command):
        return
    rows = await read(sessions, promo_list, now=datetime.now(UTC))
    await message.answer("\n".join(texts.promo_line(**row) for row in rows) or texts.NO_PROMOS)


async def _existing_code(message: Message, command: CommandObject,
                         sessions: sessionmaker[Session]) -> str | None:
    """The code the command names, if it exists; otherwise say why not and return None."""
    try:
        (word,) = admin_args.words(command.args)
        code = rules.normalize_code(word)
    except ValueError:
        await message.answer(texts.usage_promo_code(command=command.command))
        return None
    check: PromoCheck = await read(sessions, promo_check, code=code)
    if not check.exists:
        await message.answer(texts.promo_not_found(code=code))
        return None
    return code


async def pause(message: Message, command: CommandObject, tasks: Tasks,
                sessions: sessionmaker[Session]) -> None:
    if (code := await _existing_code(message, command, sessions)) is not None:
        await admin_args.queue(message, tasks, task_names.ADMIN_PROMO_SET_ACTIVE, code, False)


async def resume(message: Message, command: CommandObject, tasks: Tasks,
                 sessions: sessionmaker[Session]) -> None:
    if (code := await _existing_code(message, command, sessions)) is not None:
        await admin_args.queue(message, tasks, task_names.ADMIN_PROMO_SET_ACTIVE, code, True)


async def delete(message: Message, command: CommandObject, tasks: Tasks,
                 sessions: sessionmaker[Session]) -> None:
    if (code := await _existing_code(message, command, sessions)) is not None:
        await admin_args.queue(message, tasks, task_names.ADMIN_PROMO_DELETE, code)


def create_router() -> Router:
    """A fresh router with this module's handlers (a router joins one dispatcher only)."""
    router = Router(name="admin_promos")
    router.message.middleware(AdminOnly())
    router.message.register(add, Command("promo_add"))
    router.message.register(promos, Command("promos"))
    router.message.register(pause, Command("promo_off"))
    router.message.register(resume, Command("promo_on"))
    router.message.register(delete, Command("promo_delete"))
    return router
