"""Subscriber entry: /start with an optional referral, the terms, the plans, the trial, /help."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart, MagicData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, User
from sqlalchemy.orm import Session, sessionmaker

from bot_frontend import keyboards, queries
from bot_frontend.db import read
from bot_frontend.middlewares import Language
from bot_frontend.producer import Tasks
from infra import buttons, task_names, texts
from infra.settings import Settings

REFERRAL = re.compile(r"ref_([1-9][0-9]{0,18})")
# `/start promo_<CODE>`: the code is checked by the task (models.domain.promo).
PROMO = re.compile(r"promo_(\S{1,64})")
# FSM data key: a code from a deep link, waiting for the terms to be accepted.
PENDING_PROMO = "pending_promo"


def profile(user: User) -> dict[str, Any]:
    """The users.register / users.accept_terms payload: what Telegram says about the user."""
    return {"user_id": user.id, "username": user.username, "first_name": user.first_name,
            "last_name": user.last_name, "language_code": user.language_code}


def names(user: User) -> tuple[str | None, ...]:
    """The profile fields users.register records, as `queries.UserState.names` holds them."""
    return tuple(getattr(user, name) for name in queries.PROFILE_FIELDS)


def referrer_from(args: str | None) -> int | None:
    match = REFERRAL.fullmatch((args or "").strip())
    return int(match.group(1)) if match else None


def promo_from(args: str | None) -> str | None:
    match = PROMO.fullmatch((args or "").strip())
    return match.group(1) if match else None


async def redeem(tasks: Tasks, user: User, code: str, *, request_key: str) -> None:
    """Send the code to be redeemed; the task answers (applied, or why not)."""
    await tasks.send(task_names.REDEEM_PROMO, profile(user), code, request_key)


def menu(settings: Settings, state: queries.UserState | None,
         offers: list[queries.PlanOffer]) -> tuple[str, InlineKeyboardMarkup]:
    """The plan list, with the trial button while this user has not used the trial, and the
    prices a redeemed promo code leaves."""
    trial_used = state is not None and state.trial_used
    trial_days = settings.trial_days if settings.trial_days and not trial_used else None
    text = texts.choose_plan(trial_days=trial_days)
    codes = sorted({offer.promo_code for offer in offers if offer.promo_code})
    if codes:
        text += "\n" + texts.promo_menu_line(codes=codes)
    return text, keyboards.plans(offers, trial_days=trial_days)


async def plan_menu(sessions: sessionmaker[Session], settings: Settings, *,
                    languages: Language, user: User) -> tuple[str, InlineKeyboardMarkup]:
    known, offers = await read(sessions, queries.menu_facts, user_id=user.id)
    with languages.speak(user, known.language if known else None):
        return menu(settings, known, offers)


async def start(message: Message, command: CommandObject, *, tasks: Tasks,
                sessions: sessionmaker[Session], settings: Settings,
                state: FSMContext, languages: Language) -> None:
    user = message.from_user
    assert user is not None
    known, offers = await read(sessions, queries.menu_facts, user_id=user.id)
    with languages.speak(user, known.language if known else None):
        await _welcome(message, command, user, known, offers, tasks=tasks, settings=settings,
                       state=state)


async def _welcome(message: Message, command: CommandObject, user: User,
                   known: queries.UserState | None, offers: list[queries.PlanOffer], *,
                   tasks: Tasks, settings: Settings, state: FSMContext) -> None:
    """/start's answer: the terms for a newcomer, else the code's check or the plans."""
    referrer, code = referrer_from(command.args), promo_from(command.args)
    # A returning user whose profile we hold as it is has nothing to record: under a rush of
    # /start taps that is one task (and one worker transaction) less per tap. The worker
    # decides whether a referrer sticks (first touch, not self, not after paying).
    if known is None or referrer is not None or known.names != names(user):
        await tasks.send(task_names.REGISTER_USER, profile(user), referrer)
    if known is None or not known.terms_accepted:
        if code is not None:  # redeemed once the terms are accepted
            await state.update_data({PENDING_PROMO: code})
        await message.answer(texts.TERMS, reply_markup=keyboards.accept_terms())
        return
    if code is not None:
        await redeem(tasks, user, code, request_key=f"start:{message.chat.id}:{message.message_id}")
        await message.answer(texts.PROMO_CHECKING)
        return
    text, markup = menu(settings, known, offers)
    await message.answer(text, reply_markup=markup)


async def accept_terms(callback: CallbackQuery, *, tasks: Tasks,
                       sessions: sessionmaker[Session], settings: Settings, state: FSMContext,
                       languages: Language) -> None:
    await tasks.send(task_names.ACCEPT_TERMS, profile(callback.from_user))
    code = (await state.get_data()).get(PENDING_PROMO)
    if code is not None:
        await state.update_data({PENDING_PROMO: None})
        await redeem(tasks, callback.from_user, code, request_key=f"terms:{callback.id}")
    text, markup = await plan_menu(sessions, settings, languages=languages,
                                   user=callback.from_user)
    await callback.answer()
    if isinstance(callback.message, Message):
        # The terms stay readable (without their button); the plans come as a new message.
        await callback.message.edit_text(texts.TERMS_ACCEPTED, reply_markup=None)
        await callback.message.answer(text, reply_markup=markup)


async def show_plans(callback: CallbackQuery, sessions: sessionmaker[Session],
                     settings: Settings, languages: Language) -> None:
    text, markup = await plan_menu(sessions, settings, languages=languages,
                                   user=callback.from_user)
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.answer(text, reply_markup=markup)


async def choose_plan(callback: CallbackQuery, callback_data: keyboards.ChoosePlan,
                      tasks: Tasks, sessions: sessionmaker[Session], settings: Settings) -> None:
    user_id, now = callback.from_user.id, datetime.now(UTC)
    # Read before sending: an old plan button says what it will do (reuse, or stack days).
    reusing, status = await read(sessions, queries.checkout_preview, user_id=user_id,
                                 plan_code=callback_data.code, chat_id=settings.channel,
                                 grace=settings.grace, now=now)
    # The callback id keys the pay-link message, so a redelivered task sends it once. The
    # profile lets checkout record the user itself if users.register has not run yet.
    await tasks.send(task_names.CHECKOUT, profile(callback.from_user), callback_data.code,
                     callback.id)
    await callback.answer(texts.checkout_started(
        reusing=reusing, covered_until=status.paid_through if status.covered else None))


async def start_trial(callback: CallbackQuery, tasks: Tasks) -> None:
    # The callback id keys the outcome, so a redelivered task neither grants nor refuses twice;
    # the profile lets the task record the user if users.register has not run yet.
    await tasks.send(task_names.START_TRIAL, profile(callback.from_user), callback.id)
    await callback.answer(texts.STARTING_TRIAL)


async def help_(message: Message) -> None:
    await message.answer(texts.HELP)


def create_router() -> Router:
    """A fresh router with this module's handlers (a router joins one dispatcher only)."""
    router = Router(name="start")
    router.message.register(start, CommandStart(), MagicData(F.event.from_user))
    router.callback_query.register(accept_terms, keyboards.AcceptTerms.filter())
    router.callback_query.register(show_plans, keyboards.ShowPlans.filter())
    router.callback_query.register(show_plans, MagicData(F.event.data == buttons.LEGACY_RENEW))
    router.callback_query.register(choose_plan, keyboards.ChoosePlan.filter())
    router.callback_query.register(start_trial, keyboards.StartTrial.filter())
    router.message.register(help_, Command("help"))
    return router
