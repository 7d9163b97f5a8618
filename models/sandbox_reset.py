"""Forgetting every subscriber at once: the database's half of the sandbox page's "Reset world".

Only the operator command `reset-sandbox` calls it, and only in sandbox mode. Plans stay, and
the append-only access history stays too: each user who had access gets one more line saying
the sandbox was reset, so the trail never loses a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from models.history import record_history
from models.schema import Access, AccessHistory, Base, Plan, PlanChat, PromoCode, User

# What describes the offer rather than who bought it, and the trail that must never shrink.
# Promo codes are offers too: they stay, their use counters back at 0 with their redemptions.
KEPT_TABLES = frozenset(t.__tablename__ for t in (Plan, PlanChat, AccessHistory, PromoCode))


@dataclass(frozen=True)
class ResetSummary:
    """How much was forgotten."""

    users: int
    accesses: int
    rows: int


def forget_subscribers(session: Session, *, now: datetime) -> ResetSummary:
    """Delete every subscriber's rows (children before parents) in the caller's transaction."""
    users = int(session.scalar(select(func.count()).select_from(User)) or 0)
    accesses = session.execute(select(Access.user_id, Access.chat_id, Access.paid_through)).all()
    for user_id, chat_id, paid_through in accesses:
        record_history(session, user_id=user_id, chat_id=chat_id, action="sandbox_reset",
                       source="system", now=now, before=paid_through, after=None)
    session.flush()
    rows = 0
    for table in reversed(Base.metadata.sorted_tables):
        if table.name not in KEPT_TABLES:
            rows += int(session.execute(delete(table)).rowcount)  # type: ignore[attr-defined]
    session.execute(update(PromoCode).values(uses=0))
    return ResetSummary(users=users, accesses=len(accesses), rows=rows)


def highest_known_user_id(session: Session) -> int:
    """The largest Telegram id the database has ever seen (history included), or 0."""
    users = session.scalar(select(func.max(User.id))) or 0
    history = session.scalar(select(func.max(AccessHistory.user_id))) or 0
    return max(int(users), int(history))
