"""The reads behind the admin's promo commands: plain values out, no ORM object leaves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from infra import texts
from models import promos as promo_reads
from models.domain import promo as rules
from models.schema import Plan, PromoCode, PromoRedemption

_LIVE = PromoCode.deleted_at.is_(None)


@dataclass(frozen=True)
class PromoCheck:
    exists: bool
    plans_on_sale: frozenset[str]


def promo_check(session: Session, *, code: str) -> PromoCheck:
    """Whether a live code has this name, and the plans a new code may name."""
    found = session.scalar(select(exists().where(PromoCode.code == code, _LIVE)))
    on_sale = session.scalars(select(Plan.code).where(Plan.active.is_(True)))
    return PromoCheck(exists=bool(found), plans_on_sale=frozenset(on_sale))


def _state(promo: rules.Promo, *, now: datetime) -> str:
    if not promo.active:
        return "paused"
    if promo.ends_at is not None and now >= promo.ends_at:
        return "expired"
    if not rules.has_room(uses=promo.uses, max_uses=promo.max_uses):
        return "used up"
    return "on"


def promo_list(session: Session, *, now: datetime) -> list[dict[str, Any]]:
    """Every live code, oldest first, as the keyword arguments of `texts.promo_line`."""
    counted = (
        select(PromoRedemption.promo_id,
               func.sum(case((PromoRedemption.status == "used", 1), else_=0)).label("used"),
               func.sum(case((PromoRedemption.status == "reserved", 1), else_=0))
               .label("reserved"))
        .group_by(PromoRedemption.promo_id).subquery())
    rows = session.execute(
        select(PromoCode, counted.c.used, counted.c.reserved)
        .outerjoin(counted, counted.c.promo_id == PromoCode.id)
        .where(_LIVE).order_by(PromoCode.id)).all()
    listed = []
    for row, used, reserved in rows:
        promo = promo_reads.as_rule(row)
        listed.append({
            "code": row.code, "used": int(used or 0), "reserved": int(reserved or 0),
            "offer": texts_offer(promo.offer), "max_uses": row.max_uses,
            "until": rules.last_valid_day(row.ends_at), "plans": row.plans,
            "new_only": row.new_only, "state": _state(promo, now=now)})
    return listed


def texts_offer(offer: rules.Offer) -> str:
    return texts.promo_offer(kind=offer.kind.value, percent=offer.percent_off,
                             amount=offer.amount_off, days=offer.gift_days)
