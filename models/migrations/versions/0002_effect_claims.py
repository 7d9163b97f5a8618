"""Telegram effects carry a claim: which task holds one, and until when (issue 10, item 9).

A task claims its effect for a lease before performing it; the relay re-queues a pending effect
whose claim ran out (its worker died) instead of waiting for Redis's visibility timeout.

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


def downgrade() -> None:
    with op.batch_alter_table("telegram_effects") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
