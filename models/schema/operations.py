"""Bookkeeping of the machinery: Telegram side effects, scheduled runs, sweep holds, dead letters,
task attempts.

These tables make retries safe: a Telegram call is recorded under an idempotency key before it
is made, and a task id that keeps killing its worker is counted and parked in `dead_letters`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.schema.base import Base, now_utc, one_of

EFFECT_STATUSES = ("pending", "done", "failed")
SWEEP_HOLD_STATUSES = ("held", "confirmed", "superseded")


class TelegramEffect(Base):
    """A Telegram call made once per key: intent first, then its result, so retries check."""

    __tablename__ = "telegram_effects"
    __table_args__ = (
        Index("ix_telegram_effects_status_updated_at", "status", "updated_at"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        one_of("status", EFFECT_STATUSES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # e.g. "invite_dm:invoice:42"
    key: Mapped[str] = mapped_column(String(255), unique=True)
    method: Mapped[str] = mapped_column(String(64))
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    request: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(default=now_utc, onupdate=now_utc)
    # The task (Celery task id, kept across its retries) performing it, and until when: past
    # that, the holder is presumed dead and the relay hands the effect to another task.
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    claimed_until: Mapped[datetime | None]


class ScheduledRun(Base):
    """When beat last started each periodic task: a second beat's firing finds it taken."""

    __tablename__ = "scheduled_runs"

    task: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_run_at: Mapped[datetime]


class SweepHold(Base):
    """The expiry sweep's circuit breaker: a suspiciously large removal waits for an admin."""

    __tablename__ = "sweep_holds"
    __table_args__ = (one_of("status", SWEEP_HOLD_STATUSES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    due_count: Mapped[int]
    member_count: Mapped[int | None]
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="held", server_default="held")
    confirmed_by: Mapped[int | None] = mapped_column(BigInteger)
    confirmed_at: Mapped[datetime | None]


class DeadLetter(Base):
    """A task given up on, kept with its arguments so an admin can replay it."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_name: Mapped[str] = mapped_column(String(255))
    task_id: Mapped[str | None] = mapped_column(String(255))
    args: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    replayed_at: Mapped[datetime | None]


class TaskAttempt(Base):
    """How many times a task id was delivered, so a poison task is parked after N tries."""

    __tablename__ = "task_attempts"
    __table_args__ = (CheckConstraint("attempts >= 0", name="attempts_not_negative"),)

    task_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    task_name: Mapped[str] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(default=now_utc, onupdate=now_utc)
