"""The payout request conversation: network → wallet → amount → confirm → one task.

The conversation lives in the FSM storage (Redis), so it survives a bot restart. The checks
here are for a friendly dialogue; the worker checks the same rules again under a lock.
"""

from __future__ import annotations

import re
from decimal import Decimal

from aiogram import F, Router
from aiogram.filters import MagicData, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.orm import Session, sessionmaker

from bot_frontend import keyboards, queries
from bot_frontend.db import read
from bot_frontend.producer import Tasks
from infra import task_names, texts
from infra.hashing import keccak256
from models.domain import ledger

AMOUNT = re.compile(r"[0-9]{1,9}(?:[.,][0-9]{1,2})?")


class PayoutForm(StatesGroup):
    network = State()
    wallet = State()
    amount = State()
    confirm = State()


async def _edit(callback: CallbackQuery, text: str,
                reply_markup: InlineKeyboardMarkup | None = None) -> None:
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.edit_text(text, reply_markup=reply_markup)


async def start(callback: CallbackQuery, state: FSMContext,
                sessions: sessionmaker[Session]) -> None:
    info = await read(sessions, queries.referral_info, user_id=callback.from_user.id)
    if info is None:
        await callback.answer(texts.NOT_A_REFERRER, show_alert=True)
    elif info.has_open_request:
        await callback.answer(texts.PAYOUT_OPEN_EXISTS, show_alert=True)
    elif info.available < ledger.DEFAULT_PAYOUT_MINIMUM:
        await callback.answer(texts.PAYOUT_NOTHING_AVAILABLE, show_alert=True)
    else:
        await state.set_state(PayoutForm.network)
        await _edit(callback, texts.PAYOUT_CHOOSE_NETWORK, reply_markup=keyboards.payout_networks())


async def network(callback: CallbackQuery, callback_data: keyboards.PayoutNetworkChoice,
                  state: FSMContext) -> None:
    await state.update_data(network=callback_data.network.value)
    await state.set_state(PayoutForm.wallet)
    await _edit(callback, texts.payout_ask_wallet(network=callback_data.network.value),
                reply_markup=keyboards.cancel_payout())


async def wallet(message: Message, state: FSMContext, sessions: sessionmaker[Session]) -> None:
    data = await state.get_data()
    try:
        address = ledger.validate_wallet(ledger.PayoutNetwork(data["network"]), message.text or "",
                                         keccak256=keccak256)
    except ledger.InvalidWallet as invalid:
        await message.answer(texts.payout_bad_wallet(problem=invalid.message),
                             reply_markup=keyboards.cancel_payout())
        return
    assert message.from_user is not None
    info = await read(sessions, queries.referral_info, user_id=message.from_user.id)
    await state.update_data(wallet=address)
    await state.set_state(PayoutForm.amount)
    await message.answer(texts.payout_ask_amount(available=info.available if info else
                                                 Decimal("0.00")),
                         reply_markup=keyboards.cancel_payout())


async def amount(message: Message, state: FSMContext, sessions: sessionmaker[Session]) -> None:
    assert message.from_user is not None
    info = await read(sessions, queries.referral_info, user_id=message.from_user.id)
    available = info.available if info else Decimal("0.00")
    raw = (message.text or "").strip()
    try:
        if not AMOUNT.fullmatch(raw):
            raise ValueError(raw)
        value = Decimal(raw.replace(",", ".")).quantize(Decimal("0.01"))
        ledger.check_payout_request(amount=value, available=available,
                                    has_open_request=bool(info and info.has_open_request))
    except (ValueError, ledger.PayoutRefused):
        await message.answer(texts.payout_bad_amount(available=available,
                                                     minimum=ledger.DEFAULT_PAYOUT_MINIMUM),
                             reply_markup=keyboards.cancel_payout())
        return
    data = await state.update_data(amount=str(value))
    await state.set_state(PayoutForm.confirm)
    await message.answer(texts.payout_confirm(network=data["network"], wallet=data["wallet"],
                                              amount=value),
                         reply_markup=keyboards.confirm_payout())


async def confirm(callback: CallbackQuery, state: FSMContext, tasks: Tasks) -> None:
    data = await state.get_data()
    await state.clear()
    await tasks.send(task_names.REQUEST_PAYOUT, callback.from_user.id, data["network"],
                     data["wallet"], data["amount"], callback.id)
    await _edit(callback, texts.PAYOUT_SENDING)


async def cancel(callback: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    await _edit(callback, texts.PAYOUT_CANCELED)


async def expired(callback: CallbackQuery) -> None:
    # A button of a finished conversation: stop the spinner and say why nothing happens.
    await callback.answer(texts.PAYOUT_EXPIRED, show_alert=True)


def create_router() -> Router:
    """A fresh router with this module's handlers (a router joins one dispatcher only)."""
    router = Router(name="payout")
    router.callback_query.register(start, keyboards.StartPayout.filter())
    router.callback_query.register(network, StateFilter(PayoutForm.network),
                                   keyboards.PayoutNetworkChoice.filter())
    router.message.register(wallet, StateFilter(PayoutForm.wallet), MagicData(F.event.text))
    router.message.register(amount, StateFilter(PayoutForm.amount), MagicData(F.event.text))
    router.callback_query.register(confirm, StateFilter(PayoutForm.confirm),
                                   keyboards.ConfirmPayout.filter())
    router.callback_query.register(cancel, keyboards.CancelPayout.filter())
    router.callback_query.register(expired, MagicData(F.event.data.startswith("payout_")))
    return router
