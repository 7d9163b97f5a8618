"""Queries over the payment inbox: record an event once, find the ones still to process.

The unique key (invoice, reported status) makes recording idempotent: CryptoCloud may send the
same postback several times and the poll may report what a postback already did. An event is
open until it is processed (it reached a final answer) or given up (it failed for a reason other
than an unreachable or lagging provider `MAX_EVENT_ATTEMPTS` times, see workers/payments/events.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models.schema import PaymentEvent
from models.schema.payments import CRYPTOCLOUD

# Failed attempts (not counting an unreachable or lagging provider) before an event is given up.
MAX_EVENT_ATTEMPTS = 5


@dataclass(frozen=True)
class InboxEntry:
    """Where an event stands after recording: its id, and whether it still needs processing."""

    id: int
    is_new: bool
    processed: bool
    given_up: bool = False

    @property
    def needs_processing(self) -> bool:
        """Whether to queue it: neither processed nor given up."""
        return not self.processed and not self.given_up


@cache
def _insert_event(dialect: str) -> Any:
    """INSERT .. ON CONFLICT (invoice, status) DO NOTHING RETURNING id, built once per dialect.

    The gateway records an event per postback; building and coercing the statement anew each
    time cost more than running it (bench/: the inbox write was a third of the gateway's time).
    """
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(PaymentEvent)
    elif dialect == "sqlite":
        stmt = sqlite.insert(PaymentEvent)
    else:
        raise NotImplementedError(f"the inbox does not support {dialect}")
    return stmt.on_conflict_do_nothing(
        index_elements=["invoice_uuid", "reported_status"]).returning(PaymentEvent.id)


def record_payment_event(
    db: Session | Connection,
    *,
    invoice_uuid: str,
    reported_status: str,
    source: str,
    payload: str,
    now: datetime,
    provider: str = CRYPTOCLOUD,
) -> InboxEntry:
    """Insert the event unless (invoice, status) is already there; return the stored row.

    `db` is an ORM session or, where nothing else is done in the transaction (the gateway), a
    bare connection, which saves the session's own cost on every postback.
    """
    dialect = db.dialect.name if isinstance(db, Connection) else db.get_bind().dialect.name
    new_id = db.execute(_insert_event(dialect), {
        "invoice_uuid": invoice_uuid,
        "reported_status": reported_status,
        "source": source,
        "payload": payload,
        "received_at": now,
        "provider": provider,
    }).scalar()
    if new_id is not None:  # the common case answers in one round trip
        return InboxEntry(id=int(new_id), is_new=True, processed=False)
    row = db.execute(
        select(PaymentEvent.id, PaymentEvent.processed_at, PaymentEvent.attempts).where(
            PaymentEvent.invoice_uuid == invoice_uuid,
            PaymentEvent.reported_status == reported_status,
        )
    ).one()
    return InboxEntry(id=row.id, is_new=False, processed=row.processed_at is not None,
                      given_up=row.attempts >= MAX_EVENT_ATTEMPTS)


def unprocessed_event_ids(session: Session, *, received_before: datetime, limit: int) -> list[int]:
    """Open events (a lost enqueue, a crashed worker, a lagging provider), oldest first."""
    return list(
        session.scalars(
            select(PaymentEvent.id)
            .where(PaymentEvent.processed_at.is_(None), PaymentEvent.received_at < received_before,
                   PaymentEvent.attempts < MAX_EVENT_ATTEMPTS)
            .order_by(PaymentEvent.received_at)
            .limit(limit)
        )
    )


def mark_processed(session: Session, event_id: int, *, now: datetime) -> None:
    session.execute(
        update(PaymentEvent)
        .where(PaymentEvent.id == event_id, PaymentEvent.processed_at.is_(None))
        .values(processed_at=now)
    )


def note_failure(session: Session, event_id: int, *, error: str, counted: bool) -> int:
    """Write why the event is still open; `counted` adds a failed attempt. Return the attempts."""
    increment = 1 if counted else 0
    session.execute(
        update(PaymentEvent)
        .where(PaymentEvent.id == event_id)
        .values(attempts=PaymentEvent.attempts + increment, last_error=error[:2000])
    )
    return int(session.scalar(select(PaymentEvent.attempts).where(PaymentEvent.id == event_id))
               or 0)
