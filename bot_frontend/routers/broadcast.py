"""/broadcast (segment → message → preview → confirm) and /broadcast_status with Stop/Resume.

The conversation lives in the FSM storage like the payout one; the preview is the message
itself, sent back to the admin, and the recipient count is read with the very query the
worker writes the recipients with (models/broadcasts.py). Confirm sends one task; the
conversation's key makes a second press or a redelivery start nothing new.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, MagicData, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.orm import Session, sessionmaker

from bot_frontend import admin_args, keyboards
from bot_frontend.db import read
from bot_frontend.middlewares import STAFF_ACTION, AdminOnly, admin_command
from bot_frontend.producer import Tasks
from infra import task_names, texts
from infra.settings import Settings
from models import broadcasts
from models.domain import segments as rules

_DAYS = re.compile(r"[0-9]{1,3}")


class BroadcastForm(StatesGroup):
    segment = State()
    days = State()
    message = State()
    confirm = State()


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def segments_keyboard() -> InlineKeyboardMarkup:
    rows = [[_button(texts.segment_name(segment.value),
                     keyboards.SegmentChoice(segment=segment))] for segment in rules.Segment]
    return InlineKeyboardMarkup(inline_keyboard=[*rows, [_cancel()]])


def _cancel() -> InlineKeyboardButton:
    return _button(texts.CANCEL_BUTTON, keyboards.CancelBroadcast())


def url_keyboard(url_buttons: list[list[str]]) -> InlineKeyboardMarkup | None:
    """The broadcast's own buttons, one per row, as the recipients will see them."""
    if not url_buttons:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=title, url=url)] for title, url in url_buttons])


async def _edit(callback: CallbackQuery, text: str,
                reply_markup: InlineKeyboardMarkup | None = None) -> None:
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.edit_text(text, reply_markup=reply_markup)


async def begin(message: Message, command: CommandObject, state: FSMContext) -> None:
    if await admin_args.refuse_arguments(message, command):
        return
    await state.set_state(BroadcastForm.segment)
    await state.set_data({"key": f"{message.chat.id}:{message.message_id}",
                          "command": message.text or ""})
    await message.answer(texts.BROADCAST_CHOOSE_SEGMENT, reply_markup=segments_keyboard())


async def segment(callback: CallbackQuery, callback_data: keyboards.SegmentChoice,
                  state: FSMContext) -> None:
    chosen = callback_data.segment
    await state.update_data(segment=chosen.value, days=None)
    if chosen is rules.Segment.EXPIRING:
        await state.set_state(BroadcastForm.days)
        await _edit(callback, texts.BROADCAST_ASK_DAYS)
        return
    await state.set_state(BroadcastForm.message)
    await _edit(callback, texts.BROADCAST_ASK_MESSAGE)


async def days(message: Message, state: FSMContext) -> None:
    raw = (message.text or "").strip()
    if not _DAYS.fullmatch(raw) or not 1 <= int(raw) <= rules.MAX_EXPIRING_DAYS:
        await message.answer(texts.BROADCAST_BAD_DAYS)
        return
    await state.update_data(days=int(raw))
    await state.set_state(BroadcastForm.message)
    await message.answer(texts.BROADCAST_ASK_MESSAGE)


async def compose(message: Message, state: FSMContext, sessions: sessionmaker[Session],
                  settings: Settings) -> None:
    photo = message.photo[-1].file_id if message.photo else None
    try:
        body, url_buttons = rules.split_buttons(
            (message.caption if photo else message.text) or "", has_photo=photo is not None)
    except rules.BadMessage as bad:
        await message.answer(texts.BROADCAST_MESSAGE_REFUSED[bad.reason.value])
        return
    pairs = [[b.title, b.url] for b in url_buttons]
    data = await state.update_data(text=body, photo=photo, buttons=pairs)
    audience = rules.Audience(segment=rules.Segment(data["segment"]), days=data["days"])
    recipients = await read(sessions, broadcasts.count_audience, audience,
                            chat_id=settings.channel, now=datetime.now(UTC),
                            grace=settings.grace)
    await _preview(message, body=body, photo=photo, pairs=pairs)
    await state.set_state(BroadcastForm.confirm)
    await message.answer(texts.broadcast_preview(segment=audience.segment.value,
                                                 days=audience.days, recipients=recipients),
                         reply_markup=_confirm_or_cancel())


async def _preview(message: Message, *, body: str, photo: str | None,
                   pairs: list[list[str]]) -> None:
    """The message as its recipients will see it (the worker sends the same fields)."""
    if photo:
        await message.answer_photo(photo, caption=body or None, reply_markup=url_keyboard(pairs))
    else:
        await message.answer(body, reply_markup=url_keyboard(pairs))


def _confirm_or_cancel() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        _button(texts.CONFIRM_BUTTON, keyboards.ConfirmBroadcast()), _cancel()]])


async def not_a_message(message: Message) -> None:
    await message.answer(texts.BROADCAST_ONLY_TEXT_OR_PHOTO)


async def confirm(callback: CallbackQuery, state: FSMContext, tasks: Tasks) -> None:
    data = await state.get_data()
    await state.clear()
    command = admin_command(actor_id=callback.from_user.id, text=data["command"],
                            request_key=f"broadcast:{data['key']}")
    draft: dict[str, Any] = {key: data[key] for key in ("segment", "days", "text", "photo",
                                                          "buttons")}
    await tasks.send(task_names.BROADCAST_START, command, draft)
    await _edit(callback, texts.BROADCAST_QUEUED)


async def cancel(callback: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    await _edit(callback, texts.BROADCAST_CANCELED)


async def expired(callback: CallbackQuery) -> None:
    # A button of a finished conversation: stop the spinner and say why nothing happens.
    await callback.answer(texts.BROADCAST_EXPIRED, show_alert=True)


async def status(message: Message, command: CommandObject,
                 sessions: sessionmaker[Session]) -> None:
    if await admin_args.refuse_arguments(message, command):
        return
    views = await read(sessions, broadcasts.recent)
    if not views:
        await message.answer(texts.NO_BROADCASTS)
        return
    lines = [texts.broadcast_status_line(
        broadcast_id=v.id, status=v.status.value, segment=v.segment.value, days=v.days,
        created_at=v.created_at, progress=v.progress) for v in views]
    await message.answer("\n".join(lines), reply_markup=_stop_and_resume(views))


def _stop_and_resume(views: list[broadcasts.BroadcastView]) -> InlineKeyboardMarkup | None:
    """Stop for each broadcast still sending; Resume for each with people left."""
    rows = [[_button(f"{texts.BROADCAST_STOP_BUTTON} #{v.id}",
                     keyboards.StopBroadcast(broadcast_id=v.id))]
            for v in views if v.status is rules.BroadcastStatus.SENDING]
    rows += [[_button(f"{texts.BROADCAST_RESUME_BUTTON} #{v.id}",
                      keyboards.ResumeBroadcast(broadcast_id=v.id))] for v in views if v.resumable]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def _pressed(callback: CallbackQuery) -> dict[str, Any]:
    return admin_command(actor_id=callback.from_user.id, text=callback.data or "",
                         request_key=f"callback:{callback.id}")


async def stop(callback: CallbackQuery, callback_data: keyboards.StopBroadcast,
               tasks: Tasks) -> None:
    await tasks.send(task_names.BROADCAST_STOP, _pressed(callback), callback_data.broadcast_id)
    await callback.answer(texts.BROADCAST_STOPPING)


async def resume(callback: CallbackQuery, callback_data: keyboards.ResumeBroadcast,
                 tasks: Tasks) -> None:
    await tasks.send(task_names.BROADCAST_RESUME, _pressed(callback), callback_data.broadcast_id)
    await callback.answer(texts.BROADCAST_RESUMING)


def create_router() -> Router:
    """A fresh router with this module's handlers (a router joins one dispatcher only)."""
    router = Router(name="broadcast")
    router.message.middleware(AdminOnly())
    router.callback_query.middleware(AdminOnly())
    router.message.register(begin, Command("broadcast"))
    router.message.register(status, Command("broadcast_status"))
    # The conversation's later steps are /broadcast's (the role table knows commands).
    step = {STAFF_ACTION: "broadcast"}
    router.callback_query.register(segment, StateFilter(BroadcastForm.segment),
                                   keyboards.SegmentChoice.filter(), flags=step)
    router.message.register(days, StateFilter(BroadcastForm.days), MagicData(F.event.text),
                            flags=step)
    router.message.register(compose, StateFilter(BroadcastForm.message),
                            MagicData(F.event.text | F.event.photo), flags=step)
    router.message.register(not_a_message, StateFilter(BroadcastForm.message), flags=step)
    router.callback_query.register(confirm, StateFilter(BroadcastForm.confirm),
                                   keyboards.ConfirmBroadcast.filter(), flags=step)
    router.callback_query.register(cancel, keyboards.CancelBroadcast.filter(), flags=step)
    router.callback_query.register(stop, keyboards.StopBroadcast.filter())
    router.callback_query.register(resume, keyboards.ResumeBroadcast.filter())
    router.callback_query.register(expired, MagicData(F.event.data.startswith("bcast_")),
                                   flags=step)
    return router
