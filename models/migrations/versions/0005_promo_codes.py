"""Promo and gift codes: the codes, one redemption per (code, user), the invoice's discount.

`promo_codes.uses` is the counter a redemption takes a use from with a conditional update; the
CHECK keeps it within `max_uses` whatever the code does. Names are unique among codes not
deleted (a partial unique index). `invoices.promo_redemption_id` says which redemption's
discount an invoice carries; it has no foreign key, because adding one would rebuild the
invoices table on SQLite.

Revision ID: 0005
Revises: 0004
Created: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_CODE = "deleted_at IS NULL"


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "promo_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("percent_off", sa.BigInteger(), nullable=True),
        sa.Column("amount_off", sa.BigInteger(), nullable=True),
        sa.Column("gift_days", sa.Integer(), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _timestamp("ends_at", nullable=True),
        sa.Column("plans", sa.Text(), nullable=True),
        sa.Column("new_only", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        _timestamp("deleted_at", nullable=True),
        sa.CheckConstraint(
            "(kind = 'percent' AND percent_off > 0 AND percent_off < 10000"
            " AND amount_off IS NULL AND gift_days IS NULL)"
            " OR (kind = 'amount' AND amount_off > 0 AND percent_off IS NULL"
            " AND gift_days IS NULL)"
            " OR (kind = 'gift' AND gift_days > 0 AND percent_off IS NULL"
            " AND amount_off IS NULL)", name=op.f("ck_promo_codes_offer_of_its_kind")),
        sa.CheckConstraint("uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)",
                           name=op.f("ck_promo_codes_uses_within_limit")),
        sa.CheckConstraint("kind IN ('percent', 'amount', 'gift')",
                           name=op.f("ck_promo_codes_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promo_codes")),
    )
    op.create_index("ix_promo_codes_code_live", "promo_codes", ["code"], unique=True,
                    postgresql_where=sa.text(LIVE_CODE), sqlite_where=sa.text(LIVE_CODE))
    op.create_table(
        "promo_redemptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("promo_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _timestamp("reserved_at"),
        _timestamp("used_at", nullable=True),
        _timestamp("released_at", nullable=True),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        _timestamp("created_at"),
        sa.CheckConstraint("status IN ('reserved', 'used', 'released')",
                           name=op.f("ck_promo_redemptions_status")),
        sa.ForeignKeyConstraint(["promo_id"], ["promo_codes.id"],
                                name=op.f("fk_promo_redemptions_promo_id_promo_codes")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_promo_redemptions_user_id_users")),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"],
                                name=op.f("fk_promo_redemptions_invoice_id_invoices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promo_redemptions")),
        sa.UniqueConstraint("promo_id", "user_id",
                            name=op.f("uq_promo_redemptions_promo_id_user_id")),
    )
    op.create_index("ix_promo_redemptions_user_id_status", "promo_redemptions",
                    ["user_id", "status"])
    op.add_column("invoices", sa.Column("promo_redemption_id", sa.Integer(), nullable=True))
    op.create_index("ix_invoices_promo_redemption_id", "invoices", ["promo_redemption_id"])


def downgrade() -> None:
    op.drop_index("ix_invoices_promo_redemption_id", table_name="invoices")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("promo_redemption_id")
    op.drop_index("ix_promo_redemptions_user_id_status", table_name="promo_redemptions")
    op.drop_table("promo_redemptions")
    op.drop_index("ix_promo_codes_code_live", table_name="promo_codes")
    op.drop_table("promo_codes")
