"""/myplan: the subscriber's status, paid-through date and days left; renew; resend invite;
switch plan (the plans to switch to, the quote, Confirm or Cancel).

With bundles (several chats configured) it shows one line per chat the subscriber has or had,
each with its own resend-invite button while they hold it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import F, Router
from aiogram.filters import Command, MagicData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.orm import Session, sessionmaker

from bot_frontend import keyboards, switch_queries
from bot_frontend.db import read
from bot_frontend.middlewares import TermsAccepted
from bot_frontend.producer import Tasks
from bot_frontend.routers.start import profile
from infra import task_names, texts
from infra.settings import Settings
from models.domain.switch import SwitchRefusal

# The names of the texts, read when answering (a text read at import would stay English).
SWITCH_REFUSALS = {
    SwitchRefusal.PLAN_GONE: "SWITCH_PLAN_GONE",
    SwitchRefusal.NOTHING_TO_SWITCH: "SWITCH_NOTHING",
    SwitchRefusal.SAME_PLAN: "SWITCH_SAME_PLAN",
}


async def my_plan(message: Message, sessions: sessionmaker[Session],
                  settings: Settings) -> None:
    assert message.from_user is not None
    user_id = message.from_user.id
    if len(settings.chats) > 1:
        await _my_bundle(message, sessions, settings, user_id=user_id)
        return
    status, can_switch = await read(sessions, switch_queries.my_plan, user_id=user_id,
                                    chat_id=settings.channel, grace=settings.grace,
                                    now=datetime.now(UTC))
    await message.answer(
        texts.my_plan(status=status.status.value, paid_through=status.paid_through,
                      days_left=status.days_left, plan_title=status.plan_title),
        reply_markup=keyboards.my_plan(covered=status.covered, can_switch=can_switch),
    )


async def _my_bundle(message: Message, sessions: sessionmaker[Session], settings: Settings,
                     *, user_id: int) -> None:
    # CHANNEL_ID first (trials and admin grants open it), then the plans' chats by id.
    chats = [settings.channel, *sorted(settings.chats - {settings.channel})]
    statuses, can_switch = await read(sessions, switch_queries.my_bundle, user_id=user_id,
                                      chats=chats, grace=settings.grace, now=datetime.now(UTC))
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
                                          if status.covered], can_switch=can_switch),
    )


async def resend_invite(callback: CallbackQuery, tasks: Tasks) -> None:
    # A fresh key per tap: the worker checks the access still covers now before sending.
    await tasks.send(task_names.RESEND_INVITE, callback.from_user.id, callback.id)
    await callback.answer(texts.RESENDING_INVITE)


async def _say(callback: CallbackQuery, text: str,
               markup: InlineKeyboardMarkup | None = None) -> None:
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.answer(text, reply_markup=markup)


async def switch_targets(callback: CallbackQuery, sessions: sessionmaker[Session]) -> None:
    offers = await read(sessions, switch_queries.targets, user_id=callback.from_user.id,
                        now=datetime.now(UTC))
    if not offers:
        await _say(callback, texts.SWITCH_NO_OTHER_PLAN)
        return
    await _say(callback, texts.SWITCH_CHOOSE, keyboards.switch_targets(offers))


async def show_quote(callback: CallbackQuery, callback_data: keyboards.SwitchTo,
                     sessions: sessionmaker[Session]) -> None:
    found = await read(sessions, switch_queries.quote, user_id=callback.from_user.id,
                       plan_code=callback_data.code, now=datetime.now(UTC))
    if isinstance(found, SwitchRefusal):
        await _say(callback, getattr(texts, SWITCH_REFUSALS[found]))
        return
    await _say(callback, texts.switch_quote(
        current=found.current, new=found.new, credit=found.credit_usd, pay=found.pay_usd,
        days_before=found.days_before, days_after=found.days_after,
        paid_through_after=found.paid_through_after),
        keyboards.confirm_switch(code=callback_data.code, stamp=found.stamp))


async def confirm_switch(callback: CallbackQuery, callback_data: keyboards.ConfirmSwitch,
                         tasks: Tasks) -> None:
    # The worker checks the quote again (the stamp is the access it was made on) and answers;
    # the callback id keys that answer, so a redelivered task answers once.
    await tasks.send(task_names.SWITCH_PLAN, profile(callback.from_user), callback_data.code,
                     callback_data.stamp, callback.id)
    await callback.answer(texts.SWITCH_WORKING)
    if isinstance(callback.message, Message):
        await callback.message.edit_reply_markup(reply_markup=None)


async def cancel_switch(callback: CallbackQuery) -> None:
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.edit_text(texts.SWITCH_CANCELED, reply_markup=None)

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
    router.callback_query.register(switch_targets, keyboards.SwitchPlans.filter())
    router.callback_query.register(show_quote, keyboards.SwitchTo.filter())
    router.callback_query.register(confirm_switch, keyboards.ConfirmSwitch.filter())
    router.callback_query.register(cancel_switch, keyboards.CancelSwitch.filter())
    router.callback_query.register(resend_chat_invite, keyboards.ResendChatInvite.filter())
    return router
