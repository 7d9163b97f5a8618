"""Membership audits: each /audit run with its cursor, and the findings it made.

Revision ID: 0012
Revises: 0011
Created: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNNING = "status = 'running'"


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _zero(name: str, type_: sa.types.TypeEngine[int] | None = None) -> sa.Column:
    return sa.Column(name, type_ or sa.Integer(), server_default=sa.text("0"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "audit_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.BigInteger(), nullable=False),
        sa.Column("chats", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="running", nullable=False),
        _zero("chat_index"),
        _zero("after_user_id", sa.BigInteger()),
        _zero("total"),
        _zero("checked"),
        sa.Column("notes", sa.Text(), nullable=True),
        _timestamp("started_at"),
        _timestamp("updated_at"),
        _timestamp("finished_at", nullable=True),
        _timestamp("reported_at", nullable=True),
        sa.CheckConstraint("status IN ('running', 'finished', 'failed')",
                           name=op.f("ck_audit_runs_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_runs")),
    )
    op.create_index("uq_audit_runs_running", "audit_runs", ["status"], unique=True,
                    postgresql_where=sa.text(RUNNING), sqlite_where=sa.text(RUNNING))
    op.create_table(
        "audit_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("actual", sa.String(length=16), nullable=False),
        sa.Column("recorded", sa.String(length=16), nullable=False),
        _timestamp("paid_through", nullable=True),
        sa.Column("finding", sa.String(length=32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _timestamp("checked_at"),
        sa.Column("fix_outcome", sa.String(length=16), nullable=True),
        sa.Column("fix_note", sa.Text(), nullable=True),
        _timestamp("fixed_at", nullable=True),
        sa.CheckConstraint(
            "actual IN ('creator', 'administrator', 'member', 'left', 'kicked', 'not_found', "
            "'error')", name=op.f("ck_audit_findings_actual")),
        sa.CheckConstraint(
            "finding IN ('member_without_access', 'payer_not_in_chat', 'banned_while_covered', "
            "'admin', 'unchecked')", name=op.f("ck_audit_findings_finding")),
        sa.CheckConstraint(
            "fix_outcome IN ('claimed', 'removed', 'invited', 'skipped', 'refused')",
            name=op.f("ck_audit_findings_fix_outcome")),
        sa.ForeignKeyConstraint(["run_id"], ["audit_runs.id"],
                                name=op.f("fk_audit_findings_run_id_audit_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_findings")),
        sa.UniqueConstraint("run_id", "chat_id", "user_id",
                            name=op.f("uq_audit_findings_run_id_chat_id_user_id")),
    )


def downgrade() -> None:
    op.drop_table("audit_findings")
    op.drop_index("uq_audit_runs_running", table_name="audit_runs")
    op.drop_table("audit_runs")
