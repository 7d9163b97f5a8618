"""The reads behind /roles and /user: plain dataclasses out, no ORM object leaves a session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.domain import access as rules
from models.schema import Access, Invoice, Plan, User

RECENT_PAYMENTS = 5


@dataclass(frozen=True)
class ChatStatus:
    chat_id: int
    status: rules.AccessStatus
    paid_through: datetime | None


@dataclass(frozen=True)
class Payment:
    paid_at: datetime
    amount: Decimal
    plan: str


@dataclass(frozen=True)
class UserCard:
    """One user as /user shows them: who, their standing in each chat, their last payments."""

    user_id: int
    name: str
    username: str | None
    trial_used: bool
    chats: list[ChatStatus]
    payments: list[Payment]


def user_card(session: Session, *, user_id: int, grace: timedelta,
              now: datetime) -> UserCard | None:
    """None for a user the bot has never seen."""
    user = session.get(User, user_id)
    if user is None:
        return None
    chats = [ChatStatus(chat_id=row.chat_id, paid_through=row.paid_through,
                        status=rules.status_at(rules.Access(
                            paid_through=row.paid_through, is_trial=row.is_trial,
                            removed_at=row.removed_at), now=now, grace=grace))
             for row in session.scalars(select(Access).where(Access.user_id == user_id)
                                        .order_by(Access.chat_id))]
    payments = [Payment(paid_at=paid_at, amount=amount, plan=title or code)
                for paid_at, amount, title, code in session.execute(
                    select(Invoice.activated_at, Invoice.amount_usd, Plan.title, Plan.code)
                    .join(Plan, Plan.id == Invoice.plan_id)
                    .where(Invoice.user_id == user_id, Invoice.activated_at.is_not(None))
                    .order_by(Invoice.activated_at.desc()).limit(RECENT_PAYMENTS))
                if paid_at is not None]
    return UserCard(user_id=user_id, name=user.first_name or "", username=user.username,
                    trial_used=user.trial_used_at is not None, chats=chats, payments=payments)
