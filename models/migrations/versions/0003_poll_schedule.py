"""Poll schedule: each invoice says when the fallback poll next asks CryptoCloud about it.

The poll used to take the 100 open invoices polled longest ago each minute, so with 10,000
open invoices a lost postback waited 100 minutes (issue 13, item 3). `next_poll_at` is set per
invoice by its age and status (models.domain.polling) and NULL once nothing can change, and the
poll reads it through its own index. Invoices that may still change are due at once after the
upgrade; the first runs spread them out.

Revision ID: 0003
Revises: 0002
Created: 2026-11-30
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_POLLABLE = ("created", "partial", "canceled")


def upgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True))
        batch.drop_index("ix_invoices_status_last_polled_at")
        batch.create_index("ix_invoices_next_poll_at", ["next_poll_at"])
    invoices = sa.table("invoices", sa.column("uuid", sa.String()),
                        sa.column("status", sa.String()),
                        sa.column("next_poll_at", sa.DateTime(timezone=True)))
    op.execute(
        invoices.update()
        .where(invoices.c.uuid.is_not(None), invoices.c.status.in_(_POLLABLE))
        .values(next_poll_at=datetime.now(UTC))
    )


def downgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.drop_index("ix_invoices_next_poll_at")
        batch.create_index("ix_invoices_status_last_polled_at", ["status", "last_polled_at"])
        batch.drop_column("next_poll_at")
