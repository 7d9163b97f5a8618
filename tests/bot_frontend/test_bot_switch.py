"""The plan switch through the dispatcher: /myplan's "Switch plan", the plans, the quote shown
before anything happens, and Confirm / Cancel pressed as a subscriber would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from infra.settings import SANDBOX_CHANNEL_ID
from models.schema import Access, Plan, PlanChat
from tests.bot_frontend.conftest import add_user
from tests.bot_frontend.harness import BotHarness

pytestmark = pytest.mark.anyio
ANN = 811


def add_plan(sessions: sessionmaker[Session], code: str, days: int, price: str,
             title: str) -> None:
    with sessions.begin() as session:
        plan = Plan(code=code, title=title, days=days, price_usd=Decimal(price))
        session.add(plan)
        session.flush()
        session.add(PlanChat(plan_id=plan.id, chat_id=SANDBOX_CHANNEL_ID))


@pytest.fixture
def subscriber(session_factory: sessionmaker[Session]) -> int:
    """Ann holds 15 days and 1 hour of the month plan; a week and a year plan are on sale."""
    add_plan(session_factory, "week", 7, "3.00", "1 week")
    add_plan(session_factory, "year", 365, "100.00", "1 year")
    add_user(session_factory, ANN)
    with session_factory.begin() as session:
        month = session.scalars(select(Plan.id).where(Plan.code == "month")).one()
        row = Access(user_id=ANN, chat_id=SANDBOX_CHANNEL_ID, status="active", plan_id=month,
                     paid_through=datetime.now(UTC) + timedelta(days=15, hours=1))
        session.add(row)
        session.flush()
        return row.version


def button(harness: BotHarness, label: str) -> str:
    """The callback data of the last keyboard's button labelled `label`."""
    for row in harness.last_markup().inline_keyboard:
        for item in row:
            if item.text == label:
                assert item.callback_data is not None
                return item.callback_data
    raise AssertionError(f"no button {label!r} among {harness.buttons()}")


async def quote_for(harness: BotHarness, label: str) -> None:
    await harness.send(ANN, "/myplan")
    await harness.press(ANN, button(harness, texts.SWITCH_BUTTON))
    await harness.press(ANN, button(harness, label))


async def test_confirming_an_upgrade_quote_sends_the_switch_task(
        harness: BotHarness, subscriber: int) -> None:
    """The quote shows the days now and after and the difference to pay; Confirm sends the
    switch with the quoted access's stamp, and nothing else happens in the bot."""
    await quote_for(harness, texts.plan_button(title="1 year", days=365,
                                               price=Decimal("100.00")))
    quote = harness.last_reply()
    assert "Switch from 1 month to 1 year" in quote
    assert "Unused value of 1 month: $5.01" in quote
    assert "Days left now: 16 → after the switch: 366" in quote
    assert "To pay: $94.99" in quote
    confirm = button(harness, texts.SWITCH_CONFIRM_BUTTON)
    assert harness.tasks == []
    query_id = await harness.press(ANN, confirm)
    assert [(name, args[1:]) for name, args in harness.tasks] == [
        (task_names.SWITCH_PLAN, ["year", subscriber, query_id])]
    assert harness.tasks[0][1][0]["user_id"] == ANN
    assert harness.callback_answers()[-1].text == texts.SWITCH_WORKING


async def test_a_downgrade_quote_says_no_payment(harness: BotHarness, subscriber: int) -> None:
    """Enough unused value for the cheaper plan: the quote says there is nothing to pay."""
    await quote_for(harness, texts.plan_button(title="1 week", days=7, price=Decimal("3.00")))
    assert "No payment" in harness.last_reply()
    assert "Days left now: 16 → after the switch: 12" in harness.last_reply()


async def test_cancel_changes_nothing(harness: BotHarness, subscriber: int) -> None:
    """Cancel on the quote says nothing changed and sends no task."""
    await quote_for(harness, texts.plan_button(title="1 week", days=7, price=Decimal("3.00")))
    await harness.press(ANN, button(harness, texts.CANCEL_BUTTON))
    assert harness.last_reply() == texts.SWITCH_CANCELED
    assert harness.tasks == []


async def test_a_plan_gone_since_the_list_is_refused(
        harness: BotHarness, subscriber: int, session_factory: sessionmaker[Session]) -> None:
    """A plan taken off sale between the list and the tap: the subscriber is told so."""
    await harness.send(ANN, "/myplan")
    await harness.press(ANN, button(harness, texts.SWITCH_BUTTON))
    week = button(harness, texts.plan_button(title="1 week", days=7, price=Decimal("3.00")))
    with session_factory.begin() as session:
        session.scalars(select(Plan).where(Plan.code == "week")).one().active = False
    await harness.press(ANN, week)
    assert harness.last_reply() == texts.SWITCH_PLAN_GONE
    assert harness.tasks == []


async def test_no_switch_is_offered_on_a_trial(harness: BotHarness,
                                               session_factory: sessionmaker[Session]) -> None:
    """Trial (no plan) time cannot be switched: /myplan has no Switch plan button."""
    add_plan(session_factory, "year", 365, "100.00", "1 year")
    add_user(session_factory, ANN)
    with session_factory.begin() as session:
        session.add(Access(user_id=ANN, chat_id=SANDBOX_CHANNEL_ID, status="trialing",
                           is_trial=True, paid_through=datetime.now(UTC) + timedelta(days=2)))
    await harness.send(ANN, "/myplan")
    labels = [item.text for row in harness.last_markup().inline_keyboard for item in row]
    assert texts.SWITCH_BUTTON not in labels


async def test_no_switch_is_offered_without_another_plan(
        harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """With only the subscriber's own plan on sale there is nothing to switch to."""
    add_user(session_factory, ANN)
    with session_factory.begin() as session:
        month = session.scalars(select(Plan.id).where(Plan.code == "month")).one()
        session.add(Access(user_id=ANN, chat_id=SANDBOX_CHANNEL_ID, status="active",
                           plan_id=month, paid_through=datetime.now(UTC) + timedelta(days=2)))
    await harness.send(ANN, "/myplan")
    labels = [item.text for row in harness.last_markup().inline_keyboard for item in row]
    assert texts.SWITCH_BUTTON not in labels
