"""The payout request conversation: network → wallet → amount → confirm → one task.

The conversation lives in the FSM storage (Redis), so it survives a bot restart. The checks
here are for a friendly dialogue; the worker checks the same rules again under a lock.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
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
from infra.settings import Settings
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


async def _standing(sessions: sessionmaker[Session], settings: Settings,
                    user_id: int) -> queries.ReferralInfo | None:
    return await read(sessions, queries.referral_info, user_id=user_id,
                      hold=settings.referral_hold, now=datetime.now(UTC))


async def start(callback: CallbackQuery, state: FSMContext, sessions: sessionmaker[Session],
                settings: Settings) -> None:
    info = await _standing(sessions, settings, callback.from_user.id)
    if info is None:
        await callback.answer(texts.NOT_A_REFERRER, show_alert=True)
    elif info.has_open_request:
        await callback.answer(texts.PAYOUT_OPEN_EXISTS, show_alert=True)
    elif info.available < settings.payout_minimum:
        await callback.answer(texts.payout_unavailable(
            minimum=settings.payout_minimum, available=info.available, on_hold=info.on_hold,
            next_release=info.next_release), show_alert=True)
    else:
        await state.set_state(PayoutForm.network)
        await _edit(callback, texts.PAYOUT_CHOOSE_NETWORK, reply_markup=keyboards.payout_networks())


async def network(callback: CallbackQuery, callback_data: keyboards.PayoutNetworkChoice,
                  state: FSMContext) -> None:
    await state.update_data(network=callback_data.network.value)
    await state.set_state(PayoutForm.wallet)
    await _edit(callback, texts.payout_ask_wallet(network=callback_data.network.value),
                reply_markup=keyboards.cancel_payout())


async def wallet(message: Message, state: FSMContext, sessions: sessionmaker[Session],
                 settings: Settings) -> None:
    data = await state.get_data()
    try:
        address = ledger.validate_wallet(ledger.PayoutNetwork(data["network"]), message.text or "",
                                         keccak256=keccak256)
    except ledger.InvalidWallet as invalid:
        await message.answer(texts.payout_bad_wallet(problem=invalid.message),
                             reply_markup=keyboards.cancel_payout())
        return
    assert message.from_user is not None
    info = await _standing(sessions, settings, message.from_user.id)
    await state.update_data(wallet=address)
    await state.set_state(PayoutForm.amount)
    await message.answer(texts.payout_ask_amount(available=info.available if info else
                                                 Decimal("0.00"),
                                                 minimum=settings.payout_minimum),
                         reply_markup=keyboards.cancel_payout())


async def amount(message: Message, state: FSMContext, sessions: sessionmaker[Session],
                 settings: Settings) -> None:
    assert message.from_user is not None
    info = await _standing(sessions, settings, message.from_user.id)
    available = info.available if info else Decimal("0.00")
    minimum = settings.payout_minimum
    raw = (message.text or "").strip()
    if not AMOUNT.fullmatch(raw):
        await message.answer(texts.payout_bad_amount(available=available, minimum=minimum),
                             reply_markup=keyboards.cancel_payout())
        return
    value = Decimal(raw.replace(",", ".")).quantize(Decimal("0.01"))
    try:
        ledger.check_payout_request(amount=value, available=available, minimum=minimum,
                                    has_open_request=bool(info and info.has_open_request))
    except ledger.PayoutRefused as refused:
        await message.answer(texts.payout_amount_refused(reason=refused.reason.value,
                                                         asked=value, minimum=minimum,
                                                         available=available),
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
