"""Promo code reads shared by the bot (plan menu prices) and the workers (checkout prices).

Both ask the same rules (models/domain/promo.py) over the same rows, so the price the plan menu
shows is the price the invoice is made for.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import Session

from models.domain import promo as rules
from models.schema import Invoice, PromoCode, PromoRedemption

_code, _redemption = PromoCode.__table__.c, PromoRedemption.__table__.c

# Read at every /start and plan tap (bench phase `rush`): a statement built once, on the tables.
_HELD = (
    select(_redemption.id.label("redemption_id"), _redemption.reserved_at, _code.code,
           _code.kind, _code.percent_off, _code.amount_off, _code.gift_days, _code.max_uses,
           _code.uses, _code.ends_at, _code.plans, _code.new_only, _code.active,
           _code.deleted_at)
    .join_from(PromoRedemption.__table__, PromoCode.__table__,
               _code.id == _redemption.promo_id)
    .where(_redemption.user_id == bindparam("user_id"),
           _redemption.status == rules.RedemptionStatus.RESERVED.value))


def as_rule(row: Any) -> rules.Promo:
    """The rules' view of a code: a `PromoCode`, or a row carrying its columns."""
    offer = rules.Offer(kind=rules.PromoKind(row.kind), percent_off=row.percent_off,
                        amount_off=row.amount_off, gift_days=row.gift_days)
    plans = frozenset(row.plans.split(",")) if row.plans else None
    return rules.Promo(code=row.code, offer=offer, max_uses=row.max_uses, uses=row.uses,
                       ends_at=row.ends_at, plans=plans, new_only=row.new_only,
                       active=row.active, deleted=row.deleted_at is not None)


def held_discounts(session: Session, *, user_id: int) -> list[rules.Held]:
    """The discounts the user has reserved (valid or not: the rules decide)."""
    return [rules.Held(redemption_id=row.redemption_id, promo=as_rule(row),
                       reserved_at=row.reserved_at)
            for row in session.execute(_HELD, {"user_id": user_id})]


def has_paid(session: Session, *, user_id: int) -> bool:
    """Whether the user ever paid an invoice (new-subscriber codes are for those who did not)."""
    return bool(session.scalar(select(exists().where(
        Invoice.user_id == user_id, Invoice.activated_at.is_not(None)))))
