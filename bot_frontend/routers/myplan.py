"""/myplan: the subscriber's status, paid-through date and days left; renew; resend invite.

With bundles (several chats configured) it shows one line per chat the subscriber has or had,
each with its own resend-invite button while they hold it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import F, Router
from aiogram.filters import Command, MagicData
from aiogram.types import CallbackQuery, Message
from sqlalchemy.orm import Session, sessionmaker

from bot_frontend import keyboards, queries
from bot_frontend.db import read
from bot_frontend.middlewares import TermsAccepted
from bot_frontend.producer import Tasks
from infra import task_names, texts
from infra.settings import Settings


async def my_plan(message: Message, sessions: sessionmaker[Session],
                  settings: Settings) -> None:
    assert message.from_user is not None
    user_id = message.from_user.id
    if len(settings.chats) > 1:
        await _my_bundle(message, sessions, settings, user_id=user_id)
        return
    status = await read(sessions, queries.plan_status, user_id=user_id,
                        chat_id=settings.channel, grace=settings.grace, now=datetime.now(UTC))
    await message.answer(
        texts.my_plan(status=status.status.value, paid_through=status.paid_through,
                      days_left=status.days_left, plan_title=status.plan_title),
        reply_markup=keyboards.my_plan(covered=status.covered),
    )


async def _my_bundle(message: Message, sessions: sessionmaker[Session], settings: Settings,
                     *, user_id: int) -> None:
    # CHANNEL_ID first (trials and admin grants open it), then the plans' chats by id.
    chats = [settings.channel, *sorted(settings.chats - {settings.channel})]
    statuses = await read(sessions, queries.chat_statuses, user_id=user_id, chats=chats,
                          grace=settings.grace, now=datetime.now(UTC))
    held = [(chat_id, status) for chat_id, status in statuses if status.paid_through] or \
        statuses[:1]
    best = max((status for _, status in held),
               key=lambda status: (status.covered, status.paid_through or datetime.min.replace(
                   tzinfo=UTC)))
    names = {chat_id: texts.chat_name(chat_id=chat_id, main=chat_id == settings.channel)
             for chat_id, _ in held}
    lines = [texts.my_plan_chat(name=names[chat_id], status=status.status.value,
                                paid_through=status.paid_through) for chat_id, status in held]
    await message.answer(
        texts.my_bundle(summary=texts.my_plan(status=best.status.value,
                                              paid_through=best.paid_through,
                                              days_left=best.days_left,
                                              plan_title=best.plan_title), chats=lines),
        reply_markup=keyboards.my_bundle([(chat_id, names[chat_id]) for chat_id, status in held
                                          if status.covered]),
    )


async def resend_invite(callback: CallbackQuery, tasks: Tasks) -> None:
    # A fresh key per tap: the worker checks the access still covers now before sending.
    await tasks.send(task_names.RESEND_INVITE, callback.from_user.id, callback.id)
    await callback.answer(texts.RESENDING_INVITE)


async def resend_chat_invite(callback: CallbackQuery, callback_data: keyboards.ResendChatInvite,
                             tasks: Tasks) -> None:
    # The chat is only a wish: the worker sends an invite only where access covers now.
    await tasks.send(task_names.RESEND_INVITE, callback.from_user.id, callback.id,
                     callback_data.chat)
    await callback.answer(texts.RESENDING_INVITE)


def create_router() -> Router:
    """A fresh router with this module's handlers (a router joins one dispatcher only)."""
    router = Router(name="myplan")
    router.message.middleware(TermsAccepted())
    router.message.register(my_plan, Command("myplan"), MagicData(F.event.from_user))
    router.callback_query.register(resend_invite, keyboards.ResendInvite.filter())
    router.callback_query.register(resend_chat_invite, keyboards.ResendChatInvite.filter())
    return router
