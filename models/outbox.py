"""The outbox of Telegram side effects (the `telegram_effects` table).

A use case that must message someone or grant an invite writes an effect row in the same
transaction as the change that causes it; a task performs it after the commit and records the
result under the same key. A retried task finds the key done and does nothing, and the relay
re-queues effects that a lost message or a crash left pending.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from infra.db import insert_ignore_id, insert_ignore_rows
from models.schema import TelegramEffect

# Effect kinds; each is performed by its own task (see workers/notifications and workers/access).
SEND_MESSAGE = "sendMessage"
# A message one of many receive (reminder, expiry notice, broadcast): it waits behind the others.
SEND_BULK_MESSAGE = "sendBulkMessage"
GRANT_ACCESS = "grantAccess"


# (effect id, method) pairs a committed transaction hands to workers/dispatch.py.
Effects = list[tuple[int, str]]


@dataclass(frozen=True)
class Effect:
    id: int
    key: str
    method: str
    chat_id: int | None
    status: str
    payload: dict[str, Any]


def add_effect(
    session: Session,
    *,
    key: str,
    method: str,
    chat_id: int | None,
    payload: dict[str, Any],
    now: datetime,
) -> int | None:
    """Record an intended effect; return its id, or None if that key was recorded before."""
    return insert_ignore_id(
        session,
        TelegramEffect,
        {
            "key": key,
            "method": method,
            "chat_id": chat_id,
            "status": "pending",
            "request": json.dumps(payload, default=str, sort_keys=True),
            "created_at": now,
            "updated_at": now,
        },
        conflict=["key"],
    )


def queue_message(
    session: Session, *, key: str, chat_id: int, text: str, now: datetime,
    buttons: list[list[dict[str, str]]] | None = None, bulk: bool = False,
) -> Effects:
    """Write one message to the outbox under `key`; [] if that key was written before.

    `buttons` are rows of inline buttons, each {"text", and "url" or "data"}. A `bulk` message
    is one of a wave (reminders, notices): it yields to the messages someone waits for now.
    """
    payload = _message_payload(Message(key, chat_id, text, buttons))
    method = SEND_BULK_MESSAGE if bulk else SEND_MESSAGE
    effect_id = add_effect(session, key=key, method=method, chat_id=chat_id,
                           payload=payload, now=now)
    return [] if effect_id is None else [(effect_id, method)]


@dataclass(frozen=True)
class Message:
    """One message for `queue_messages`: written once under `key`."""

    key: str
    chat_id: int
    text: str
    buttons: list[list[dict[str, str]]] | None = None


def queue_messages(session: Session, messages: list[Message], *, now: datetime,
                   bulk: bool = False) -> Effects:
    """`queue_message` for a page of messages in one statement; those whose key is new.

    The effects come back in id order, which is the order they were written in.
    """
    method = SEND_BULK_MESSAGE if bulk else SEND_MESSAGE
    rows = [{"key": item.key, "method": method, "chat_id": item.chat_id,
             "status": "pending", "request": json.dumps(_message_payload(item), default=str,
                                                         sort_keys=True),
             "created_at": now, "updated_at": now} for item in messages]
    written = insert_ignore_rows(session, TelegramEffect, rows, conflict=["key"],
                                 returning=["id"])
    return [(row.id, method) for row in sorted(written, key=lambda row: row.id)]


def _message_payload(item: Message) -> dict[str, Any]:
    payload: dict[str, Any] = {"chat_id": item.chat_id, "text": item.text}
    if item.buttons:
        payload["buttons"] = item.buttons
    return payload


def chats_of(session: Session, effect_ids: Collection[int]) -> dict[int, int | None]:
    """Each effect's chat (whom it messages), by effect id."""
    rows = session.execute(
        select(TelegramEffect.id, TelegramEffect.chat_id).where(TelegramEffect.id.in_(effect_ids))
    ).all()
    return {row.id: row.chat_id for row in rows}


def load_effect(session: Session, effect_id: int) -> Effect | None:
    row = session.get(TelegramEffect, effect_id)
    if row is None:
        return None
    return Effect(
        id=row.id,
        key=row.key,
        method=row.method,
        chat_id=row.chat_id,
        status=row.status,
        payload=json.loads(row.request or "{}"),
    )


def finish_effect(
    session: Session,
    effect_id: int,
    *,
    status: str,
    now: datetime,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    """Move a pending effect to done or failed; False if it was already finished."""
    changed = session.execute(
        update(TelegramEffect)
        .where(TelegramEffect.id == effect_id, TelegramEffect.status == "pending")
        .values(
            status=status,
            result=json.dumps(result, default=str, sort_keys=True) if result else None,
            error=error[:2000] if error else None,
            attempts=TelegramEffect.attempts + 1,
            updated_at=now,
        )
    )
    return bool(changed.rowcount)  # type: ignore[attr-defined]


def note_attempt(session: Session, effect_id: int, *, error: str, now: datetime) -> None:
    session.execute(
        update(TelegramEffect)
        .where(TelegramEffect.id == effect_id)
        .values(attempts=TelegramEffect.attempts + 1, error=error[:2000], updated_at=now)
    )


def claim_effect(
    session: Session, effect_id: int, *, owner: str, now: datetime, lease: timedelta
) -> bool:
    """Take a pending effect for `lease`; False if it is finished or another live task holds it.

    The holder's own retries (same `owner`, a Celery task id) may take it again at any time.
    """
    claimable = or_(TelegramEffect.claimed_until.is_(None), TelegramEffect.claimed_until <= now,
                    TelegramEffect.claimed_by == owner)
    changed = session.execute(
        update(TelegramEffect)
        .where(TelegramEffect.id == effect_id, TelegramEffect.status == "pending", claimable)
        .values(claimed_by=owner, claimed_until=now + lease, updated_at=now)
    )
    return bool(changed.rowcount)  # type: ignore[attr-defined]


def effects_to_relay(
    session: Session, *, now: datetime, unclaimed_since: datetime, limit: int
) -> list[tuple[int, str]]:
    """(id, method) of pending effects no live task holds, oldest first, marked as relayed.

    That is: a claim that ran out (its worker died), or no claim since `unclaimed_since` (the
    message was lost before any worker took it). Relaying clears the claim and restarts the
    unclaimed clock, so an effect waiting in a long queue is not re-queued every round.
    """
    abandoned = and_(TelegramEffect.claimed_until.is_not(None),
                     TelegramEffect.claimed_until <= now)
    never_taken = and_(TelegramEffect.claimed_until.is_(None),
                       TelegramEffect.updated_at < unclaimed_since)
    rows = session.execute(
        select(TelegramEffect.id, TelegramEffect.method)
        .where(TelegramEffect.status == "pending", or_(abandoned, never_taken))
        .order_by(TelegramEffect.updated_at, TelegramEffect.id)
        .limit(limit)
    ).all()
    ids = [row.id for row in rows]
    if ids:
        session.execute(
            update(TelegramEffect)
            .where(TelegramEffect.id.in_(ids), TelegramEffect.status == "pending")
            .values(claimed_by=None, claimed_until=None, updated_at=now)
        )
    return [(row.id, row.method) for row in rows]
