"""Bundles in the bot: /myplan shows each chat with its own resend button; joins per chat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from infra.settings import SANDBOX_CHANNEL_ID, Settings, load_settings
from models.schema import Access, Plan
from tests.bot_frontend.conftest import ADMIN, add_user
from tests.bot_frontend.harness import BotHarness

pytestmark = pytest.mark.anyio
ANN = 501
NEWS, LOUNGE = -1002000000001, -1002000000002
NOW = datetime.now(UTC)


@pytest.fixture
def settings(db_url: str) -> Settings:
    """vip grants CHANNEL_ID, NEWS and LOUNGE; month CHANNEL_ID alone."""
    return load_settings(_env_file=None, database_url=db_url, admin_ids=str(ADMIN), trial_days=3,
                         plans="month:30:10.00:1 month,vip:30:25.00:VIP",
                         plan_chats=f"vip={SANDBOX_CHANNEL_ID},{NEWS},{LOUNGE}")


def holds(sessions: sessionmaker[Session], chat_id: int, *, days: float) -> datetime:
    paid_through = NOW + timedelta(days=days)
    with sessions.begin() as session:
        vip = session.scalars(select(Plan.id).where(Plan.code == "vip")).one()
        session.add(Access(user_id=ANN, chat_id=chat_id, plan_id=vip, status="active",
                           paid_through=paid_through))
    return paid_through


def button(harness: BotHarness, text: str) -> str:
    """The callback data of the last keyboard's button labelled `text` (to press it)."""
    for row in harness.last_markup().inline_keyboard:
        for candidate in row:
            if candidate.text == text:
                assert candidate.callback_data is not None
                return candidate.callback_data
    raise AssertionError(f"no button {text!r}")


async def test_myplan_lists_each_chat_with_its_own_resend_button(
        harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """One line per chat held; a resend button per covered chat, each sending its own chat."""
    add_user(session_factory, ANN)
    main_until = holds(session_factory, SANDBOX_CHANNEL_ID, days=9)
    news_until = holds(session_factory, NEWS, days=9)
    holds(session_factory, LOUNGE, days=-2)  # lapsed there: listed, no button

    await harness.send(ANN, "/myplan")

    reply = harness.last_reply()
    assert texts.my_plan_chat(name="Main channel", status="active",
                              paid_through=main_until) in reply
    assert texts.my_plan_chat(name=f"Chat {NEWS}", status="active",
                              paid_through=news_until) in reply
    assert f"Chat {LOUNGE}: expired" in reply
    labels = [b.text for row in harness.last_markup().inline_keyboard for b in row]
    # Paid time on a plan with another on sale: the bundle's /myplan offers a switch too.
    assert labels == [texts.RENEW_BUTTON, texts.resend_invite_to("Main channel"),
                      texts.resend_invite_to(f"Chat {NEWS}"), texts.SWITCH_BUTTON]

    query_id = await harness.press(ANN, button(harness, texts.resend_invite_to(f"Chat {NEWS}")))
    assert harness.tasks == [(task_names.RESEND_INVITE, [ANN, query_id, NEWS])]
    assert harness.callback_answers()[-1].text == texts.RESENDING_INVITE


async def test_myplan_without_access_offers_only_renew(
        harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """Nothing held anywhere: the summary says so and there is no resend button."""
    add_user(session_factory, ANN)
    await harness.send(ANN, "/myplan")
    assert "no subscription" in harness.last_reply()
    labels = [b.text for row in harness.last_markup().inline_keyboard for b in row]
    assert labels == [texts.RENEW_BUTTON]


async def test_join_requests_to_every_bundle_chat_are_vetted(harness: BotHarness) -> None:
    """A join request to a bundle's chat goes to the worker; one to a chat we do not sell not."""
    await harness.join(ANN, NEWS, "https://t.me/+news")
    await harness.join(ANN, -100999, "https://t.me/+other")
    assert harness.tasks == [(task_names.HANDLE_JOIN_REQUEST, [ANN, NEWS, "https://t.me/+news"])]
