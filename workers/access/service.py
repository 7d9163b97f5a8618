"""Access use cases shared by payments, trials and admin commands: change paid-through time.

Each function runs inside the caller's transaction, locks the access row, applies a pure rule
from models.domain.access and appends the history entry in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db import insert_ignore
from models.domain import access as rules
from models.history import record_history
from models.schema import Access


@dataclass(frozen=True)
class AccessChange:
    access_id: int
    user_id: int
    chat_id: int
    before: datetime | None
    after: datetime | None


def locked_access(session: Session, *, user_id: int, chat_id: int, now: datetime) -> Access:
    """The user's access row for the chat, created empty if missing, locked for this transaction."""
    insert_ignore(
        session,
        Access,
        {
            "user_id": user_id,
            "chat_id": chat_id,
            "status": rules.AccessStatus.NONE.value,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        },
        conflict=["user_id", "chat_id"],
    )
    row = session.scalar(
        select(Access)
        .where(Access.user_id == user_id, Access.chat_id == chat_id)
        .with_for_update()
    )
    assert row is not None  # inserted above or already there
    return row


def as_rule(row: Access) -> rules.Access:
    return rules.Access(paid_through=row.paid_through, is_trial=row.is_trial,
                        removed_at=row.removed_at)


def store(row: Access, new: rules.Access, *, now: datetime) -> None:
    row.paid_through = new.paid_through
    row.is_trial = new.is_trial
    row.removed_at = new.removed_at
    status = rules.status_at(new, now=now)
    # Only the expiry sweep marks a row expired, after it has removed the member; a row whose
    # time just ran out (e.g. `/edit setdays 0`) waits in grace for the sweep to act on it.
    waiting = rules.AccessStatus.GRACE if status is rules.AccessStatus.EXPIRED else status
    row.status = waiting.value
    row.updated_at = now


def extend_access(
    session: Session,
    *,
    user_id: int,
    chat_id: int,
    days: int,
    now: datetime,
    plan_id: int | None,
    action: str,
    source: str,
    invoice_id: int | None = None,
    actor_id: int | None = None,
    command: str | None = None,
    details: dict[str, object] | None = None,
) -> AccessChange:
    """Add paid days (stacking on what is left) and record why."""
    row = locked_access(session, user_id=user_id, chat_id=chat_id, now=now)
    before = row.paid_through
    store(row, rules.extend(as_rule(row), days=days, now=now), now=now)
    if plan_id is not None:
        row.plan_id = plan_id
    session.flush()
    record_history(
        session, user_id=user_id, chat_id=chat_id, action=action, source=source, now=now,
        invoice_id=invoice_id, actor_id=actor_id, command=command, before=before,
        after=row.paid_through, details=details,
    )
    return AccessChange(access_id=row.id, user_id=user_id, chat_id=chat_id, before=before,
                        after=row.paid_through)
