"""Claims: which task holds a Telegram effect and until when; when beat last ran each task.

A task claims its effect for a lease before performing it; the relay re-queues a pending effect
whose claim ran out (its worker died) instead of waiting for Redis's visibility timeout
(issue 10, item 9). A periodic task started by beat claims its run in `scheduled_runs`, so a
second beat (an operator's mistake) doubles nothing.

Revision ID: 0002
Revises: 0001
Created: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("telegram_effects") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "scheduled_runs",
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("task", name=op.f("pk_scheduled_runs")),
    )


def downgrade() -> None:
    op.drop_table("scheduled_runs")
    with op.batch_alter_table("telegram_effects") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
