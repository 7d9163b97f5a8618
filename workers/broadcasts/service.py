"""Broadcast use cases: start one (recipients written set-wise), send it page by page in the
bulk lane, stop it, resume it, and tell the admin how it went.

At most once per recipient, also across a SIGKILL. A recipient moves `pending -> sending` in a
committed, conditional update before its message is handed to Telegram, and only a `pending`
row is ever sent; the outcome (`sent`, `failed`, `blocked`) is committed after Telegram's
answer, together with the next recipient's claim (one commit per message). The window this
leaves is the time between Telegram accepting a message and that commit: a process killed in
it leaves its recipient `sending`, and once the claim's lease (EFFECT_RELAY_AFTER_SECONDS) has
run out, a later page or a resume moves it to `unconfirmed`: final, never sent again. So a kill
costs at most one recipient per worker slot that was sending at that moment an `unconfirmed`
outcome (they got the message or not, never two), and nobody is ever sent it twice. We choose
this side on purpose: a message can be repeated by no one, whereas Telegram offers no way to
ask whether a message went out.

Retries: an answer that proves the message did not go out (429 with retry_after, a 5xx from
Telegram, a connection that was never made, no token from the send budget) puts the
recipient back to `pending` and the page ends, to be continued after the wait; it is never
counted as failed. A transport error after the request may have reached Telegram (a read
timeout, a dropped connection) is the same window as a kill: `unconfirmed`. A user Telegram
says cannot be messaged (blocked the bot, deactivated, chat not found) is `blocked` here and
`users.blocked_bot_at` is set, so later broadcasts skip them; any other refusal is `failed`
for that recipient alone.

Pages: a `broadcasts.send_page` task sends for at most PAGE_SECONDS or PAGE_SIZE recipients and
then queues the next page of its chain, so no worker holds a broadcast and other bulk work
interleaves; CHAINS chains run side by side (enough to fill the budget when Telegram answers
slowly). The bulk queue is read only when the other queues are empty and the bulk lane of the
send budget yields to every interactive call, so a payer's invite overtakes a broadcast.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiogram.exceptions import TelegramServerError
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from redis.exceptions import RedisError
from sqlalchemy import exists, func, insert, literal, select, update
from sqlalchemy.orm import Session

from infra import buttons, texts
from infra.db import insert_ignore_id
from infra.logging import get_logger
from infra.telegram import (
    BudgetTimeout,
    Lane,
    TelegramBlocked,
    TelegramFailure,
    TelegramTransient,
)
from models import broadcasts as queries
from models import outbox
from models.domain import segments as rules
from models.outbox import Effects
from models.schema import Broadcast, BroadcastRecipient, User
from models.types import UTCDateTime
from workers.admin.service import Command, audit, authorized
from workers.context import WorkerContext
from workers.languages import speaking_to

log = get_logger("workers.broadcasts")

PAGE_SIZE = 100
PAGE_SECONDS = 2.0
CHAINS = 2
Status = rules.RecipientStatus


@dataclass(frozen=True, kw_only=True)
class Draft:
    """What the admin confirmed: the audience and the message."""

    audience: rules.Audience
    text: str
    photo: str | None = None
    buttons: list[rules.UrlButton] = field(default_factory=list)


@dataclass
class Outcome:
    """What a use case produced: effects to dispatch, and the broadcast whose chains to run."""

    effects: Effects = field(default_factory=list)
    run: int | None = None


def _stop_button(broadcast_id: int) -> list[list[dict[str, str]]]:
    return buttons.broadcast_keyboard(buttons.BROADCAST_STOP, broadcast_id,
                                      text=texts.BROADCAST_STOP_BUTTON)


def _resume_button(broadcast_id: int) -> list[list[dict[str, str]]]:
    return buttons.broadcast_keyboard(buttons.BROADCAST_RESUME, broadcast_id,
                                      text=texts.BROADCAST_RESUME_BUTTON)


def _reply(session: Session, *, command: Command, text: str, now: datetime,
           keyboard: list[list[dict[str, str]]] | None = None) -> Effects:
    """The admin's answer, once per command (a redelivered task finds the key written)."""
    return outbox.queue_message(session, key=f"admin_reply:{command.request_key}",
                                chat_id=command.actor_id, text=text, now=now, buttons=keyboard)


# Start ------------------------------------------------------------------------------------

def start(session: Session, *, command: Command, draft: Draft, admins: frozenset[int],
          chat_id: int, grace: timedelta, now: datetime) -> Outcome:
    """Write the broadcast and its recipients (the segment as of `now`) in one transaction.

    Once per conversation: the broadcast is unique by the conversation's key, so a redelivered
    task or a second press of Confirm finds it and only makes sure its chains run.
    """
    if not authorized(session, command=command, admins=admins, action="broadcast",
                      now=now):
        return Outcome()
    audience = draft.audience
    broadcast_id = insert_ignore_id(session, Broadcast, {
        "request_key": command.request_key, "admin_id": command.actor_id,
        "segment": audience.segment.value, "days": audience.days, "text": draft.text,
        "photo": draft.photo, "buttons": queries.dump_buttons(draft.buttons),
        "status": rules.BroadcastStatus.SENDING.value, "created_at": now, "updated_at": now,
    }, conflict=["request_key"])
    if broadcast_id is None:
        existing = session.execute(select(Broadcast.id, Broadcast.status).where(
            Broadcast.request_key == command.request_key)).one()
        return Outcome(run=existing.id if existing.status == "sending" else None)
    members = queries.audience_query(audience, chat_id=chat_id, now=now,
                                     grace=grace).order_by(None).subquery()
    session.execute(insert(BroadcastRecipient).from_select(
        ["broadcast_id", "user_id", "status", "updated_at"],
        select(literal(broadcast_id), members.c.id, literal(Status.PENDING.value),
               literal(now, UTCDateTime()))))
    # Counted, not taken from rowcount: psycopg reports -1 for an INSERT .. SELECT here.
    total = int(session.scalar(select(func.count()).select_from(BroadcastRecipient).where(
        BroadcastRecipient.broadcast_id == broadcast_id)) or 0)
    session.execute(update(Broadcast).where(Broadcast.id == broadcast_id).values(total=total))
    audit(session, command=command, user_id=command.actor_id, action="broadcast_started",
          now=now)
    log.info("broadcast_started", broadcast_id=broadcast_id, total=total,
             segment=audience.segment.value)
    if total == 0:
        effects = _finish(session, broadcast_id, now=now)
        return Outcome(effects=effects)
    text = texts.broadcast_started(broadcast_id=broadcast_id, total=total)
    effects = _reply(session, command=command, text=text, now=now,
                     keyboard=_stop_button(broadcast_id))
    return Outcome(effects=effects, run=broadcast_id)


# Stop and resume --------------------------------------------------------------------------

def stop(session: Session, *, command: Command, broadcast_id: int, admins: frozenset[int],
         now: datetime) -> Outcome:
    """Stop sending: the chains see it at their next recipient and end."""
    if not authorized(session, command=command, admins=admins, action="bcast_stop",
                      now=now):
        return Outcome()
    changed = session.execute(
        update(Broadcast).where(Broadcast.id == broadcast_id,
                                Broadcast.status == rules.BroadcastStatus.SENDING.value)
        .values(status=rules.BroadcastStatus.STOPPED.value, updated_at=now))
    stopped = bool(changed.rowcount)  # type: ignore[attr-defined]
    if stopped:
        audit(session, command=command, user_id=command.actor_id, action="broadcast_stopped",
              now=now)
    progress = queries.progress(session, broadcast_id)
    text = texts.broadcast_stopped(broadcast_id=broadcast_id, progress=progress,
                                   stopped=stopped)
    keyboard = _resume_button(broadcast_id) if progress.left else None
    return Outcome(effects=_reply(session, command=command, text=text, now=now,
                                  keyboard=keyboard))


def resume(session: Session, *, command: Command, broadcast_id: int, admins: frozenset[int],
           now: datetime) -> Outcome:
    """Go on with those not yet sent to: a stopped broadcast, or one whose tasks died.

    Never a restart: claims a dead task left behind become `unconfirmed` (once their lease is
    over) and only `pending` recipients are sent to.
    """
    if not authorized(session, command=command, admins=admins, action="bcast_resume",
                      now=now):
        return Outcome()
    status = session.scalar(select(Broadcast.status).where(Broadcast.id == broadcast_id))
    release_stale_claims(session, broadcast_id, now=now)
    progress = queries.progress(session, broadcast_id)
    if status is None or not rules.can_resume(rules.BroadcastStatus(status), progress):
        text = texts.broadcast_not_resumable(broadcast_id=broadcast_id)
        return Outcome(effects=_reply(session, command=command, text=text, now=now))
    session.execute(update(Broadcast).where(Broadcast.id == broadcast_id)
                    .values(status=rules.BroadcastStatus.SENDING.value, updated_at=now))
    audit(session, command=command, user_id=command.actor_id, action="broadcast_resumed",
          now=now)
    text = texts.broadcast_resumed(broadcast_id=broadcast_id, progress=progress)
    return Outcome(effects=_reply(session, command=command, text=text, now=now,
                                  keyboard=_stop_button(broadcast_id)), run=broadcast_id)


def release_stale_claims(session: Session, broadcast_id: int, *, now: datetime) -> int:
    """Claims whose task is presumed dead (lease over) become `unconfirmed`: never resent."""
    changed = session.execute(
        update(BroadcastRecipient)
        .where(BroadcastRecipient.broadcast_id == broadcast_id,
               BroadcastRecipient.status == Status.SENDING.value,
               BroadcastRecipient.claimed_until <= now)
        .values(status=Status.UNCONFIRMED.value, claimed_until=None, updated_at=now,
                error="the sending task died before recording Telegram's answer"))
    return int(changed.rowcount)  # type: ignore[attr-defined]


# Sending ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Message:
    """The broadcast's message as the page sends it."""

    text: str
    photo: str | None
    markup: InlineKeyboardMarkup | None


def _message(session: Session, broadcast_id: int) -> Message | None:
    row = session.execute(select(Broadcast.text, Broadcast.photo, Broadcast.buttons)
                          .where(Broadcast.id == broadcast_id)).one_or_none()
    if row is None:
        return None
    url_buttons = queries.load_buttons(row.buttons)
    markup = InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=b.title, url=b.url)] for b in url_buttons
    ]) if url_buttons else None
    return Message(row.text, row.photo, markup)


def _claim_next(session: Session, broadcast_id: int, *, now: datetime,
                lease: timedelta) -> int | None:
    """Claim the next pending recipient while the broadcast is sending; its user id, or None.

    PostgreSQL skips rows another chain has locked; SQLite's writers take turns anyway.
    """
    sending = exists().where(Broadcast.id == broadcast_id,
                             Broadcast.status == rules.BroadcastStatus.SENDING.value)
    for _ in range(3):  # another chain may take the row between our read and our update
        user_id = session.scalar(
            select(BroadcastRecipient.user_id)
            .where(BroadcastRecipient.broadcast_id == broadcast_id,
                   BroadcastRecipient.status == Status.PENDING.value, sending)
            .order_by(BroadcastRecipient.user_id).limit(1)
            .with_for_update(skip_locked=True))
        if user_id is None:
            return None
        claimed = session.execute(
            update(BroadcastRecipient)
            .where(BroadcastRecipient.broadcast_id == broadcast_id,
                   BroadcastRecipient.user_id == user_id,
                   BroadcastRecipient.status == Status.PENDING.value)
            .values(status=Status.SENDING.value, claimed_until=now + lease, updated_at=now))
        if claimed.rowcount:  # type: ignore[attr-defined]
            return int(user_id)
    return None


@dataclass(frozen=True)
class Answer:
    """What became of one recipient's message."""

    user_id: int
    status: rules.RecipientStatus
    error: str | None = None


def _record(session: Session, broadcast_id: int, answer: Answer, *, now: datetime) -> None:
    """Write one recipient's outcome; a `sent` also overrides an `unconfirmed` set meanwhile."""
    claimed = [Status.SENDING.value]
    if answer.status is Status.SENT:
        claimed.append(Status.UNCONFIRMED.value)
    session.execute(
        update(BroadcastRecipient)
        .where(BroadcastRecipient.broadcast_id == broadcast_id,
               BroadcastRecipient.user_id == answer.user_id,
               BroadcastRecipient.status.in_(claimed))
        .values(status=answer.status.value, claimed_until=None, updated_at=now,
                error=answer.error[:2000] if answer.error else None))
    if answer.status is Status.BLOCKED:
        session.execute(update(User).where(User.id == answer.user_id,
                                           User.blocked_bot_at.is_(None))
                        .values(blocked_bot_at=now))


def surely_not_sent(failure: TelegramTransient) -> bool:
    """Whether a transient failure proves the message did not go out (so it may be resent)."""
    if isinstance(failure, BudgetTimeout) or failure.retry_after is not None:
        return True  # no token (never sent), or Telegram's 429
    if isinstance(failure.__cause__, TelegramServerError):
        return True  # Telegram answered with an error
    # aiogram words a refused connection "ClientConnectorError: …": the request never left.
    return failure.description.startswith("ClientConnectorError")


def _send_one(ctx: WorkerContext, message: Message, user_id: int) -> tuple[Answer, float | None]:
    """Send to one recipient: their outcome, and how long to wait first if it must be retried."""
    try:
        if message.photo:
            ctx.telegram.send_photo(chat_id=user_id, photo=message.photo,
                                    caption=message.text or None, reply_markup=message.markup,
                                    lane=Lane.BULK)
        else:
            ctx.telegram.send_message(chat_id=user_id, text=message.text,
                                      reply_markup=message.markup, lane=Lane.BULK)
    except TelegramBlocked as blocked:
        return Answer(user_id, Status.BLOCKED, blocked.description), None
    except TelegramTransient as failure:
        if surely_not_sent(failure):
            return Answer(user_id, Status.PENDING), max(failure.retry_after or 1.0, 0.1)
        return Answer(user_id, Status.UNCONFIRMED, failure.description), None
    except RedisError as error:  # the send budget lives in Redis: nothing was sent
        return Answer(user_id, Status.PENDING, f"send budget: {type(error).__name__}"), 1.0
    except TelegramFailure as refused:
        return Answer(user_id, Status.FAILED, refused.description), None
    return Answer(user_id, Status.SENT), None


@dataclass
class Page:
    """What one page did, and what the chain does next."""

    sent: int = 0
    effects: Effects = field(default_factory=list)
    # None: the chain ends; else queue the next page after this many seconds.
    next_in: float | None = None


def send_page(ctx: WorkerContext, broadcast_id: int, *, clock: Callable[[], datetime],
              page_size: int | None = None, page_seconds: float | None = None) -> Page:
    """Send to the next recipients for up to `page_seconds`; say whether the chain goes on."""
    lease = timedelta(seconds=ctx.settings.effect_relay_after_seconds)
    with ctx.sessions() as session:
        message = _message(session, broadcast_id)
    if message is None:
        return Page()
    page, answer, wait = Page(), None, None
    deadline = time.monotonic() + (PAGE_SECONDS if page_seconds is None else page_seconds)
    for _ in range(PAGE_SIZE if page_size is None else page_size):
        with ctx.sessions.begin() as session:
            now = clock()
            if answer is not None:
                _record(session, broadcast_id, answer, now=now)
            user_id = _claim_next(session, broadcast_id, now=now, lease=lease)
        answer = None
        if user_id is None:
            break
        answer, wait = _send_one(ctx, message, user_id)
        page.sent += answer.status is Status.SENT
        if wait is not None or time.monotonic() >= deadline:
            break
    if answer is not None:
        with ctx.sessions.begin() as session:
            _record(session, broadcast_id, answer, now=clock())
    with ctx.sessions.begin() as session:
        page.effects, page.next_in = _next_step(session, broadcast_id, now=clock(), wait=wait)
    return page


def _next_step(session: Session, broadcast_id: int, *, now: datetime,
               wait: float | None) -> tuple[Effects, float | None]:
    """Go on (pending left), wait for a claim in flight, finish, or end (stopped)."""
    status = session.scalar(select(Broadcast.status).where(Broadcast.id == broadcast_id))
    if status != rules.BroadcastStatus.SENDING.value:
        return [], None
    counts: dict[str, int] = {state: n for state, n in session.execute(
        select(BroadcastRecipient.status, func.count())
        .where(BroadcastRecipient.broadcast_id == broadcast_id,
               BroadcastRecipient.status.in_([Status.PENDING.value, Status.SENDING.value]))
        .group_by(BroadcastRecipient.status))}
    if counts.get(Status.PENDING.value):
        return [], wait or 0.0
    release_stale_claims(session, broadcast_id, now=now)
    in_flight = session.scalar(
        select(func.min(BroadcastRecipient.claimed_until))
        .where(BroadcastRecipient.broadcast_id == broadcast_id,
               BroadcastRecipient.status == Status.SENDING.value))
    if in_flight is not None:
        # Another chain is sending (it will finish), or died: look again when its lease ends.
        return [], max((in_flight - now).total_seconds(), 0.0) + 0.5
    return _finish(session, broadcast_id, now=now), None


def _finish(session: Session, broadcast_id: int, *, now: datetime) -> Effects:
    """Mark the broadcast done (once) and tell its admin the final counts."""
    changed = session.execute(
        update(Broadcast).where(Broadcast.id == broadcast_id,
                                Broadcast.status == rules.BroadcastStatus.SENDING.value)
        .values(status=rules.BroadcastStatus.DONE.value, finished_at=now, updated_at=now))
    if not changed.rowcount:  # type: ignore[attr-defined]
        return []
    admin_id = session.scalar(select(Broadcast.admin_id).where(Broadcast.id == broadcast_id))
    assert admin_id is not None
    progress = queries.progress(session, broadcast_id)
    log.info("broadcast_done", broadcast_id=broadcast_id, **_counts(progress))
    with speaking_to(session, admin_id):
        text = texts.broadcast_finished(broadcast_id=broadcast_id, progress=progress)
    return outbox.queue_message(session, key=f"broadcast_done:{broadcast_id}", chat_id=admin_id,
                                now=now, text=text)


def _counts(progress: rules.Progress) -> dict[str, Any]:
    return {"total": progress.total, "sent": progress.sent, "failed": progress.failed,
            "blocked": progress.blocked, "unconfirmed": progress.unconfirmed}


def draft_from(payload: dict[str, Any]) -> Draft:
    """The task's plain arguments as a Draft; raises BadAudience / BadMessage if they are off."""
    audience = rules.Audience(segment=rules.Segment(payload["segment"]),
                              days=payload.get("days"))
    photo = payload.get("photo") or None
    text = payload.get("text") or ""
    url_buttons = [rules.UrlButton(title, url) for title, url in payload.get("buttons") or []]
    # The bot checked it; the broker is not trusted to have kept it so.
    body, extra = rules.split_buttons(
        "\n".join([text, *(f"{b.title} - {b.url}" for b in url_buttons)]),
        has_photo=photo is not None)
    return Draft(audience=audience, text=body, photo=photo, buttons=extra)

