"""Telegram Stars: a plan's price in Stars, Stars invoices, the charges and their refunds.

`plans.price_stars` (NULL: the plan is not sold for Stars). `invoices.method` says who collects
an invoice (`cryptocloud` or `stars`); a Stars invoice holds its price in `amount_stars` and the
USD value it was given at STARS_USD_RATE in `amount_usd`, with the rate in `stars_usd_rate`.
`payment_events.provider` tells the inbox which provider an event is about. `star_payments`
holds one row per Telegram charge, unique on `telegram_payment_charge_id` (a duplicate
`successful_payment` update finds it there), and its refund, claimed once.

Revision ID: 0007
Revises: 0006
Created: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("plans") as batch:
        batch.add_column(sa.Column("price_stars", sa.Integer(), nullable=True))
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("method", sa.String(length=16), server_default="cryptocloud",
                                   nullable=False))
        batch.add_column(sa.Column("amount_stars", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("stars_usd_rate", sa.String(length=16), nullable=True))
    with op.batch_alter_table("payment_events") as batch:
        batch.add_column(sa.Column("provider", sa.String(length=16),
                                   server_default="cryptocloud", nullable=False))
    op.create_table(
        "star_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("charge_id", sa.String(length=255), nullable=False),
        sa.Column("provider_charge_id", sa.String(length=255), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("invoice_payload", sa.String(length=128), nullable=False),
        sa.Column("amount_stars", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        _timestamp("received_at"),
        _timestamp("refund_claimed_at", nullable=True),
        sa.Column("refund_request", sa.String(length=255), nullable=True),
        _timestamp("refunded_at", nullable=True),
        sa.Column("refunded_by", sa.BigInteger(), nullable=True),
        sa.Column("refund_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_star_payments")),
        sa.UniqueConstraint("charge_id", name=op.f("uq_star_payments_charge_id")),
    )
    op.create_index("ix_star_payments_user_id", "star_payments", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_star_payments_user_id", table_name="star_payments")
    op.drop_table("star_payments")
    with op.batch_alter_table("payment_events") as batch:
        batch.drop_column("provider")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("stars_usd_rate")
        batch.drop_column("amount_stars")
        batch.drop_column("method")
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("price_stars")
