"""Sweep pages at a million subscribers: a partial covering index on unswept access rows.

The expiry sweep and the renewal reminders walk `access` in keyset pages of
(chat_id, paid_through, id) over rows still running or in grace, and count them for the
circuit breaker; on PostgreSQL the index carries user_id and status, so a page and the counts
are index-only scans. SQLite has no INCLUDE: it gets the same partial index without it. The
breaker's recent-churn count reads `access_history` by (action, created_at).

Revision ID: 0004
Revises: 0003
Created: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSWEPT = "status IN ('trialing', 'active', 'grace')"


def upgrade() -> None:
    op.create_index(
        "ix_access_unswept_paid_through", "access", ["chat_id", "paid_through", "id"],
        unique=False, postgresql_where=sa.text(UNSWEPT), sqlite_where=sa.text(UNSWEPT),
        postgresql_include=["user_id", "status"])
    op.create_index("ix_access_history_action_created_at", "access_history",
                    ["action", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_access_history_action_created_at", table_name="access_history")
    op.drop_index("ix_access_unswept_paid_through", table_name="access")
