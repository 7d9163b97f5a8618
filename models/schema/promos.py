"""Promo and gift codes, and who redeemed which (models/domain/promo.py has the rules).

`promo_codes.uses` counts the uses taken (reserved or used): a redemption takes one with
`UPDATE ... SET uses = uses + 1 WHERE uses < max_uses`, so two users racing for the last use
cannot both get it. A deleted code keeps its row (its redemptions stay in the history); only
codes not deleted must have distinct names. One redemption per (code, user), enforced by a
unique constraint.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.schema.base import Base, now_utc, one_of
from models.types import Money, Percent

PROMO_KINDS = ("percent", "amount", "gift")
REDEMPTION_STATUSES = ("reserved", "used", "released")
LIVE_CODE = "deleted_at IS NULL"


class PromoCode(Base):
    """A code an admin created: its offer, its limits, its state."""

    __tablename__ = "promo_codes"
    __table_args__ = (
        # Names are unique among live codes; a deleted code's name may be given again.
        Index("ix_promo_codes_code_live", "code", unique=True,
              postgresql_where=text(LIVE_CODE), sqlite_where=text(LIVE_CODE)),
        CheckConstraint(
            "(kind = 'percent' AND percent_off > 0 AND percent_off < 10000"
            " AND amount_off IS NULL AND gift_days IS NULL)"
            " OR (kind = 'amount' AND amount_off > 0 AND percent_off IS NULL"
            " AND gift_days IS NULL)"
            " OR (kind = 'gift' AND gift_days > 0 AND percent_off IS NULL"
            " AND amount_off IS NULL)", name="offer_of_its_kind"),
        CheckConstraint("uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)",
                        name="uses_within_limit"),
        one_of("kind", PROMO_KINDS),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    percent_off: Mapped[Decimal | None] = mapped_column(Percent)
    amount_off: Mapped[Decimal | None] = mapped_column(Money)
    gift_days: Mapped[int | None]
    max_uses: Mapped[int | None]
    uses: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    # The first invalid moment (the day after the last valid day, 00:00 UTC); NULL: no end.
    ends_at: Mapped[datetime | None]
    # Comma-separated plan codes it discounts; NULL: every plan.
    plans: Mapped[str | None] = mapped_column(Text)
    new_only: Mapped[bool] = mapped_column(default=False, server_default=false())
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(default=now_utc)
    deleted_at: Mapped[datetime | None]


class PromoRedemption(Base):
    """One user's redemption of one code: a reserved discount, a used one, or a gift."""

    __tablename__ = "promo_redemptions"
    __table_args__ = (
        UniqueConstraint("promo_id", "user_id"),
        # "The user's live discount", read at every plan menu and checkout.
        Index("ix_promo_redemptions_user_id_status", "user_id", "status"),
        one_of("status", REDEMPTION_STATUSES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    promo_id: Mapped[int] = mapped_column(ForeignKey("promo_codes.id"))
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16))
    # When the current reservation (or the gift) was taken: a released one taken again restarts.
    reserved_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    # The invoice whose payment used the discount.
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
