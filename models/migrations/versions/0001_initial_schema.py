"""Initial schema: every table, the partial unique index and the append-only triggers.

Revision ID: 0001
Revises:
Created: 2026-11-26

Written from `alembic revision --autogenerate`, then checked by hand: boolean defaults use
sa.true()/sa.false() (SQLite's rendering, 1/0, is not a boolean on PostgreSQL), and the
triggers that keep access_history append-only are added here because models cannot say it.
Types are spelled as stored (Money is BIGINT cents), so this file never imports models.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_APPEND_ONLY_MESSAGE = "access_history is append-only"

# restrict_violation (SQLSTATE 23001) surfaces as an IntegrityError, as SQLite's RAISE(ABORT)
# does, so callers see one exception class on both backends.
_POSTGRES_APPEND_ONLY = [
    f"""
    CREATE FUNCTION access_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{_APPEND_ONLY_MESSAGE} (% refused)', TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE TRIGGER access_history_no_update_or_delete
    BEFORE UPDATE OR DELETE ON access_history
    FOR EACH ROW EXECUTE FUNCTION access_history_append_only()
    """,
    """
    CREATE TRIGGER access_history_no_truncate
    BEFORE TRUNCATE ON access_history
    FOR EACH STATEMENT EXECUTE FUNCTION access_history_append_only()
    """,
]
_POSTGRES_APPEND_ONLY_DROP = [
    "DROP TRIGGER IF EXISTS access_history_no_truncate ON access_history",
    "DROP TRIGGER IF EXISTS access_history_no_update_or_delete ON access_history",
    "DROP FUNCTION IF EXISTS access_history_append_only()",
]
# Batch mode recreates a table without its triggers: a later revision that batch-alters
# access_history must create these again (tests/models/test_schema.py would notice).
_SQLITE_APPEND_ONLY = [
    f"""
    CREATE TRIGGER access_history_no_update BEFORE UPDATE ON access_history
    BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY_MESSAGE} (UPDATE refused)'); END
    """,
    f"""
    CREATE TRIGGER access_history_no_delete BEFORE DELETE ON access_history
    BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY_MESSAGE} (DELETE refused)'); END
    """,
]
_SQLITE_APPEND_ONLY_DROP = [
    "DROP TRIGGER IF EXISTS access_history_no_delete",
    "DROP TRIGGER IF EXISTS access_history_no_update",
]


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("first_name", sa.String(length=255), nullable=True),
        sa.Column("last_name", sa.String(length=255), nullable=True),
        sa.Column("language_code", sa.String(length=16), nullable=True),
        _timestamp("created_at"),
        _timestamp("terms_accepted_at", nullable=True),
        _timestamp("trial_used_at", nullable=True),
        _timestamp("blocked_bot_at", nullable=True),
        sa.Column("referred_by_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("referred_by_id <> id", name=op.f("ck_users_not_self_referred")),
        sa.ForeignKeyConstraint(
            ["referred_by_id"], ["users.id"], name=op.f("fk_users_referred_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index(op.f("ix_users_username"), "users", ["username"])

    op.create_table(
        "plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("price_usd", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        _timestamp("created_at"),
        sa.CheckConstraint("days > 0", name=op.f("ck_plans_days_positive")),
        sa.CheckConstraint("price_usd > 0", name=op.f("ck_plans_price_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("code", name=op.f("uq_plans_code")),
    )
    op.create_table(
        "plan_chats",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_plan_chats_plan_id_plans")
        ),
        sa.PrimaryKeyConstraint("plan_id", "chat_id", name=op.f("pk_plan_chats")),
    )

    op.create_table(
        "access",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        _timestamp("paid_through", nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("is_trial", sa.Boolean(), server_default=sa.false(), nullable=False),
        _timestamp("removed_at", nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint(
            "status IN ('none', 'trialing', 'active', 'grace', 'expired', 'removed')",
            name=op.f("ck_access_status"),
        ),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], name=op.f("fk_access_plan_id_plans")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_access_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access")),
        sa.UniqueConstraint("user_id", "chat_id", name=op.f("uq_access_user_id_chat_id")),
    )
    op.create_index("ix_access_status_paid_through", "access", ["status", "paid_through"])

    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=64), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("amount_usd", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), server_default="USD", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="created", nullable=False),
        sa.Column("pay_link", sa.String(length=512), nullable=True),
        _timestamp("expires_at", nullable=True),
        _timestamp("last_polled_at", nullable=True),
        sa.Column("paid_usd", sa.BigInteger(), nullable=True),
        sa.Column("surplus_usd", sa.BigInteger(), nullable=True),
        _timestamp("activated_at", nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            "status IN ('created', 'paid', 'partial', 'overpaid', 'canceled')",
            name=op.f("ck_invoices_status"),
        ),
        sa.CheckConstraint("uuid NOT LIKE 'INV-%'", name=op.f("ck_invoices_uuid_normalised")),
        sa.CheckConstraint("amount_usd > 0", name=op.f("ck_invoices_amount_positive")),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], name=op.f("fk_invoices_plan_id_plans")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_invoices_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("order_id", name=op.f("uq_invoices_order_id")),
        sa.UniqueConstraint("uuid", name=op.f("uq_invoices_uuid")),
    )
    op.create_index("ix_invoices_status_last_polled_at", "invoices", ["status", "last_polled_at"])
    op.create_index(
        "ix_invoices_user_id_plan_id_status", "invoices", ["user_id", "plan_id", "status"]
    )

    op.create_table(
        "payment_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_uuid", sa.String(length=64), nullable=False),
        sa.Column("reported_status", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        _timestamp("received_at"),
        _timestamp("processed_at", nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "invoice_uuid NOT LIKE 'INV-%'", name=op.f("ck_payment_events_invoice_uuid_normalised")
        ),
        sa.CheckConstraint(
            "source IN ('postback', 'poll', 'manual')", name=op.f("ck_payment_events_source")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_payment_events_attempts_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
        sa.UniqueConstraint(
            "invoice_uuid",
            "reported_status",
            name=op.f("uq_payment_events_invoice_uuid_reported_status"),
        ),
    )
    op.create_index(
        "ix_payment_events_processed_at_received_at",
        "payment_events",
        ["processed_at", "received_at"],
    )

    op.create_table(
        "invite_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("access_id", sa.Integer(), nullable=True),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("creates_join_request", sa.Boolean(), server_default=sa.false(), nullable=False),
        _timestamp("expire_date", nullable=True),
        _timestamp("created_at"),
        _timestamp("used_at", nullable=True),
        _timestamp("revoked_at", nullable=True),
        sa.Column("revoke_reason", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["access_id"], ["access.id"], name=op.f("fk_invite_links_access_id_access")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_invite_links_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_invite_links_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite_links")),
        sa.UniqueConstraint("link", name=op.f("uq_invite_links_link")),
    )
    op.create_index("ix_invite_links_user_id_chat_id", "invite_links", ["user_id", "chat_id"])

    op.create_table(
        "renewal_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("access_id", sa.Integer(), nullable=False),
        sa.Column("days_before", sa.Integer(), nullable=False),
        _timestamp("period_end"),
        _timestamp("sent_at"),
        sa.CheckConstraint(
            "days_before >= 0", name=op.f("ck_renewal_reminders_days_before_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["access_id"], ["access.id"], name=op.f("fk_renewal_reminders_access_id_access")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renewal_reminders")),
        sa.UniqueConstraint(
            "access_id",
            "days_before",
            "period_end",
            name=op.f("uq_renewal_reminders_access_id_days_before_period_end"),
        ),
    )

    op.create_table(
        "access_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("command", sa.Text(), nullable=True),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        _timestamp("paid_through_before", nullable=True),
        _timestamp("paid_through_after", nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        _timestamp("created_at"),
        sa.CheckConstraint(
            "source IN ('payment', 'trial', 'admin', 'sweep', 'system', 'user')",
            name=op.f("ck_access_history_source"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_history")),
    )
    op.create_index(
        "ix_access_history_user_id_created_at", "access_history", ["user_id", "created_at"]
    )
    dialect = op.get_context().dialect.name
    for statement in _POSTGRES_APPEND_ONLY if dialect == "postgresql" else _SQLITE_APPEND_ONLY:
        op.execute(statement)

    op.create_table(
        "referrers",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("pct", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint("pct > 0 AND pct <= 10000", name=op.f("ck_referrers_pct_range")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_referrers_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_referrers")),
    )
    op.create_table(
        "referrals",
        sa.Column("referred_user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("referrer_id", sa.BigInteger(), nullable=False),
        _timestamp("created_at"),
        sa.CheckConstraint("referrer_id <> referred_user_id", name=op.f("ck_referrals_not_self")),
        sa.ForeignKeyConstraint(
            ["referred_user_id"], ["users.id"], name=op.f("fk_referrals_referred_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["referrer_id"], ["users.id"], name=op.f("fk_referrals_referrer_id_users")
        ),
        sa.PrimaryKeyConstraint("referred_user_id", name=op.f("pk_referrals")),
    )
    op.create_index("ix_referrals_referrer_id", "referrals", ["referrer_id"])

    op.create_table(
        "payout_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referrer_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("network", sa.String(length=8), nullable=False),
        sa.Column("wallet", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        _timestamp("created_at"),
        _timestamp("decided_at", nullable=True),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "(status = 'open') = (decided_at IS NULL)",
            name=op.f("ck_payout_requests_decided_when_closed"),
        ),
        sa.CheckConstraint(
            "network IN ('TRC20', 'BEP20', 'ERC20')", name=op.f("ck_payout_requests_network")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'approved', 'rejected')", name=op.f("ck_payout_requests_status")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payout_requests_amount_positive")),
        sa.ForeignKeyConstraint(
            ["referrer_id"],
            ["referrers.user_id"],
            name=op.f("fk_payout_requests_referrer_id_referrers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_requests")),
    )
    # At most one open request per referrer: a partial unique index on both backends.
    op.create_index(
        "uq_payout_requests_referrer_id_open",
        "payout_requests",
        ["referrer_id"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )

    op.create_table(
        "commission_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referrer_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("payout_request_id", sa.Integer(), nullable=True),
        _timestamp("created_at"),
        sa.CheckConstraint(
            "(kind = 'credit' AND invoice_id IS NOT NULL AND payout_request_id IS NULL)"
            " OR (kind = 'debit' AND payout_request_id IS NOT NULL AND invoice_id IS NULL)",
            name=op.f("ck_commission_ledger_kind_reference"),
        ),
        sa.CheckConstraint("kind IN ('credit', 'debit')", name=op.f("ck_commission_ledger_kind")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_commission_ledger_amount_positive")),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_commission_ledger_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["payout_request_id"],
            ["payout_requests.id"],
            name=op.f("fk_commission_ledger_payout_request_id_payout_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["referrer_id"],
            ["referrers.user_id"],
            name=op.f("fk_commission_ledger_referrer_id_referrers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_ledger")),
        sa.UniqueConstraint("invoice_id", name=op.f("uq_commission_ledger_invoice_id")),
        sa.UniqueConstraint(
            "payout_request_id", name=op.f("uq_commission_ledger_payout_request_id")
        ),
    )
    op.create_index("ix_commission_ledger_referrer_id", "commission_ledger", ["referrer_id"])

    op.create_table(
        "telegram_effects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("request", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            "status IN ('pending', 'done', 'failed')", name=op.f("ck_telegram_effects_status")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_telegram_effects_attempts_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_effects")),
        sa.UniqueConstraint("key", name=op.f("uq_telegram_effects_key")),
    )
    op.create_index(
        "ix_telegram_effects_status_updated_at", "telegram_effects", ["status", "updated_at"]
    )

    op.create_table(
        "sweep_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        _timestamp("created_at"),
        sa.Column("due_count", sa.Integer(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="held", nullable=False),
        sa.Column("confirmed_by", sa.BigInteger(), nullable=True),
        _timestamp("confirmed_at", nullable=True),
        sa.CheckConstraint(
            "status IN ('held', 'confirmed', 'superseded')", name=op.f("ck_sweep_holds_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweep_holds")),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_name", sa.String(length=255), nullable=False),
        sa.Column("task_id", sa.String(length=255), nullable=True),
        sa.Column("args", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("replayed_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    op.create_table(
        "task_attempts",
        sa.Column("task_id", sa.String(length=255), nullable=False),
        sa.Column("task_name", sa.String(length=255), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _timestamp("updated_at"),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_task_attempts_attempts_not_negative")),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_task_attempts")),
    )


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    for statement in (
        _POSTGRES_APPEND_ONLY_DROP if dialect == "postgresql" else _SQLITE_APPEND_ONLY_DROP
    ):
        op.execute(statement)
    # Dependents before what they reference; a table's indexes go with it.
    for table in (
        "task_attempts",
        "dead_letters",
        "sweep_holds",
        "telegram_effects",
        "commission_ledger",
        "payout_requests",
        "referrals",
        "referrers",
        "access_history",
        "renewal_reminders",
        "invite_links",
        "payment_events",
        "invoices",
        "access",
        "plan_chats",
        "plans",
        "users",
    ):
        op.drop_table(table)
