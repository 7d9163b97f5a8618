"""Promo code reads shared by the bot (plan menu prices) and the workers (checkout prices).

Both ask the same rules (models/domain/promo.py) over the same rows, so the price the plan menu
shows is the price the invoice is made for.
"""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from models.domain import promo as rules
from models.schema import Invoice, PromoCode, PromoRedemption


def as_rule(row: PromoCode) -> rules.Promo:
    """The rules' view of a code row."""
    offer = rules.Offer(kind=rules.PromoKind(row.kind), percent_off=row.percent_off,
                        amount_off=row.amount_off, gift_days=row.gift_days)
    plans = frozenset(row.plans.split(",")) if row.plans else None
    return rules.Promo(code=row.code, offer=offer, max_uses=row.max_uses, uses=row.uses,
                       ends_at=row.ends_at, plans=plans, new_only=row.new_only,
                       active=row.active, deleted=row.deleted_at is not None)


def held_discounts(session: Session, *, user_id: int) -> list[rules.Held]:
    """The discounts the user has reserved (valid or not: the rules decide)."""
    rows = session.execute(
        select(PromoRedemption.id, PromoRedemption.reserved_at, PromoCode)
        .join(PromoCode, PromoCode.id == PromoRedemption.promo_id)
        .where(PromoRedemption.user_id == user_id,
               PromoRedemption.status == rules.RedemptionStatus.RESERVED.value)).all()
    return [rules.Held(redemption_id=redemption_id, promo=as_rule(row), reserved_at=reserved_at)
            for redemption_id, reserved_at, row in rows]


def has_paid(session: Session, *, user_id: int) -> bool:
    """Whether the user ever paid an invoice (new-subscriber codes are for those who did not)."""
    return bool(session.scalar(select(exists().where(
        Invoice.user_id == user_id, Invoice.activated_at.is_not(None)))))
