"""Bundles in the worker: the sweep removes per chat, join requests are judged per chat."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram.methods import ApproveChatJoinRequest, DeclineChatJoinRequest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from models.schema import Access
from tests.workers.harness import Pipeline, add_user
from tests.workers.sweeps.conftest import CHANNEL, sweep_pipeline
from workers.access.invites import handle_join_request
from workers.context import use_context
from workers.sweeps import service

NEWS = -1002000000001
DROPPED = -1002000000009  # a chat no plan grants any more, where someone still has a row
NOW = datetime.now(UTC)


@pytest.fixture
def bundle(db_url: str, engine: Any,
           session_factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    """A pipeline whose vip plan grants CHANNEL_ID and NEWS."""
    pipeline = sweep_pipeline(db_url, engine, session_factory,
                              plans="month:30:10,vip:30:25", plan_chats=f"vip={CHANNEL},{NEWS}")
    with use_context(pipeline):
        yield pipeline


def holds(ctx: Pipeline, user_id: int, chat_id: int, *, days: float, member: bool = True) -> None:
    with ctx.sessions.begin() as session:
        session.add(Access(user_id=user_id, chat_id=chat_id,
                           paid_through=NOW + timedelta(days=days),
                           status="active", created_at=NOW, updated_at=NOW))
    if member:
        ctx.telegram.members[chat_id, user_id] = "member"


def status(ctx: Pipeline, user_id: int, chat_id: int) -> str:
    with ctx.sessions() as session:
        return session.scalars(select(Access.status).where(
            Access.user_id == user_id, Access.chat_id == chat_id)).one()


def test_the_sweep_removes_from_each_chat_whose_time_ended(bundle: Pipeline) -> None:
    """One row ended on NEWS, one on a dropped chat: those go; the running rows stay."""
    for user_id in (21, 22):
        add_user(bundle.sessions, user_id)
    holds(bundle, 21, CHANNEL, days=5)
    holds(bundle, 21, NEWS, days=-1)       # NEWS ended: removed from NEWS only
    holds(bundle, 22, NEWS, days=5)        # NEWS running: stays
    holds(bundle, 22, DROPPED, days=-0.01)  # cut by a bundle change: removed there too

    summary = service.expire_subscriptions(bundle, now=datetime.now(UTC))

    assert (summary.due, summary.removed) == (2, 2)
    members = bundle.telegram.members
    assert members[NEWS, 21] == "left"
    assert members[DROPPED, 22] == "left"
    assert (members[CHANNEL, 21], members[NEWS, 22]) == ("member", "member")
    assert [status(bundle, 21, CHANNEL), status(bundle, 21, NEWS)] == ["active", "expired"]
    assert [status(bundle, 22, NEWS), status(bundle, 22, DROPPED)] == ["active", "expired"]


def test_a_join_request_is_approved_only_for_a_chat_the_requester_holds(
        bundle: Pipeline) -> None:
    """Holding CHANNEL_ID alone admits to CHANNEL_ID, and is declined on NEWS."""
    add_user(bundle.sessions, 31)
    holds(bundle, 31, CHANNEL, days=5, member=False)

    assert handle_join_request(bundle, user_id=31, chat_id=NEWS, invite_link=None) == "declined"
    assert handle_join_request(bundle, user_id=31, chat_id=CHANNEL,
                               invite_link=None) == "approved"
    answered = [(type(call).__name__, call.chat_id) for call in bundle.telegram.calls
                if isinstance(call, ApproveChatJoinRequest | DeclineChatJoinRequest)]
    assert answered == [("DeclineChatJoinRequest", NEWS), ("ApproveChatJoinRequest", CHANNEL)]


def test_resend_invite_names_its_chat_and_sends_only_where_access_covers(
        bundle: Pipeline) -> None:
    """A tap for NEWS makes NEWS's link; one for a chat not held is answered with why not."""
    add_user(bundle.sessions, 41)
    holds(bundle, 41, NEWS, days=5, member=False)

    bundle.send(task_names.RESEND_INVITE, 41, "tap-news", NEWS)
    bundle.send(task_names.RESEND_INVITE, 41, "tap-main", CHANNEL)
    bundle.drain()

    made = [call.chat_id for call in bundle.telegram.calls_of("createChatInviteLink")]
    assert made == [NEWS]
    said = [call.text for call in bundle.telegram.calls_of("sendMessage") if call.chat_id == 41]
    assert len(said) == 2
    assert "invite link" in said[0]
    assert said[1] == texts.NO_ACCESS_FOR_INVITE
