"""Broadcasts: the message an admin sent to a segment, and one row per recipient.

`broadcast_recipients` is written set-wise when the broadcast is confirmed (INSERT .. SELECT
over the segment) and walked by the sending tasks in user-id order; each row's status is the
one place that says whether that person was sent the message (models/domain/segments.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy import text as sql_text  # `text` is a column of Broadcast
from sqlalchemy.orm import Mapped, mapped_column

from models.schema.base import Base, now_utc, one_of

BROADCAST_STATUSES = ("sending", "stopped", "done")
RECIPIENT_STATUSES = ("pending", "sending", "sent", "failed", "blocked", "unconfirmed")
SEGMENTS = ("all", "active", "trialing", "expired", "never_paid", "expiring", "referred")


class Broadcast(Base):
    """One broadcast: who asked, for whom, what it says, and whether it is still sending."""

    __tablename__ = "broadcasts"
    __table_args__ = (
        one_of("status", BROADCAST_STATUSES),
        one_of("segment", SEGMENTS),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The admin's conversation it came from: a redelivered or double-pressed confirm finds it.
    request_key: Mapped[str] = mapped_column(String(255), unique=True)
    admin_id: Mapped[int] = mapped_column(BigInteger)
    segment: Mapped[str] = mapped_column(String(16))
    days: Mapped[int | None]
    text: Mapped[str] = mapped_column(Text)
    photo: Mapped[str | None] = mapped_column(String(255))  # a Telegram file_id
    buttons: Mapped[str | None] = mapped_column(Text)  # JSON [[title, url], ...]
    status: Mapped[str] = mapped_column(String(16), default="sending", server_default="sending")
    total: Mapped[int] = mapped_column(default=0, server_default=sql_text("0"))
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(default=now_utc, onupdate=now_utc)
    finished_at: Mapped[datetime | None]


class BroadcastRecipient(Base):
    """One person a broadcast is for, and what became of their message."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (
        # The sending tasks' next page: pending rows of one broadcast in user-id order; the
        # progress counts group by status.
        Index("ix_broadcast_recipients_broadcast_id_status_user_id",
              "broadcast_id", "status", "user_id"),
        one_of("status", RECIPIENT_STATUSES),
    )

    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    # While `sending`: until when the claiming task is presumed alive.
    claimed_until: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None]
