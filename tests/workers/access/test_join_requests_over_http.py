"""Invites and join requests against the Telegram stand-in with its fault switches turned on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.sandbox.telegram import people
from models.schema import AccessHistory, InviteLink
from tests.fixtures.sandboxes import TelegramFaults
from tests.workers.harness import Pipeline, make_pipeline, over_http, paid_with_invite

if TYPE_CHECKING:
    from infra.sandbox.telegram import TelegramSandbox

ANN = 7601


@pytest.fixture
def live(db_url: str, engine: Any, session_factory: sessionmaker[Session],
         telegram_sandbox: TelegramSandbox, redis_url: str) -> Iterator[Pipeline]:
    """Workers on a fresh database whose Telegram is the stand-in over HTTP; ANN started it."""
    people.create_user(telegram_sandbox.world, user_id=ANN, first_name="Ann")
    people.send_text(telegram_sandbox.world, user_id=ANN, text="/start")
    ctx = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine)
    with over_http(ctx, api_base=telegram_sandbox.base_url, redis_url=redis_url) as pipeline:
        yield pipeline


def standing(sandbox: TelegramSandbox, user_id: int) -> str:
    world = sandbox.world
    return world.member(world.channel, user_id).status


def invited(live: Pipeline, sandbox: TelegramSandbox) -> str:
    """ANN pays, gets her link by DM and opens it: her join request is pending; the link."""
    paid_with_invite(live, ANN, chat_id=live.settings.channel)
    assert [outcome for _, outcome in live.drain()] == ["done"]
    with live.sessions() as session:
        link = session.scalars(select(InviteLink.link)).one()
    assert people.open_invite_link(sandbox.world, user_id=ANN, invite_link=link) == "requested"
    return link


def vet(live: Pipeline, link: str) -> Any:
    live.send(task_names.HANDLE_JOIN_REQUEST, ANN, live.settings.channel, link)
    return live.drain()[0][1]


def test_a_payer_the_member_lookup_refuses_gets_in_through_flood_and_outage(
    live: Pipeline, telegram_sandbox: TelegramSandbox, telegram_faults: TelegramFaults,
) -> None:
    """getChatMember 400 for the payer, then 429 and 5xx on the approval: she still gets in."""
    telegram_faults.fail("getChatMember", "user_not_found", user_id=ANN)
    link = invited(live, telegram_sandbox)
    telegram_faults.fail("approveChatJoinRequest", "retry_after", user_id=ANN, times=1)
    telegram_faults.fail("approveChatJoinRequest", "server_error", chat_id=live.settings.channel,
                         times=1)

    assert vet(live, link) == "approved"

    assert standing(telegram_sandbox, ANN) == "member"
    calls = [c.status for c in telegram_sandbox.world.calls
             if c.method == "approveChatJoinRequest"]
    assert calls == [429, 500, 200]


def test_a_repeated_vetting_of_the_same_request_is_harmless(
    live: Pipeline, telegram_sandbox: TelegramSandbox,
) -> None:
    """The task run twice: the second approval meets HIDE_REQUESTER_MISSING, she is in: done."""
    link = invited(live, telegram_sandbox)

    assert vet(live, link) == "approved"
    assert vet(live, link) == "approved"

    assert standing(telegram_sandbox, ANN) == "member"


def test_a_withdrawn_request_leaves_her_link_working(
    live: Pipeline, telegram_sandbox: TelegramSandbox, telegram_faults: TelegramFaults,
) -> None:
    """USER_ID_INVALID on the approval: written down as gone, and her link still admits her."""
    link = invited(live, telegram_sandbox)
    telegram_faults.fail("approveChatJoinRequest", "user_id_invalid", user_id=ANN, times=1)

    assert vet(live, link) == "gone"

    with live.sessions() as session:
        actions = session.scalars(select(AccessHistory.action)
                                  .where(AccessHistory.user_id == ANN)).all()
        assert "join_request_gone" in actions
    channel = telegram_sandbox.world.channel
    assert not channel.links[link].is_revoked
    assert vet(live, link) == "approved"  # her request, still there, is answered next time
    assert standing(telegram_sandbox, ANN) == "member"
