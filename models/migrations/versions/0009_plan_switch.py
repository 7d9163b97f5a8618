"""Plan switch: an invoice may be the difference paid to switch plans.

`invoices.switch_from_plan_id` names the plan the subscriber switches from (NULL for an
ordinary purchase); `switch_credit_usd` is the unused value the quote credited. No foreign
key: adding one would rebuild the table on SQLite (as for promo_redemption_id).

Revision ID: 0009
Revises: 0007
Created: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("invoices", sa.Column("switch_from_plan_id", sa.Integer(), nullable=True))
    # Money is stored as BIGINT cents (models/types.py).
    op.add_column("invoices", sa.Column("switch_credit_usd", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("switch_credit_usd")
        batch.drop_column("switch_from_plan_id")
