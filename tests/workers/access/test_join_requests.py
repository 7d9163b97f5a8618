"""Invites and join requests in-process: Telegram's answers about one user are final answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from infra.settings import SANDBOX_CHANNEL_ID
from models.schema import Access, AccessHistory, InviteLink, TelegramEffect
from tests.workers.harness import Pipeline, add_user, make_pipeline, paid_with_invite
from workers.context import use_context

CHANNEL = SANDBOX_CHANNEL_ID
ANN, BOB = 7301, 7302
ADMINS = (9101, 9102)
GONE = ["Bad Request: HIDE_REQUESTER_MISSING", "Bad Request: USER_ID_INVALID"]


@pytest.fixture
def ctx(db_url: str, engine: Any, session_factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    """A pipeline on a fresh database, installed as the worker context."""
    pipeline = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine,
                             admin_ids=frozenset(ADMINS))
    with use_context(pipeline):
        yield pipeline


def paid(ctx: Pipeline, user_id: int) -> None:
    paid_with_invite(ctx, user_id, chat_id=CHANNEL)


def link_of(ctx: Pipeline, user_id: int) -> InviteLink:
    with ctx.sessions() as session:
        return session.scalars(select(InviteLink).where(InviteLink.user_id == user_id)).one()


def actions(ctx: Pipeline, user_id: int) -> list[str]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AccessHistory.action)
                                    .where(AccessHistory.user_id == user_id)
                                    .order_by(AccessHistory.id)))


def access_end(ctx: Pipeline, user_id: int) -> Any:
    with ctx.sessions() as session:
        return session.scalars(select(Access.paid_through)
                               .where(Access.user_id == user_id)).one()


def ask_to_join(ctx: Pipeline, user_id: int, link: str | None) -> Any:
    ctx.send(task_names.HANDLE_JOIN_REQUEST, user_id, CHANNEL, link)
    return ctx.drain()[0][1]


@pytest.mark.parametrize("answer", ["Bad Request: user not found",
                                    "Bad Request: member not found",
                                    "Bad Request: PARTICIPANT_ID_INVALID"])
def test_a_paid_user_telegram_does_not_know_still_gets_a_link(ctx: Pipeline, answer: str) -> None:
    """getChatMember refusing the payer means "not a member": the grant sends the invite."""
    ctx.telegram.answer_next("getChatMember", answer)
    paid(ctx, ANN)

    [(_, outcome)] = ctx.drain()

    assert outcome == "done"
    assert link_of(ctx, ANN).link in ctx.telegram.calls_of("sendMessage")[0].text
    with ctx.sessions() as session:
        assert session.scalars(select(TelegramEffect.status)).one() == "done"


def test_the_owner_is_approved_and_the_link_is_spent(ctx: Pipeline) -> None:
    """A covered owner through their own link is let in; the personal link is revoked as used."""
    paid(ctx, ANN)
    ctx.drain()

    assert ask_to_join(ctx, ANN, link_of(ctx, ANN).link) == "approved"

    assert ctx.telegram.members[CHANNEL, ANN] == "member"
    assert link_of(ctx, ANN).revoke_reason == "used"
    assert actions(ctx, ANN)[-1] == "join_approved"


@pytest.mark.parametrize("answer", GONE)
def test_a_request_gone_before_approval_is_final_and_keeps_the_link(
    ctx: Pipeline, answer: str,
) -> None:
    """Withdrawn before we answered: recorded, not a failure, and their link still works."""
    paid(ctx, ANN)
    ctx.drain()
    ctx.telegram.answer_next("approveChatJoinRequest", answer)

    assert ask_to_join(ctx, ANN, link_of(ctx, ANN).link) == "gone"

    link = link_of(ctx, ANN)
    assert (link.used_at, link.revoked_at) == (None, None)
    assert ctx.telegram.calls_of("revokeChatInviteLink") == []
    assert actions(ctx, ANN)[-1] == "join_request_gone"
    assert ask_to_join(ctx, ANN, link.link) == "approved"  # they ask again and get in


def test_a_request_an_earlier_attempt_approved_counts_as_approved(ctx: Pipeline) -> None:
    """HIDE_REQUESTER_MISSING for someone already in: our retried approval, so it is done."""
    paid(ctx, ANN)
    ctx.drain()
    ctx.telegram.members[CHANNEL, ANN] = "member"
    ctx.telegram.answer_next("approveChatJoinRequest", "Bad Request: HIDE_REQUESTER_MISSING")

    assert ask_to_join(ctx, ANN, link_of(ctx, ANN).link) == "approved"
    assert link_of(ctx, ANN).revoke_reason == "used"


@pytest.mark.parametrize("answer", GONE)
def test_a_decline_of_a_request_that_is_gone_is_final(ctx: Pipeline, answer: str) -> None:
    """Declining a request nobody is waiting on any more is recorded as declined, no failure."""
    add_user(ctx.sessions, BOB)
    ctx.telegram.answer_next("declineChatJoinRequest", answer)

    assert ask_to_join(ctx, BOB, None) == "declined"

    assert actions(ctx, BOB) == ["join_declined"]
    with ctx.sessions() as session:
        details = session.scalars(select(AccessHistory.details)
                                  .where(AccessHistory.user_id == BOB)).one()
    assert details is not None and '"request": "gone"' in details
    assert ctx.telegram.members.get((CHANNEL, BOB), "left") == "left"


def test_an_approval_telegram_refuses_is_recorded_and_keeps_the_link(ctx: Pipeline) -> None:
    """Missing rights on the approval: written to the history, no crash, the link still hers."""
    paid(ctx, ANN)
    ctx.drain()
    ctx.telegram.answer_next("approveChatJoinRequest",
                             "Bad Request: not enough rights to manage chat invite link")

    assert ask_to_join(ctx, ANN, link_of(ctx, ANN).link) == "refused"

    assert actions(ctx, ANN)[-1] == "join_refused"
    assert link_of(ctx, ANN).revoked_at is None


def messages_to(ctx: Pipeline, chat_id: int) -> list[str]:
    return [call.text for call in ctx.telegram.calls_of("sendMessage") if call.chat_id == chat_id]


@pytest.mark.parametrize("answer", [
    "Bad Request: not enough rights to manage chat invite link",
    "Forbidden: bot was kicked from the channel chat",
])
def test_a_refused_approval_tells_the_subscriber_and_the_admins_once(
    ctx: Pipeline, answer: str,
) -> None:
    """A payer Telegram will not let in hears so once, and each admin is alerted once."""
    paid(ctx, ANN)
    ctx.drain()
    invite_only = messages_to(ctx, ANN)
    ctx.telegram.answer_next("approveChatJoinRequest", answer, times=2)

    assert ask_to_join(ctx, ANN, link_of(ctx, ANN).link) == "refused"
    ctx.drain()
    assert ask_to_join(ctx, ANN, link_of(ctx, ANN).link) == "refused"  # she tries again
    ctx.drain()

    [told] = messages_to(ctx, ANN)[len(invite_only):]
    assert told == texts.join_refused(paid_through=access_end(ctx, ANN))
    with ctx.sessions() as session:
        refusal = session.scalars(select(AccessHistory)
                                  .where(AccessHistory.action == "join_refused")
                                  .order_by(AccessHistory.id)).first()
    assert refusal is not None and answer in (refusal.details or "")
    for admin in ADMINS:
        [alert] = messages_to(ctx, admin)
        assert alert == texts.join_refused_alert(user_id=ANN, error=answer,
                                                 history_id=refusal.id)
