"""Staff roles: the role an owner granted each staff member from the bot.

Revision ID: 0011
Revises: 0010
Created: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_roles",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("granted_by", sa.BigInteger(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('owner', 'manager', 'support')",
                           name=op.f("ck_staff_roles_role")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_staff_roles_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_staff_roles")),
    )


def downgrade() -> None:
    op.drop_table("staff_roles")
