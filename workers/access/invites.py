"""Personal invite links: grant them, and vet the join requests they produce.

Links are created with `creates_join_request=True` and named after their owner. Telegram has no
way to make a link personal: a `member_limit=1` link admits whoever opens it first, forwarded or
not. A join-request link admits nobody by itself; the request arrives as an update, and we
approve the owner while their access covers now and decline anyone else (revoking the leaked
link). The link is stored before it is sent, so a retried grant reuses it instead of minting a
second one (reliability.md S3).

Telegram's answers about one user are final answers, never hard failures: getChatMember
refusing a user means "not a member" (they get their link); approving or declining a request
that is gone (HIDE_REQUESTER_MISSING, USER_ID_INVALID) is written to the history, and the
owner's link is then left usable, so nobody is left with a link that no longer works for them.
An approval Telegram refuses (the bot lost its rights, or the channel) is told once to the
subscriber, with the reassurance that their payment is safe, and once to every admin.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from infra import texts
from infra.i18n import use_language
from infra.logging import get_logger
from infra.telegram import (
    TelegramAlreadyDone,
    TelegramBlocked,
    TelegramFailure,
    TelegramPermanent,
    TelegramUnknownUser,
)
from models.domain import access as rules
from models.history import record_history
from models.outbox import Effect, Effects
from models.outbox import queue_message as message
from models.schema import Access, InviteLink, Invoice, PlanChat
from workers.access.service import as_rule
from workers.context import WorkerContext
from workers.dispatch import dispatch
from workers.languages import language_of, speaking_to
from workers.notifications.service import keyboard

log = get_logger("workers.access")
MEMBER_STATUSES = frozenset({"member", "administrator", "creator"})
# Answers to approve/decline meaning the request is no longer there to answer (telegram.md §1).
REQUEST_GONE = (TelegramAlreadyDone, TelegramUnknownUser)


def _now() -> datetime:
    return datetime.now(UTC)


def link_name(user_id: int) -> str:
    return f"u{user_id}"[:32]


def is_member(ctx: WorkerContext, *, chat_id: int, user_id: int) -> bool:
    """In the chat; a user Telegram will not tell us about is not (reference telegram.md §3)."""
    return ctx.telegram.standing(chat_id=chat_id, user_id=user_id) in MEMBER_STATUSES


def _covered(session: Session, *, user_id: int, chat_id: int, now: datetime,
             ctx: WorkerContext) -> Access | None:
    row = session.scalar(select(Access).where(Access.user_id == user_id, Access.chat_id == chat_id))
    if row is None or not rules.is_covered(as_rule(row), now=now, grace=ctx.settings.grace):
        return None
    return row


def _usable_link(session: Session, *, user_id: int, chat_id: int) -> InviteLink | None:
    return session.scalar(
        select(InviteLink)
        .where(InviteLink.user_id == user_id, InviteLink.chat_id == chat_id,
               InviteLink.revoked_at.is_(None), InviteLink.used_at.is_(None))
        .order_by(InviteLink.id.desc())
    )


def _make_link(ctx: WorkerContext, *, user_id: int, chat_id: int, access_id: int | None,
               invoice_id: int | None) -> str:
    """Create the user's personal join-request link at Telegram and store it (then history)."""
    created = ctx.telegram.create_invite_link(
        chat_id=chat_id, name=link_name(user_id), creates_join_request=True
    )
    with ctx.sessions.begin() as session:
        now = _now()
        session.add(InviteLink(
            link=created.invite_link, name=link_name(user_id), user_id=user_id, chat_id=chat_id,
            access_id=access_id, invoice_id=invoice_id, creates_join_request=True,
            created_at=now,
        ))
        record_history(session, user_id=user_id, chat_id=chat_id, action="invite_created",
                       source="system", now=now, invoice_id=invoice_id)
    return created.invite_link


def prepare_links(ctx: WorkerContext, *, user_id: int, invoice_id: int) -> int:
    """At checkout, before any payment: the user's link to each chat of the invoice's plan,
    made now unless they hold a usable one, so that paying costs one Bot API call, not two.

    Safe ahead of payment: a join-request link admits nobody by itself, and its requests are
    approved only while the owner's access covers now (judge_join_request). One link per user
    and chat still: the grant and later checkouts reuse it. Telegram or the send budget failing
    here only moves the call to the grant; the number of links made is returned.
    """
    with ctx.sessions() as session:
        plan_id = session.get_one(Invoice, invoice_id).plan_id
        chats = [chat_id for chat_id in session.scalars(
                     select(PlanChat.chat_id).where(PlanChat.plan_id == plan_id))
                 if _usable_link(session, user_id=user_id, chat_id=chat_id) is None]
    made = 0
    for chat_id in chats:
        try:
            _make_link(ctx, user_id=user_id, chat_id=chat_id, access_id=None,
                       invoice_id=invoice_id)
        except (TelegramFailure, RedisError) as error:
            log.warning("invite_not_prepared", user_id=user_id, chat_id=chat_id,
                        error=type(error).__name__)
            continue
        made += 1
    return made


def grant_access(ctx: WorkerContext, effect: Effect) -> dict[str, Any]:
    """Make sure the user can get in: a confirmation if they are in, else their invite link."""
    payload = effect.payload
    user_id, chat_id = int(payload["user_id"]), int(payload["chat_id"])
    with ctx.sessions.begin() as session:
        access = _covered(session, user_id=user_id, chat_id=chat_id, now=_now(), ctx=ctx)
        paid_through = access.paid_through if access else None
        link = _usable_link(session, user_id=user_id, chat_id=chat_id) if access else None
        link_url = link.link if link else None
        language = language_of(session, user_id)
    with use_language(language):
        return _send_invite(ctx, payload, user_id=user_id, chat_id=chat_id,
                            paid_through=paid_through, link_url=link_url)


def _send_invite(ctx: WorkerContext, payload: dict[str, Any], *, user_id: int, chat_id: int,
                 paid_through: datetime | None, link_url: str | None) -> dict[str, Any]:
    """grant_access's messages, in the recipient's language."""
    # The first grant of a payment also confirms the payment: one message, not two.
    announce = bool(payload.get("announce_payment"))
    extra_days = int(payload.get("extra_days") or 0)

    def said(text: str) -> str:
        return texts.after_payment(text, extra_days=extra_days) if announce else text

    if paid_through is None:
        if announce:  # nothing to grant, but the money was received
            ctx.telegram.send_message(chat_id=user_id,
                                      text=texts.payment_received(extra_days=extra_days))
        return {"skipped": "access no longer covers now"}

    if is_member(ctx, chat_id=chat_id, user_id=user_id):
        message = ctx.telegram.send_message(
            chat_id=user_id, text=said(texts.already_member(paid_through=paid_through))
        )
        return {"already_member": True, "message_id": message.message_id}

    if link_url is None:  # none made at checkout (or Telegram refused it then)
        link_url = _make_link(ctx, user_id=user_id, chat_id=chat_id,
                              access_id=payload.get("access_id"),
                              invoice_id=payload.get("invoice_id"))

    message = ctx.telegram.send_message(
        chat_id=user_id,
        text=said(texts.invite(link=link_url, paid_through=paid_through)),
        reply_markup=keyboard({"buttons": [[{"text": texts.JOIN_BUTTON, "url": link_url}]]}),
    )
    with ctx.sessions.begin() as session:
        record_history(session, user_id=user_id, chat_id=chat_id, action="invite_sent",
                       source="system", now=_now(), invoice_id=payload.get("invoice_id"))
    return {"invite_link": link_url, "message_id": message.message_id}


@dataclass(frozen=True)
class JoinVerdict:
    approve: bool
    reason: str
    revoke_link: str | None = None


def judge_join_request(
    session: Session, *, ctx: WorkerContext, user_id: int, chat_id: int,
    invite_link: str | None, now: datetime,
) -> JoinVerdict:
    """Approve the link's owner while covered; decline anyone else and flag a leaked link."""
    link = None
    if invite_link:
        link = session.scalar(select(InviteLink).where(InviteLink.link == invite_link))
    if link is not None and link.user_id != user_id:
        return JoinVerdict(False, "link belongs to someone else", revoke_link=link.link)
    if _covered(session, user_id=user_id, chat_id=chat_id, now=now, ctx=ctx) is None:
        return JoinVerdict(False, "no access covers now")
    return JoinVerdict(True, "owner with access")


def _answer(ctx: WorkerContext, verdict: JoinVerdict, *, chat_id: int,
            user_id: int) -> tuple[str, str | None]:
    """("answered", None), or why not: "gone" (nothing left to answer) or "refused" (Telegram
    said no) with Telegram's words."""
    try:
        if verdict.approve:
            ctx.telegram.approve_join_request(chat_id=chat_id, user_id=user_id)
        else:
            ctx.telegram.decline_join_request(chat_id=chat_id, user_id=user_id)
    except REQUEST_GONE:
        # Answered by an earlier attempt of this task, or withdrawn by the person. Approved
        # earlier shows as membership; for a decline, gone is as good as declined.
        if not verdict.approve or not is_member(ctx, chat_id=chat_id, user_id=user_id):
            return "gone", None
    except (TelegramPermanent, TelegramBlocked) as refused:
        log.error("join_request_refused", user_id=user_id, error=str(refused))
        return "refused", refused.description
    return "answered", None


def _not_let_in(session: Session, *, ctx: WorkerContext, user_id: int, chat_id: int,
                verdict: JoinVerdict, invite_link: str | None, answer: str,
                error: str | None) -> Effects:
    """Record why a covered owner is not in; a refusal is told once to them and to the admins.

    Once per paid period: asking again while the cause lasts adds history, not messages.
    """
    now = _now()
    details = {"reason": verdict.reason, "link": invite_link}
    if answer == "gone":
        record_history(session, user_id=user_id, chat_id=chat_id, source="system",
                       action="join_request_gone", now=now, details=details)
        return []
    entry = record_history(session, user_id=user_id, chat_id=chat_id, source="system",
                           action="join_refused", now=now, details={**details, "error": error})
    session.flush()
    paid_through = session.scalars(select(Access.paid_through).where(
        Access.user_id == user_id, Access.chat_id == chat_id)).one()
    assert paid_through is not None  # the verdict approved: access covers now
    period = f"{user_id}:{chat_id}:{paid_through.isoformat()}"
    with speaking_to(session, user_id):
        refused = texts.join_refused(paid_through=paid_through)
    effects = message(session, key=f"join_refused:{period}", chat_id=user_id, now=now,
                      text=refused)
    for admin in sorted(ctx.settings.admins):
        with speaking_to(session, admin):
            alert = texts.join_refused_alert(user_id=user_id, error=error or "",
                                             history_id=entry.id)
        effects += message(session, key=f"join_refused_alert:{admin}:{period}",
                           chat_id=admin, text=alert, now=now)
    return effects


def handle_join_request(
    ctx: WorkerContext, *, user_id: int, chat_id: int, invite_link: str | None
) -> str:
    with ctx.sessions.begin() as session:
        verdict = judge_join_request(session, ctx=ctx, user_id=user_id, chat_id=chat_id,
                                     invite_link=invite_link, now=_now())
    answer, error = _answer(ctx, verdict, chat_id=chat_id, user_id=user_id)
    if answer != "answered" and verdict.approve:
        # Not let in: their link stays theirs and usable, so they can simply ask again.
        with ctx.sessions.begin() as session:
            effects = _not_let_in(session, ctx=ctx, user_id=user_id, chat_id=chat_id,
                                  verdict=verdict, invite_link=invite_link, answer=answer,
                                  error=error)
        dispatch(effects)
        return answer
    # A used link is revoked too: it was personal, and a new one is minted if ever needed.
    used_link = invite_link if verdict.approve and invite_link else None
    for link in filter(None, (verdict.revoke_link, used_link)):
        # A link that is not ours (e.g. the primary link) cannot be revoked: nothing to do.
        with suppress(TelegramPermanent):
            ctx.telegram.revoke_invite_link(chat_id=chat_id, invite_link=link)
    with ctx.sessions.begin() as session:
        now = _now()
        if used_link:
            session.execute(update(InviteLink)
                            .where(InviteLink.link == used_link, InviteLink.used_at.is_(None))
                            .values(used_at=now, revoked_at=now, revoke_reason="used"))
        if verdict.revoke_link:
            session.execute(update(InviteLink)
                            .where(InviteLink.link == verdict.revoke_link,
                                   InviteLink.revoked_at.is_(None))
                            .values(revoked_at=now, revoke_reason="used by someone else"))
            record_history(session, user_id=user_id, chat_id=chat_id, action="link_revoked",
                           source="system", now=now, details={"link": verdict.revoke_link})
        details = {"reason": verdict.reason}
        if answer != "answered":
            details["request"] = answer  # a decline Telegram had no request left for
        record_history(session, user_id=user_id, chat_id=chat_id,
                       action="join_approved" if verdict.approve else "join_declined",
                       source="system", now=now, details=details)
    return "approved" if verdict.approve else "declined"
