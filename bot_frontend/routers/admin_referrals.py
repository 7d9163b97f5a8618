"""Admin commands about referrers: /refree_add, /refree_remove, /export_refree, /payouts."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from sqlalchemy.orm import Session, sessionmaker

from bot_frontend import admin_args, keyboards, queries
from bot_frontend.db import read
from bot_frontend.middlewares import AdminOnly
from bot_frontend.producer import Tasks
from infra import task_names, texts


async def add_referrer(message: Message, command: CommandObject, tasks: Tasks,
                       sessions: sessionmaker[Session]) -> None:
    try:
        user_word, pct_word = admin_args.words(command.args)
        user_id, pct = admin_args.user_id(user_word), admin_args.pct(pct_word)
    except ValueError:
        await message.answer(texts.USAGE_REFREE_ADD)
        return
    if await admin_args.known_user(message, sessions, user_id):
        await admin_args.queue(message, tasks, task_names.ADMIN_ADD_REFERRER, user_id, str(pct))


async def remove_referrer(message: Message, command: CommandObject, tasks: Tasks,
                          sessions: sessionmaker[Session]) -> None:
    try:
        (word,) = admin_args.words(command.args)
        user_id = admin_args.user_id(word)
    except ValueError:
        await message.answer(texts.USAGE_REFREE_REMOVE)
        return
    if await admin_args.known_user(message, sessions, user_id):
        await admin_args.queue(message, tasks, task_names.ADMIN_REMOVE_REFERRER, user_id)


async def export_referrers(message: Message, command: CommandObject, tasks: Tasks) -> None:
    if await admin_args.refuse_arguments(message, command):
        return
    await admin_args.queue(message, tasks, task_names.ADMIN_EXPORT_REFERRERS)


async def payouts(message: Message, command: CommandObject,
                  sessions: sessionmaker[Session]) -> None:
    if await admin_args.refuse_arguments(message, command):
        return
    open_requests = await read(sessions, queries.open_payouts)
    if not open_requests:
        await message.answer(texts.NO_OPEN_PAYOUTS)
        return
    lines = [line for p in open_requests for line in (
        texts.payout_line(request_id=p.request_id, referrer_id=p.referrer_id, amount=p.amount,
                          network=p.network, wallet=p.wallet, created_at=p.created_at),
        *texts.payout_flag_lines(p.flags))]
    await message.answer("\n".join(lines), reply_markup=keyboards.decide_payouts(open_requests))


async def decide(callback: CallbackQuery, callback_data: keyboards.DecidePayout,
                 tasks: Tasks) -> None:
    await tasks.send(task_names.DECIDE_PAYOUT, callback_data.request_id, callback_data.approve,
                     callback.from_user.id, callback.data or "")
    await callback.answer(texts.ADMIN_QUEUED)


def create_router() -> Router:
    """A fresh router with this module's handlers (a router joins one dispatcher only)."""
    router = Router(name="admin_referrals")
    router.message.middleware(AdminOnly())
    router.callback_query.middleware(AdminOnly())
    router.message.register(add_referrer, Command("refree_add"))
    router.message.register(remove_referrer, Command("refree_remove"))
    router.message.register(export_referrers, Command("export_refree"))
    router.message.register(payouts, Command("payouts"))
    router.callback_query.register(decide, keyboards.DecidePayout.filter())
    return router
