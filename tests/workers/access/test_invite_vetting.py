"""What a grant and a join request leave behind: the link's fields, the history, the messages,
and who is let in through whose link."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from infra.settings import SANDBOX_CHANNEL_ID
from models.outbox import GRANT_ACCESS, Effect
from models.schema import Access, AccessHistory, InviteLink, Invoice, Plan
from tests.workers.harness import Pipeline, add_user, make_pipeline
from workers.access import invites
from workers.access.service import extend_access
from workers.context import use_context

CHANNEL = SANDBOX_CHANNEL_ID
ANN, BOB = 7401, 7402


@pytest.fixture
def ctx(db_url: str, engine: Any, session_factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    """A pipeline on a fresh database, installed as the worker context."""
    pipeline = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine)
    with use_context(pipeline):
        yield pipeline


def pay(ctx: Pipeline, user_id: int, *, days: int = 30) -> int:
    """`user_id` has `days` of access to CHANNEL from now; the access row's id."""
    add_user(ctx.sessions, user_id)
    with ctx.sessions.begin() as session:
        return extend_access(session, user_id=user_id, chat_id=CHANNEL, days=days,
                             now=datetime.now(UTC), plan_id=None, action="admin_grant",
                             source="admin").access_id


def grant(ctx: Pipeline, user_id: int, access_id: int | None, *,
          invoice_id: int | None = None) -> dict[str, Any]:
    payload = {"user_id": user_id, "chat_id": CHANNEL, "access_id": access_id,
               "invoice_id": invoice_id}
    return invites.grant_access(ctx, Effect(id=1, key="grant:t", method=GRANT_ACCESS,
                                            chat_id=user_id, status="pending", payload=payload))


def links(ctx: Pipeline, user_id: int) -> list[InviteLink]:
    with ctx.sessions() as session:
        return list(session.scalars(select(InviteLink).where(InviteLink.user_id == user_id)
                                    .order_by(InviteLink.id)))


def history(ctx: Pipeline, user_id: int) -> list[tuple[str, str, int | None, Any]]:
    """(action, source, invoice, details) of the user's entries other than the grant itself."""
    with ctx.sessions() as session:
        rows = session.scalars(select(AccessHistory)
                               .where(AccessHistory.user_id == user_id,
                                      AccessHistory.action != "admin_grant")
                               .order_by(AccessHistory.id)).all()
        assert all(row.chat_id == CHANNEL for row in rows)
        return [(row.action, row.source, row.invoice_id, json.loads(row.details or "null"))
                for row in rows]


def join(ctx: Pipeline, user_id: int, link: str | None) -> str:
    return invites.handle_join_request(ctx, user_id=user_id, chat_id=CHANNEL, invite_link=link)


# Granting -------------------------------------------------------------------------------------


def test_a_grant_makes_a_personal_join_request_link_stores_it_and_sends_it(
    ctx: Pipeline,
) -> None:
    """The link is named after its owner and needs a join request; it is stored with the access
    and invoice it belongs to, and the DM carries it as text and as a button."""
    access_id = pay(ctx, ANN)
    result = grant(ctx, ANN, access_id)
    [created] = ctx.telegram.calls_of("createChatInviteLink")
    assert (created.chat_id, created.name, created.creates_join_request) == (
        CHANNEL, f"u{ANN}", True)
    [link] = links(ctx, ANN)
    assert (link.name, link.chat_id, link.access_id, link.invoice_id,
            link.creates_join_request) == (f"u{ANN}", CHANNEL, access_id, None, True)
    [sent] = ctx.telegram.calls_of("sendMessage")
    assert sent.chat_id == ANN and link.link in sent.text
    assert sent.reply_markup.inline_keyboard[0][0].url == link.link
    assert sent.reply_markup.inline_keyboard[0][0].text == "Join the channel"
    assert result["invite_link"] == link.link and isinstance(result["message_id"], int)
    assert history(ctx, ANN) == [("invite_created", "system", None, None),
                                 ("invite_sent", "system", None, None)]


def test_a_retried_grant_resends_the_stored_link_instead_of_minting_one(ctx: Pipeline) -> None:
    """The second attempt finds the unused link: no second link, one more DM with the same."""
    access_id = pay(ctx, ANN)
    first = grant(ctx, ANN, access_id)
    second = grant(ctx, ANN, access_id)
    assert second["invite_link"] == first["invite_link"]
    assert len(ctx.telegram.calls_of("createChatInviteLink")) == 1
    assert [action for action, *_ in history(ctx, ANN)] == [
        "invite_created", "invite_sent", "invite_sent"]


@pytest.mark.parametrize("spent", ["used_at", "revoked_at"])
def test_a_spent_link_is_never_sent_again(ctx: Pipeline, spent: str) -> None:
    """A used or revoked link is dead: the next grant mints a fresh one."""
    access_id = pay(ctx, ANN)
    first = grant(ctx, ANN, access_id)["invite_link"]
    with ctx.sessions.begin() as session:
        link = session.scalars(select(InviteLink)).one()
        setattr(link, spent, datetime.now(UTC))
    assert grant(ctx, ANN, access_id)["invite_link"] != first


def test_a_grant_never_sends_a_link_made_for_someone_else_or_another_chat(
    ctx: Pipeline,
) -> None:
    """Bob's usable link to this channel and Ann's own link to another chat are not hers to
    get: her grant mints a link of her own for this channel."""
    bob_link = grant(ctx, BOB, pay(ctx, BOB))["invite_link"]
    access_id = pay(ctx, ANN)
    with ctx.sessions.begin() as session:
        session.add(InviteLink(link="https://t.me/+elsewhere", name="x", user_id=ANN,
                               chat_id=CHANNEL - 1, creates_join_request=True,
                               created_at=datetime.now(UTC)))
    link = grant(ctx, ANN, access_id)["invite_link"]
    assert link not in (bob_link, "https://t.me/+elsewhere")
    assert len(ctx.telegram.calls_of("createChatInviteLink")) == 2


def test_the_newest_usable_link_is_the_one_sent(ctx: Pipeline) -> None:
    """Two usable links (an older version made more): the newer one goes out."""
    access_id = pay(ctx, ANN)
    now = datetime.now(UTC)
    with ctx.sessions.begin() as session:
        for name in ("old", "new"):
            session.add(InviteLink(link=f"https://t.me/+{name}", name=name, user_id=ANN,
                                   chat_id=CHANNEL, creates_join_request=True, created_at=now))
            session.flush()
    assert grant(ctx, ANN, access_id)["invite_link"] == "https://t.me/+new"


def test_a_grant_carries_its_invoice_into_the_link_and_the_history(ctx: Pipeline) -> None:
    """Paid by invoice 42: the link and both history entries name it."""
    access_id = pay(ctx, ANN)
    with ctx.sessions.begin() as session:
        session.add(Plan(id=9, code="t", title="t", days=30, price_usd=Decimal("1.00")))
        session.flush()
        session.add(Invoice(id=42, order_id="ord_42", user_id=ANN, plan_id=9,
                            amount_usd=Decimal("1.00"), created_at=datetime.now(UTC),
                            updated_at=datetime.now(UTC)))
    grant(ctx, ANN, access_id, invoice_id=42)
    assert links(ctx, ANN)[0].invoice_id == 42
    assert [(action, invoice) for action, _, invoice, _ in history(ctx, ANN)] == [
        ("invite_created", 42), ("invite_sent", 42)]


def test_a_member_already_in_gets_a_confirmation_not_a_link(ctx: Pipeline) -> None:
    """In the channel already: one "you are in" message with the paid-through date, no link."""
    access_id = pay(ctx, ANN)
    ctx.telegram.members[CHANNEL, ANN] = "member"
    result = grant(ctx, ANN, access_id)
    [sent] = ctx.telegram.calls_of("sendMessage")
    assert sent.chat_id == ANN and sent.text.startswith("You are already in the channel.")
    assert result["already_member"] is True and isinstance(result["message_id"], int)
    assert ctx.telegram.calls_of("createChatInviteLink") == [] and links(ctx, ANN) == []
    assert history(ctx, ANN) == []


def test_a_grant_for_access_that_ended_meanwhile_does_nothing(ctx: Pipeline) -> None:
    """The access ran out before the grant ran: no link, no message, a skip for the log."""
    access_id = pay(ctx, ANN)
    with ctx.sessions.begin() as session:
        session.get_one(Access, access_id).paid_through = datetime.now(UTC) - timedelta(days=30)
    assert grant(ctx, ANN, access_id) == {"skipped": "access no longer covers now"}
    assert ctx.telegram.calls_of("sendMessage") == []
    add_user(ctx.sessions, BOB)  # and for someone with no access row at all
    assert grant(ctx, BOB, None) == {"skipped": "access no longer covers now"}


# Vetting join requests --------------------------------------------------------------------------


def test_the_owner_is_approved_and_the_history_says_why(ctx: Pipeline) -> None:
    """Approved through her own link: the link is revoked at Telegram and marked used."""
    access_id = pay(ctx, ANN)
    link = grant(ctx, ANN, access_id)["invite_link"]
    assert join(ctx, ANN, link) == "approved"
    [approved] = ctx.telegram.calls_of("approveChatJoinRequest")
    assert (approved.chat_id, approved.user_id) == (CHANNEL, ANN)
    [revoked] = ctx.telegram.calls_of("revokeChatInviteLink")
    assert (revoked.chat_id, revoked.invite_link) == (CHANNEL, link)
    [stored] = links(ctx, ANN)
    assert stored.used_at is not None and stored.revoked_at == stored.used_at
    assert history(ctx, ANN)[-1] == ("join_approved", "system", None,
                                     {"reason": "owner with access"})


def test_spending_one_link_leaves_everyone_elses_alone(ctx: Pipeline) -> None:
    """Ann gets in through her link: Bob's unused link stays usable, and asking again through
    her spent link does not move the time it was used."""
    ann_link = grant(ctx, ANN, pay(ctx, ANN))["invite_link"]
    bob_link = grant(ctx, BOB, pay(ctx, BOB))["invite_link"]
    assert join(ctx, ANN, ann_link) == "approved"
    [bob] = links(ctx, BOB)
    assert (bob.link, bob.used_at, bob.revoked_at) == (bob_link, None, None)
    used_at = links(ctx, ANN)[0].used_at
    assert join(ctx, ANN, ann_link) == "approved"
    assert links(ctx, ANN)[0].used_at == used_at


def test_a_covered_owner_asking_without_a_link_is_approved(ctx: Pipeline) -> None:
    """A request through no link of ours (e.g. the primary link): her access decides."""
    pay(ctx, ANN)
    assert join(ctx, ANN, None) == "approved"
    assert ctx.telegram.calls_of("revokeChatInviteLink") == []


def test_someone_using_another_persons_link_is_declined_and_the_link_revoked(
    ctx: Pipeline,
) -> None:
    """Bob, even with access of his own, asks through Ann's link: declined, Ann's leaked link
    revoked at Telegram and in our records, and Bob's history says so."""
    link = grant(ctx, ANN, pay(ctx, ANN))["invite_link"]
    pay(ctx, BOB)
    assert join(ctx, BOB, link) == "declined"
    [declined] = ctx.telegram.calls_of("declineChatJoinRequest")
    assert (declined.chat_id, declined.user_id) == (CHANNEL, BOB)
    assert ctx.telegram.calls_of("approveChatJoinRequest") == []
    assert [call.invite_link for call in ctx.telegram.calls_of("revokeChatInviteLink")] == [link]
    [stored] = links(ctx, ANN)
    assert stored.revoked_at is not None and stored.used_at is None
    assert stored.revoke_reason == "used by someone else"
    assert history(ctx, BOB) == [
        ("link_revoked", "system", None, {"link": link}),
        ("join_declined", "system", None, {"reason": "link belongs to someone else"})]


def test_revoking_a_leaked_link_touches_that_link_only(ctx: Pipeline) -> None:
    """Bob asks through Ann's spent link: his own link stays usable, and Ann's keeps the
    time and reason of its first revocation."""
    ann_link = grant(ctx, ANN, pay(ctx, ANN))["invite_link"]
    bob_link = grant(ctx, BOB, pay(ctx, BOB))["invite_link"]
    assert join(ctx, ANN, ann_link) == "approved"
    [spent] = links(ctx, ANN)
    assert join(ctx, BOB, ann_link) == "declined"
    [ann] = links(ctx, ANN)
    assert (ann.revoked_at, ann.revoke_reason) == (spent.revoked_at, "used")
    [bob] = links(ctx, BOB)
    assert (bob.link, bob.revoked_at) == (bob_link, None)


def test_someone_without_access_is_declined(ctx: Pipeline) -> None:
    """No access, or access that ran out, through no personal link: declined, nothing revoked."""
    add_user(ctx.sessions, BOB)
    assert join(ctx, BOB, "https://t.me/+primary") == "declined"
    access_id = pay(ctx, ANN)
    with ctx.sessions.begin() as session:
        session.get_one(Access, access_id).paid_through = datetime.now(UTC) - timedelta(days=30)
    assert join(ctx, ANN, None) == "declined"
    assert ctx.telegram.calls_of("revokeChatInviteLink") == []
    assert history(ctx, BOB) == [("join_declined", "system", None,
                                  {"reason": "no access covers now"})]


def test_only_the_askers_own_access_to_this_channel_lets_them_in(ctx: Pipeline) -> None:
    """Ann is covered here; Bob is covered only in another chat: Bob's request here is
    declined, whoever else has access."""
    pay(ctx, ANN)
    add_user(ctx.sessions, BOB)
    with ctx.sessions.begin() as session:
        extend_access(session, user_id=BOB, chat_id=CHANNEL - 1, days=30, now=datetime.now(UTC),
                      plan_id=None, action="admin_grant", source="admin")
    assert join(ctx, BOB, None) == "declined"
    assert ctx.telegram.calls_of("approveChatJoinRequest") == []


def test_a_gone_request_is_recorded_with_its_reason_and_link(ctx: Pipeline) -> None:
    """The approval finds no request and she is not in: the history keeps why and which link."""
    link = grant(ctx, ANN, pay(ctx, ANN))["invite_link"]
    ctx.telegram.answer_next("approveChatJoinRequest", "Bad Request: HIDE_REQUESTER_MISSING")
    assert join(ctx, ANN, link) == "gone"
    assert history(ctx, ANN)[-1] == ("join_request_gone", "system", None,
                                     {"reason": "owner with access", "link": link})


def test_a_link_that_is_not_ours_to_revoke_does_not_stop_the_vetting(ctx: Pipeline) -> None:
    """Revoking the leaked link is refused by Telegram: the decline is still recorded."""
    link = grant(ctx, ANN, pay(ctx, ANN))["invite_link"]
    add_user(ctx.sessions, BOB)
    ctx.telegram.answer_next("revokeChatInviteLink", "Bad Request: INVITE_HASH_INVALID")
    assert join(ctx, BOB, link) == "declined"
    assert [action for action, *_ in history(ctx, BOB)] == ["link_revoked", "join_declined"]


def test_is_member_counts_administrators_and_the_owner(
    ctx: Pipeline, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Members, administrators and the creator are in; left, kicked, restricted and a user
    Telegram will not tell us about are not."""
    for status, inside in (("member", True), ("administrator", True), ("creator", True),
                           ("left", False), ("kicked", False), ("restricted", False),
                           ("unknown", False)):
        monkeypatch.setattr(ctx.telegram, "standing", lambda *, chat_id, user_id, s=status: s)
        assert invites.is_member(ctx, chat_id=CHANNEL, user_id=ANN) is inside, status


def test_link_names_fit_telegrams_32_characters() -> None:
    """The name is the owner's id, cut to Telegram's limit."""
    assert invites.link_name(7401) == "u7401"
    assert len(invites.link_name(10**40)) == 32


def test_an_approval_telegram_refuses_is_logged_as_an_error_naming_the_user(
    ctx: Pipeline,
) -> None:
    """The operator's alerting reads error lines: the refusal names the user and Telegram's
    words."""
    link = grant(ctx, ANN, pay(ctx, ANN))["invite_link"]
    ctx.telegram.answer_next("approveChatJoinRequest",
                             "Bad Request: not enough rights to manage chat invite link")
    with capture_logs() as logs:
        assert join(ctx, ANN, link) == "refused"
    [line] = [line for line in logs if line["event"] == "join_request_refused"]
    assert (line["log_level"], line["user_id"]) == ("error", ANN)
    assert "not enough rights" in line["error"]
