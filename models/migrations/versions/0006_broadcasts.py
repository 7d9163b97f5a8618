"""Broadcasts: an admin's message to a segment, and one row per recipient with its outcome.

Revision ID: 0006
Revises: 0005
Created: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_key", sa.String(length=255), nullable=False),
        sa.Column("admin_id", sa.BigInteger(), nullable=False),
        sa.Column("segment", sa.String(length=16), nullable=False),
        sa.Column("days", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("photo", sa.String(length=255), nullable=True),
        sa.Column("buttons", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="sending", nullable=False),
        sa.Column("total", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        _timestamp("finished_at", nullable=True),
        sa.CheckConstraint("status IN ('sending', 'stopped', 'done')",
                           name=op.f("ck_broadcasts_status")),
        sa.CheckConstraint(
            "segment IN ('all', 'active', 'trialing', 'expired', 'never_paid', 'expiring', "
            "'referred')", name=op.f("ck_broadcasts_segment")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
        sa.UniqueConstraint("request_key", name=op.f("uq_broadcasts_request_key")),
    )
    op.create_table(
        "broadcast_recipients",
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        _timestamp("claimed_until", nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _timestamp("updated_at", nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'blocked', 'unconfirmed')",
            name=op.f("ck_broadcast_recipients_status")),
        sa.ForeignKeyConstraint(["broadcast_id"], ["broadcasts.id"],
                                name=op.f("fk_broadcast_recipients_broadcast_id_broadcasts")),
        sa.PrimaryKeyConstraint("broadcast_id", "user_id", name=op.f("pk_broadcast_recipients")),
    )
    op.create_index("ix_broadcast_recipients_broadcast_id_status_user_id",
                    "broadcast_recipients", ["broadcast_id", "status", "user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_broadcast_recipients_broadcast_id_status_user_id",
                  table_name="broadcast_recipients")
    op.drop_table("broadcast_recipients")
    op.drop_table("broadcasts")
