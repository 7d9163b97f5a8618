"""Who may read which chat: users, plans, entitlements, invite links, reminders, history.

`access` holds one row per (user, granted chat); renewals stack on that row. `access_history`
is append-only: the ORM refuses to update or delete its rows here, and the migration installs a
database trigger that refuses the same for raw SQL.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.schema.base import Base, now_utc, one_of
from models.types import Money

ACCESS_STATUSES = ("none", "trialing", "active", "grace", "expired", "removed")
HISTORY_SOURCES = ("payment", "trial", "admin", "sweep", "system", "user")
# Running or in grace: the rows the expiry sweep has not finished with.
UNSWEPT_PREDICATE = "status IN ('trialing', 'active', 'grace')"


class User(Base):
    """A Telegram user who talked to the bot; the primary key is their Telegram id."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("referred_by_id <> id", name="not_self_referred"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    language_code: Mapped[str | None] = mapped_column(String(16))
    # Chosen with /language; NULL means "follow language_code" (see infra.i18n.resolve).
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    terms_accepted_at: Mapped[datetime | None]
    trial_used_at: Mapped[datetime | None]
    blocked_bot_at: Mapped[datetime | None]
    referred_by_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))


class Plan(Base):
    """Something for sale: a number of days of access to the plan's chats at a USD price."""

    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint("days > 0", name="days_positive"),
        CheckConstraint("price_usd > 0", name="price_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    days: Mapped[int]
    price_usd: Mapped[Decimal] = mapped_column(Money)
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    # The price in Telegram Stars; NULL: the plan is not sold for Stars.
    price_stars: Mapped[int | None] = mapped_column(Integer)


class PlanChat(Base):
    """A chat that buying the plan grants access to."""

    __tablename__ = "plan_chats"

    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class Access(Base):
    """A user's entitlement to one chat; paid time stacks on this row across renewals."""

    __tablename__ = "access"
    __table_args__ = (
        UniqueConstraint("user_id", "chat_id"),
        # The expiry sweep and the reminders scan by status and due time.
        Index("ix_access_status_paid_through", "status", "paid_through"),
        # Their keyset pages and counts at a million rows: only rows someone may still be in
        # the channel by (running or in grace), in page order, with what a page reads
        # (PostgreSQL: an index-only scan; SQLite has no INCLUDE, the partial index remains).
        Index("ix_access_unswept_paid_through", "chat_id", "paid_through", "id",
              postgresql_where=text(UNSWEPT_PREDICATE), sqlite_where=text(UNSWEPT_PREDICATE),
              postgresql_include=["user_id", "status"]),
        one_of("status", ACCESS_STATUSES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # The last plan bought; NULL for a trial or an admin grant.
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    paid_through: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    is_trial: Mapped[bool] = mapped_column(default=False, server_default=false())
    removed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(default=now_utc, onupdate=now_utc)
    # Optimistic lock: a flush over a concurrently changed row raises StaleDataError.
    # Bulk update() statements bypass it, so they must bump it themselves.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __mapper_args__: dict[str, Any] = {"version_id_col": version}  # noqa: RUF012


class InviteLink(Base):
    """A personal invite link created for one user and chat, and what became of it."""

    __tablename__ = "invite_links"
    __table_args__ = (Index("ix_invite_links_user_id_chat_id", "user_id", "chat_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    link: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    access_id: Mapped[int | None] = mapped_column(ForeignKey("access.id"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    creates_join_request: Mapped[bool] = mapped_column(default=False, server_default=false())
    expire_date: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoke_reason: Mapped[str | None] = mapped_column(String(255))


class RenewalReminder(Base):
    """A renewal reminder sent; unique per access period so a retry never sends it twice."""

    __tablename__ = "renewal_reminders"
    __table_args__ = (
        UniqueConstraint("access_id", "days_before", "period_end"),
        CheckConstraint("days_before >= 0", name="days_before_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    access_id: Mapped[int] = mapped_column(ForeignKey("access.id"))
    days_before: Mapped[int]
    # The paid_through the reminder was about: a renewal opens a new period.
    period_end: Mapped[datetime]
    sent_at: Mapped[datetime] = mapped_column(default=now_utc)


class AccessHistory(Base):
    """One append-only entry of the access audit trail (what changed, why, by whom)."""

    __tablename__ = "access_history"
    __table_args__ = (
        Index("ix_access_history_user_id_created_at", "user_id", "created_at"),
        # The sweep breaker's recent churn and the confirmation's totals count by action and time.
        Index("ix_access_history_action_created_at", "action", "created_at"),
        one_of("source", HISTORY_SOURCES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign key: refusals for users the bot has never seen are recorded too.
    user_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    # Free vocabulary (trial_started, payment_activated, ...): it grows with features.
    action: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    command: Mapped[str | None] = mapped_column(Text)
    invoice_id: Mapped[int | None]
    paid_through_before: Mapped[datetime | None]
    paid_through_after: Mapped[datetime | None]
    details: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now_utc)


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete an append-only row."""


@event.listens_for(AccessHistory, "before_update")
@event.listens_for(AccessHistory, "before_delete")
def _refuse_history_rewrite(mapper: object, connection: object, target: AccessHistory) -> None:
    raise AppendOnlyError(f"access_history is append-only (entry {target.id})")
