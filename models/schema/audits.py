"""Membership audits: one row per run of `/audit`, and one per finding it made.

A run walks its chats in order and, in each, the people to check in user-id order; its cursor
(`chat_index`, `after_user_id`) is committed with each person's finding, so a killed worker's
run resumes where it stopped. At most one run is `running` (a partial unique index).
`/audit fix` marks each finding it settled (`fix_outcome`), so a second fix does nothing new.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from models.schema.base import Base, now_utc, one_of

AUDIT_STATUSES = ("running", "finished", "failed")
AUDIT_ACTUALS = ("creator", "administrator", "member", "left", "kicked", "not_found", "error")
AUDIT_FINDINGS = ("member_without_access", "payer_not_in_chat", "banned_while_covered",
                  "admin", "unchecked")
# `claimed` while a fix works on the finding; the others are final.
AUDIT_FIX_OUTCOMES = ("claimed", "removed", "invited", "skipped", "refused")
RUNNING_PREDICATE = "status = 'running'"


class AuditRun(Base):
    """One audit: who asked, which chats, how far it got, and what it counted."""

    __tablename__ = "audit_runs"
    __table_args__ = (
        # One run at a time: a second /audit while one runs is told its progress instead.
        Index("uq_audit_runs_running", "status", unique=True,
              postgresql_where=sql_text(RUNNING_PREDICATE),
              sqlite_where=sql_text(RUNNING_PREDICATE)),
        one_of("status", AUDIT_STATUSES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by: Mapped[int] = mapped_column(BigInteger)
    chats: Mapped[str] = mapped_column(Text)  # JSON list of chat ids, in the order walked
    status: Mapped[str] = mapped_column(String(16), default="running",
                                        server_default="running")
    # The cursor: the chat being walked (index into `chats`) and the last person done in it.
    chat_index: Mapped[int] = mapped_column(default=0, server_default=sql_text("0"))
    after_user_id: Mapped[int] = mapped_column(BigInteger, default=0,
                                               server_default=sql_text("0"))
    total: Mapped[int] = mapped_column(default=0, server_default=sql_text("0"))
    checked: Mapped[int] = mapped_column(default=0, server_default=sql_text("0"))
    # Lines for the report about whole chats ("the bot is not a member of chat …").
    notes: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=now_utc)
    # A page's heartbeat: a running run not touched for a while has lost its chain.
    updated_at: Mapped[datetime] = mapped_column(default=now_utc)
    finished_at: Mapped[datetime | None]
    reported_at: Mapped[datetime | None]


class AuditFinding(Base):
    """One person in one chat whose actual standing differs from (or is notable against) ours."""

    __tablename__ = "audit_findings"
    __table_args__ = (
        UniqueConstraint("run_id", "chat_id", "user_id"),
        one_of("actual", AUDIT_ACTUALS),
        one_of("finding", AUDIT_FINDINGS),
        one_of("fix_outcome", AUDIT_FIX_OUTCOMES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("audit_runs.id"))
    user_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    actual: Mapped[str] = mapped_column(String(16))
    # Our record's status at the time of the check (models.domain.access.AccessStatus).
    recorded: Mapped[str] = mapped_column(String(16))
    paid_through: Mapped[datetime | None]
    finding: Mapped[str] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(default=now_utc)
    fix_outcome: Mapped[str | None] = mapped_column(String(16))
    fix_note: Mapped[str | None] = mapped_column(Text)
    fixed_at: Mapped[datetime | None]
