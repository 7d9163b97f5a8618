"""Telegram Stars: the Stars plan button, the pre-checkout answer, the payment, /paysupport.

The pre-checkout query is answered here, from one quick read, never through a queued task:
Telegram cancels the payment unless it hears back within 10 seconds. The payment itself is
sent durably: nobody can repeat a `successful_payment`, so while the broker is down it waits in
the bot's spool (bot_frontend/spool.py), and the worker records it once per charge id.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import F, Router
from aiogram.filters import Command, MagicData
from aiogram.types import CallbackQuery, Message, PreCheckoutQuery
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot_frontend import keyboards, queries
from bot_frontend.db import read
from bot_frontend.producer import Tasks
from bot_frontend.routers.start import profile
from infra import task_names, texts
from infra.logging import get_logger
from infra.settings import Settings
from models.domain import stars as rules

log = get_logger("bot_frontend")


async def choose_stars(callback: CallbackQuery, callback_data: keyboards.ChooseStars,
                       tasks: Tasks) -> None:
    # The callback id keys a refusal message, so a redelivered task sends it once.
    await tasks.send(task_names.STARS_CHECKOUT, profile(callback.from_user),
                     callback_data.code, callback.id)
    await callback.answer(texts.STARS_CHECKOUT_STARTED)


async def pre_checkout(query: PreCheckoutQuery, sessions: sessionmaker[Session]) -> None:
    try:
        invoice = await read(sessions, queries.stars_invoice, order_id=query.invoice_payload)
    except SQLAlchemyError as error:  # say no in time rather than let Telegram time out
        log.error("pre_checkout_read_failed", error=str(error))
        await query.answer(ok=False, error_message=texts.STARS_CHECKOUT_UNAVAILABLE)
        return
    refusal = rules.checkout_refusal(invoice, payer_id=query.from_user.id,
                                     currency=query.currency, total_amount=query.total_amount,
                                     now=datetime.now(UTC))
    if refusal is None:
        await query.answer(ok=True)
        return
    log.info("pre_checkout_refused", user_id=query.from_user.id, reason=refusal.value)
    await query.answer(ok=False, error_message=texts.STARS_CHECKOUT_REFUSALS[refusal.value])


async def paid(message: Message, tasks: Tasks, settings: Settings) -> None:
    payment = message.successful_payment
    assert payment is not None and message.from_user is not None  # the filter's guarantee
    fields = {"user_id": message.from_user.id, "charge_id": payment.telegram_payment_charge_id,
              "payload": payment.invoice_payload, "currency": payment.currency,
              "total_amount": payment.total_amount}
    seal = rules.payment_seal(key=settings.telegram_token.get_secret_value().encode(),
                              user_id=message.from_user.id,
                              charge_id=payment.telegram_payment_charge_id,
                              payload=payment.invoice_payload, currency=payment.currency,
                              total_amount=payment.total_amount)
    await tasks.send_durably(task_names.STARS_PAYMENT, {
        **fields, "provider_charge_id": payment.provider_payment_charge_id, "seal": seal})
    await message.answer(texts.STARS_PAYMENT_RECEIVED)


async def pay_support(message: Message) -> None:
    await message.answer(texts.PAYSUPPORT)


def create_router() -> Router:
    """A fresh router with this module's handlers (a router joins one dispatcher only)."""
    router = Router(name="stars")
    router.callback_query.register(choose_stars, keyboards.ChooseStars.filter())
    router.pre_checkout_query.register(pre_checkout)
    router.message.register(paid, MagicData(F.event.successful_payment),
                            MagicData(F.event.from_user))
    router.message.register(pay_support, Command("paysupport"))
    return router
