"""/referral: a referrer's personal deep link, people referred, balance, last commissions."""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import Bot, F, Router
from aiogram.filters import Command, MagicData
from aiogram.types import Message
from aiogram.utils.deep_linking import create_start_link
from sqlalchemy.orm import Session, sessionmaker

from bot_frontend import keyboards, queries
from bot_frontend.db import read
from bot_frontend.middlewares import TermsAccepted
from infra import texts
from infra.settings import Settings


async def referral(message: Message, bot: Bot, sessions: sessionmaker[Session],
                   settings: Settings) -> None:
    assert message.from_user is not None
    user_id = message.from_user.id
    info = await read(sessions, queries.referral_info, user_id=user_id,
                      hold=settings.referral_hold, now=datetime.now(UTC))
    if info is None:
        await message.answer(texts.NOT_A_REFERRER)
        return
    link = await create_start_link(bot, f"ref_{user_id}")
    await message.answer(
        texts.referral_overview(link=link, pct=info.pct, referred=info.referred,
                                balance=info.balance, available=info.available,
                                recent=info.recent, on_hold=info.on_hold,
                                next_release=info.next_release,
                                hold_days=settings.referral_hold_days,
                                minimum=settings.payout_minimum),
        reply_markup=keyboards.referral(),
    )


def create_router() -> Router:
    """A fresh router with this module's handlers (a router joins one dispatcher only)."""
    router = Router(name="referral")
    router.message.middleware(TermsAccepted())
    router.message.register(referral, Command("referral"), MagicData(F.event.from_user))
    return router
