"""/myplan: the subscriber's status, paid-through date and days left; renew; resend invite."""

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
    status = await read(sessions, queries.plan_status, user_id=user_id,
                        chat_id=settings.channel, grace=settings.grace, now=datetime.now(UTC))
    await message.answer(
        texts.my_plan(status=status.status.value, paid_through=status.paid_through,
                      days_left=status.days_left, plan_title=status.plan_title),
        reply_markup=keyboards.my_plan(covered=status.covered),
    )


async def resend_invite(callback: CallbackQuery, tasks: Tasks) -> None:
    # A fresh key per tap: the worker checks the access still covers now before sending.
    await tasks.send(task_names.RESEND_INVITE, callback.from_user.id, callback.id)
    await callback.answer(texts.RESENDING_INVITE)


def create_router() -> Router:
    """A fresh router with this module's handlers (a router joins one dispatcher only)."""
    router = Router(name="myplan")
    router.message.middleware(TermsAccepted())
    router.message.register(my_plan, Command("myplan"), MagicData(F.event.from_user))
    router.callback_query.register(resend_invite, keyboards.ResendInvite.filter())
    return router
