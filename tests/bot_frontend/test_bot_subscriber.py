"""Subscriber handlers end to end through the dispatcher: /start, terms, plans, trial, /myplan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiogram.methods import EditMessageText
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from infra import task_names, texts
from infra.settings import SANDBOX_CHANNEL_ID
from models.schema import Access, Invoice, Plan, User
from tests.bot_frontend.conftest import add_user
from tests.bot_frontend.harness import BotHarness, RedisDown

pytestmark = pytest.mark.anyio
ANN, BOB = 501, 502


def profile(user_id: int) -> dict[str, object]:
    return {"user_id": user_id, "username": f"u{user_id}", "first_name": f"user{user_id}",
            "last_name": None, "language_code": "en"}


async def test_start_shows_terms_and_registers(harness: BotHarness) -> None:
    """A newcomer sees only the terms with an accept button; registration is a task."""
    await harness.send(ANN, "/start")
    assert harness.tasks == [(task_names.REGISTER_USER, [profile(ANN), None])]
    assert harness.last_reply() == texts.TERMS
    assert harness.buttons() == ["terms"]


@pytest.mark.parametrize(("text", "referrer"), [
    ("/start ref_42", 42), ("/start ref_x", None), ("/start ref_0", None), ("/start 42", None),
])
async def test_start_passes_the_referrer(harness: BotHarness, text: str,
                                         referrer: int | None) -> None:
    """Only a well-formed ref_<id> payload is passed on as the referrer."""
    await harness.send(ANN, text)
    assert harness.tasks == [(task_names.REGISTER_USER, [profile(ANN), referrer])]


async def test_a_returning_users_start_records_only_what_changed(
        harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """A known user whose profile is recorded as Telegram shows it: /start sends no task. A new
    username, or a referral link, is sent to the worker again."""
    add_user(session_factory, ANN, username=f"u{ANN}", language_code="en")
    await harness.send(ANN, "/start")
    assert harness.tasks == []
    assert harness.last_reply() == texts.choose_plan(trial_days=3)
    await harness.send(ANN, "/start ref_42")
    assert harness.tasks == [(task_names.REGISTER_USER, [profile(ANN), 42])]
    with session_factory.begin() as session:
        session.get_one(User, ANN).username = "old_name"
    await harness.send(ANN, "/start")
    assert harness.tasks[1:] == [(task_names.REGISTER_USER, [profile(ANN), None])]


async def test_start_after_acceptance_shows_plans_and_trial(
        harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """A user who accepted the terms gets the plan keyboard and the trial button."""
    add_user(session_factory, ANN)
    await harness.send(ANN, "/start")
    assert harness.last_reply() == texts.choose_plan(trial_days=3)
    assert harness.buttons() == ["plan:month", "trial", "promo"]
    assert "$10.00" in harness.last_markup().inline_keyboard[0][0].text


async def test_no_trial_button_once_used(harness: BotHarness,
                                         session_factory: sessionmaker[Session]) -> None:
    """The trial button disappears once the trial has been used."""
    add_user(session_factory, ANN, trial_used_at=datetime.now(UTC))
    await harness.send(ANN, "/start")
    assert harness.buttons() == ["plan:month", "promo"]


async def test_accepting_the_terms_keeps_them_and_shows_the_plans(harness: BotHarness) -> None:
    """The accept button sends the acceptance task; the terms stay readable without their
    button, and the plan list comes as a new message."""
    await harness.press(ANN, "terms")
    assert harness.tasks == [(task_names.ACCEPT_TERMS, [profile(ANN)])]
    edited = [m for m in harness.session.requests if isinstance(m, EditMessageText)]
    assert [(m.text, m.reply_markup) for m in edited] == [(texts.TERMS_ACCEPTED, None)]
    assert texts.TERMS_BODY in texts.TERMS_ACCEPTED
    assert harness.last_reply() == texts.choose_plan(trial_days=3)
    assert harness.buttons() == ["plan:month", "trial", "promo"]


async def test_choosing_a_plan_starts_checkout(harness: BotHarness,
                                              session_factory: sessionmaker[Session]) -> None:
    """A plan button sends payments.checkout with the tapper's profile (so checkout can record
    the user itself), keyed by the callback id, and says it is coming."""
    add_user(session_factory, ANN)
    query_id = await harness.press(ANN, "plan:month")
    assert harness.tasks == [(task_names.CHECKOUT, [profile(ANN), "month", query_id])]
    assert harness.callback_answers()[-1].text == texts.CREATING_INVOICE


async def test_an_old_plan_button_while_subscribed_says_the_days_stack(
        harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """Pressing a plan on an old message while paid says so: the purchase adds on top."""
    add_user(session_factory, ANN)
    paid_through = datetime.now(UTC) + timedelta(days=20)
    with session_factory.begin() as session:
        session.add(Access(user_id=ANN, chat_id=SANDBOX_CHANNEL_ID, status="active",
                           paid_through=paid_through))
    await harness.press(ANN, "plan:month")
    answer = harness.callback_answers()[-1].text or ""
    assert f"subscribed until {texts.when(paid_through)}" in answer and "on top" in answer


async def test_a_plan_button_after_a_pay_link_reuses_it_and_says_so(
        harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """With an open invoice for the plan, the button says its pay link comes again."""
    add_user(session_factory, ANN)
    now = datetime.now(UTC)
    with session_factory.begin() as session:
        plan = session.scalars(select(Plan).where(Plan.code == "month")).one()
        session.add(Invoice(
            order_id="ord_1", user_id=ANN, plan_id=plan.id, amount_usd=plan.price_usd,
            currency="USD", status="created", uuid="AB12CD34",
            pay_link="http://127.0.0.1:8082/pay/AB12CD34", expires_at=now + timedelta(hours=1),
            created_at=now, updated_at=now))
    query_id = await harness.press(ANN, "plan:month")
    assert harness.tasks == [(task_names.CHECKOUT, [profile(ANN), "month", query_id])]
    assert harness.callback_answers()[-1].text == texts.REUSING_INVOICE


async def test_trial_button_starts_the_trial(harness: BotHarness) -> None:
    """The trial button sends the trial task with the tapper's profile and acknowledges at
    once."""
    query_id = await harness.press(ANN, "trial")
    assert harness.tasks == [(task_names.START_TRIAL, [profile(ANN), query_id])]
    assert harness.callback_answers()[-1].text == texts.STARTING_TRIAL


async def test_myplan_before_terms(harness: BotHarness) -> None:
    """Nothing but the terms until they are accepted."""
    await harness.send(ANN, "/myplan")
    assert harness.last_reply() == texts.ACCEPT_TERMS_FIRST
    assert harness.tasks == []


async def test_myplan_with_access(harness: BotHarness,
                                  session_factory: sessionmaker[Session]) -> None:
    """/myplan shows status, paid-through date and days left, with renew and invite buttons."""
    add_user(session_factory, ANN)
    paid_through = datetime.now(UTC) + timedelta(days=9, hours=1)
    with session_factory.begin() as session:
        session.add(Access(user_id=ANN, chat_id=SANDBOX_CHANNEL_ID, status="active",
                           paid_through=paid_through))
    await harness.send(ANN, "/myplan")
    reply = harness.last_reply()
    assert "Status: active" in reply
    assert texts.when(paid_through) in reply
    assert "Days left: 10" in reply
    assert harness.buttons() == ["plans", "invite"]


async def test_myplan_without_access(harness: BotHarness,
                                     session_factory: sessionmaker[Session]) -> None:
    """Without access /myplan says so and offers only the renew button."""
    add_user(session_factory, ANN)
    await harness.send(ANN, "/myplan")
    assert "no subscription" in harness.last_reply()
    assert harness.buttons() == ["plans"]


async def test_resend_invite_button(harness: BotHarness) -> None:
    """The resend button sends the task with the callback id as its fresh key."""
    query_id = await harness.press(ANN, "invite")
    assert harness.tasks == [(task_names.RESEND_INVITE, [ANN, query_id])]
    assert harness.callback_answers()[-1].text == texts.RESENDING_INVITE


async def test_renew_button_shows_plans(harness: BotHarness,
                                        session_factory: sessionmaker[Session]) -> None:
    """Renew shows the plan keyboard again."""
    add_user(session_factory, ANN, trial_used_at=datetime.now(UTC))
    await harness.press(ANN, "plans")
    assert harness.buttons() == ["plan:month", "promo"]


async def test_help(harness: BotHarness) -> None:
    """/help lists the subscriber commands."""
    await harness.send(ANN, "/help")
    assert harness.last_reply() == texts.HELP


async def test_join_request_is_vetted_by_a_task(harness: BotHarness) -> None:
    """A join request to the channel goes to access.handle_join_request with its link."""
    await harness.join(ANN, SANDBOX_CHANNEL_ID, "https://t.me/+abc")
    await harness.join(ANN, -100999, "https://t.me/+other")
    assert harness.tasks == [
        (task_names.HANDLE_JOIN_REQUEST, [ANN, SANDBOX_CHANNEL_ID, "https://t.me/+abc"])]


async def test_broker_down_is_told(harness: BotHarness) -> None:
    """When a task cannot be queued the user is asked to try again instead of hearing nothing."""
    harness.producer.failure = OperationalError("Error 111 connecting to redis")
    await harness.send(ANN, "/start")
    await harness.press(ANN, "plan:month")
    assert harness.last_reply() == texts.TRY_AGAIN_LATER
    assert harness.callback_answers()[-1].text == texts.TRY_AGAIN_LATER


@pytest.mark.parametrize("failure", [
    RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
    RedisTimeoutError("Timeout reading from socket"),
])
async def test_redis_down_under_the_fsm_storage_is_told_and_logged(
    harness: BotHarness, session_factory: sessionmaker[Session], failure: RedisError,
) -> None:
    """Redis failing under the FSM storage: a message and a button press are both answered
    "try again in a minute" and the failure is logged, never an unhandled exception."""
    add_user(session_factory, ANN)
    await harness.send(ANN, "/start")
    plan = harness.buttons()[0]
    assert plan is not None
    replies = len(harness.replies())
    harness.dp.fsm.storage = RedisDown(failure)

    with capture_logs() as logs:
        await harness.send(ANN, "/myplan")
        await harness.press(ANN, plan)

    assert harness.replies()[replies:] == [texts.TRY_AGAIN_LATER]
    answer = harness.callback_answers()[-1]
    assert (answer.text, answer.show_alert) == (texts.TRY_AGAIN_LATER, True)
    errors = [entry for entry in logs if entry["log_level"] == "error"]
    assert len(errors) == 2 and all(str(failure) in entry["error"] for entry in errors)
