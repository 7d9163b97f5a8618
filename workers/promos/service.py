"""Promo and gift code use cases: redeem, the discount at checkout, its use confirmed at
payment (the admin commands are in workers/promos/admin.py).

Counting uses (models/domain/promo.py says why): redeeming takes a use from
`promo_codes.uses` with a conditional update under the limit (on the code's locked row), and
one redemption per (code, user) is a unique constraint, so the limit holds however many users
race for the last use. A discount's use is confirmed by the payment of an invoice carrying it;
a reservation that lapsed unpaid gives its use back (`release_lapsed`), so an abandoned invoice
never burns a use for ever. A gift is used at once: its days are paid access (not a trial),
granted through the same access rules and history as a payment, with an invite.

Each use case runs in the caller's transaction and returns outbox effects for after commit.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session

from infra import buttons, texts
from infra.logging import get_logger
from models import promos as promo_reads
from models.domain import promo as rules
from models.domain.invoices import InvoiceStatus
from models.domain.polling import LATE_PAYMENT_WINDOW
from models.history import record_history
from models.outbox import Effects, queue_message
from models.schema import Invoice, PromoCode, PromoRedemption, TelegramEffect
from workers.access.service import extend_access
from workers.languages import speaking_to
from workers.users.service import grant, has_paid, known_user

log = get_logger("workers.promos")

LIVE = PromoCode.deleted_at.is_(None)


def plans_buttons() -> list[list[dict[str, str]]]:
    """The "See the plans" button, labelled in the language of the moment."""
    return [[{"text": texts.PLANS_BUTTON, "data": buttons.SHOW_PLANS}]]


def refusal_text(reason: rules.RedeemRefusal) -> str:
    """Why a code was not redeemed, in the language of the moment."""
    return {rules.RedeemRefusal.UNKNOWN: texts.PROMO_UNKNOWN,
            rules.RedeemRefusal.PAUSED: texts.PROMO_PAUSED,
            rules.RedeemRefusal.EXPIRED: texts.PROMO_EXPIRED,
            rules.RedeemRefusal.USED_UP: texts.PROMO_USED_UP,
            rules.RedeemRefusal.NEW_ONLY: texts.PROMO_NEW_ONLY,
            rules.RedeemRefusal.ALREADY_USED: texts.PROMO_ALREADY_USED}[reason]


def locked_code(session: Session, code: str) -> PromoCode | None:
    return session.scalar(select(PromoCode).where(PromoCode.code == code, LIVE)
                          .with_for_update())


# Uses ------------------------------------------------------------------------------------


def _payable(now: datetime) -> Any:
    """Invoices carrying a redemption's discount that can still be (or were) paid."""
    return exists().where(
        Invoice.promo_redemption_id == PromoRedemption.id,
        or_(Invoice.status.in_([InvoiceStatus.CREATED.value, InvoiceStatus.PARTIAL.value]),
            Invoice.activated_at.is_not(None),
            and_(Invoice.status == InvoiceStatus.CANCELED.value,
                 Invoice.updated_at > now - LATE_PAYMENT_WINDOW)))


def release_lapsed(session: Session, *, promo_id: int, now: datetime) -> int:
    """Give back the uses of reservations past their hold that no invoice can still pay.

    Called with the code's row locked, so the counter and the statuses move together.
    """
    released = session.execute(
        update(PromoRedemption)
        .where(PromoRedemption.promo_id == promo_id,
               PromoRedemption.status == rules.RedemptionStatus.RESERVED.value,
               PromoRedemption.reserved_at <= now - rules.RESERVATION_HOLD,
               ~_payable(now))
        .values(status=rules.RedemptionStatus.RELEASED.value, released_at=now)
        .execution_options(synchronize_session=False))
    count = int(released.rowcount)  # type: ignore[attr-defined]
    if count:
        session.execute(update(PromoCode).where(PromoCode.id == promo_id)
                        .values(uses=PromoCode.uses - count, updated_at=now))
        log.info("promo_uses_released", promo_id=promo_id, released=count)
    return count


def _take_use(session: Session, *, promo_id: int, now: datetime) -> bool:
    """One more use under the limit: a conditional update, so racing takers cannot both win."""
    taken = session.execute(
        update(PromoCode)
        .where(PromoCode.id == promo_id,
               or_(PromoCode.max_uses.is_(None), PromoCode.uses < PromoCode.max_uses))
        .values(uses=PromoCode.uses + 1, updated_at=now)
        .execution_options(synchronize_session=False))
    return bool(taken.rowcount)  # type: ignore[attr-defined]


def take_use(session: Session, *, promo_id: int, now: datetime) -> bool:
    """Take a use, first giving back lapsed ones if the code is at its limit."""
    if _take_use(session, promo_id=promo_id, now=now):
        return True
    return (release_lapsed(session, promo_id=promo_id, now=now) > 0
            and _take_use(session, promo_id=promo_id, now=now))


# Redeeming -------------------------------------------------------------------------------


def _refuse(session: Session, *, user_id: int, code: str, reason: rules.RedeemRefusal,
            key: str, now: datetime) -> Effects:
    record_history(session, user_id=user_id, action="promo_refused", source="user", now=now,
                   details={"code": code, "reason": reason.value})
    with speaking_to(session, user_id):
        text = texts.promo_refused(code=code, text=refusal_text(reason))
    return queue_message(session, key=key, chat_id=user_id, now=now, text=text)


def redeem(session: Session, *, user: int | dict[str, Any], code: str, request_key: str,
           chat_id: int, now: datetime) -> Effects:
    """Redeem `code` for the user who sent it, once; the answer is one message to them.

    A discount is reserved for the user's next checkouts of its plans; a gift adds its days at
    once and sends the invite. A redelivered request finds its answer written and does nothing.
    """
    user_id = known_user(session, user=user, now=now)
    key = f"promo_reply:{request_key}"
    if session.scalar(select(exists().where(TelegramEffect.key == key))):
        return []
    try:
        name = rules.normalize_code(code)
    except ValueError:
        return _refuse(session, user_id=user_id, code=code[:32], key=key, now=now,
                       reason=rules.RedeemRefusal.UNKNOWN)
    row = locked_code(session, name)
    previous = None if row is None else session.scalar(
        select(PromoRedemption)
        .where(PromoRedemption.promo_id == row.id, PromoRedemption.user_id == user_id)
        .with_for_update())
    try:
        rules.check_redeem(None if row is None else promo_reads.as_rule(row), now=now,
                           has_paid=has_paid(session, user_id=user_id),
                           previous=None if previous is None
                           else rules.RedemptionStatus(previous.status))
    except rules.RedeemRefused as refused:
        return _refuse(session, user_id=user_id, code=name, reason=refused.reason, key=key,
                       now=now)
    assert row is not None
    promo = promo_reads.as_rule(row)
    holding = previous is not None and previous.status == rules.RedemptionStatus.RESERVED
    if not holding and not take_use(session, promo_id=row.id, now=now):
        return _refuse(session, user_id=user_id, code=name, reason=rules.RedeemRefusal.USED_UP,
                       key=key, now=now)
    status = (rules.RedemptionStatus.USED if promo.offer.is_gift
              else rules.RedemptionStatus.RESERVED)
    if previous is None:
        redemption = PromoRedemption(promo_id=row.id, user_id=user_id, status=status.value,
                                     reserved_at=now, created_at=now,
                                     used_at=now if promo.offer.is_gift else None)
        session.add(redemption)
    else:  # a released reservation taken again, or a held one renewed
        redemption = previous
        redemption.status, redemption.reserved_at = status.value, now
        redemption.released_at = None
    session.flush()
    if promo.offer.is_gift:
        return _give(session, promo=promo, redemption_id=redemption.id, user_id=user_id,
                     chat_id=chat_id, key=key, now=now)
    record_history(session, user_id=user_id, action="promo_redeemed", source="user", now=now,
                   details={"code": name, "redemption_id": redemption.id,
                            **offer_details(promo.offer)})
    with speaking_to(session, user_id):
        return queue_message(session, key=key, chat_id=user_id, now=now,
                             buttons=plans_buttons(),
                             text=texts.promo_discount_applied(
                                 code=name, offer=describe(promo.offer),
                                 plans=sorted(promo.plans) if promo.plans else None,
                                 until=rules.last_valid_day(promo.ends_at)))


def _give(session: Session, *, promo: rules.Promo, redemption_id: int, user_id: int,
          chat_id: int, key: str, now: datetime) -> Effects:
    """A gift: paid days through the access rules, a history row naming the code, an invite."""
    days = promo.offer.gift_days
    assert days is not None
    change = extend_access(session, user_id=user_id, chat_id=chat_id, days=days, now=now,
                           plan_id=None, action="promo_gift", source="user",
                           command=f"promo {promo.code}",
                           details={"code": promo.code, "days": days,
                                    "redemption_id": redemption_id})
    with speaking_to(session, user_id):
        text = texts.promo_gift_applied(code=promo.code, days=days, paid_through=change.after)
    reply = queue_message(session, key=key, chat_id=user_id, now=now, text=text)
    return reply + grant(session, key=f"grant:promo:{redemption_id}", user_id=user_id,
                         chat_id=chat_id, access_id=change.access_id, now=now)


def offer_details(offer: rules.Offer) -> dict[str, str]:
    value = offer.percent_off or offer.amount_off or offer.gift_days
    return {"kind": offer.kind.value, "value": str(value)}


def describe(offer: rules.Offer) -> str:
    return texts.promo_offer(kind=offer.kind.value, percent=offer.percent_off,
                             amount=offer.amount_off, days=offer.gift_days)


# Checkout and payment --------------------------------------------------------------------


def discount_for(session: Session, *, user_id: int, plan_code: str, price: Decimal,
                 now: datetime) -> rules.PricedDiscount | None:
    """The best live discount the user holds for this plan, or None (the full price)."""
    held = promo_reads.held_discounts(session, user_id=user_id)
    if not held:
        return None
    return rules.best_discount(held, plan_code=plan_code, price=price, now=now,
                               has_paid=has_paid(session, user_id=user_id))


def superseded_invoices(session: Session, *, invoice_id: int) -> list[str]:
    """Open invoices carrying the same discount as `invoice_id`, for other plans: a newer
    checkout took the discount, so these are canceled at CryptoCloud (one discount, one
    payment). Their CryptoCloud ids."""
    invoice = session.get_one(Invoice, invoice_id)
    if invoice.promo_redemption_id is None:
        return []
    return [uuid for uuid in session.scalars(
        select(Invoice.uuid).where(Invoice.promo_redemption_id == invoice.promo_redemption_id,
                                   Invoice.id != invoice.id,
                                   Invoice.status == InvoiceStatus.CREATED.value,
                                   Invoice.uuid.is_not(None))) if uuid]


def confirm_use(session: Session, *, invoice: Invoice, now: datetime) -> str | None:
    """The payment of `invoice` uses its discount: the reservation becomes used, once.

    Returns the code, for the payment's history row. A reservation already released (money
    arriving later than the late-payment window) takes its use back if there is room; with
    none the payment is honoured all the same (the money is in) and the overrun is logged.
    """
    if invoice.promo_redemption_id is None:
        return None
    redemption = session.scalar(select(PromoRedemption)
                                .where(PromoRedemption.id == invoice.promo_redemption_id)
                                .with_for_update())
    if redemption is None:
        return None
    code = session.scalar(select(PromoCode.code).where(PromoCode.id == redemption.promo_id))
    if redemption.status == rules.RedemptionStatus.USED:
        return code  # another invoice carrying it was paid first: one use, counted once
    if (redemption.status == rules.RedemptionStatus.RELEASED
            and not _take_use(session, promo_id=redemption.promo_id, now=now)):
        log.warning("promo_use_over_limit", code=code, redemption_id=redemption.id,
                    invoice_id=invoice.id)
    redemption.status, redemption.used_at = rules.RedemptionStatus.USED.value, now
    redemption.invoice_id = invoice.id
    return code


def redemptions_by_user(session: Session) -> dict[int, str]:
    """For /export: each user's redemptions as `CODE:status`, oldest first, `;`-separated."""
    rows = session.execute(
        select(PromoRedemption.user_id, PromoCode.code, PromoRedemption.status)
        .join(PromoCode, PromoCode.id == PromoRedemption.promo_id)
        .order_by(PromoRedemption.user_id, PromoRedemption.id)).all()
    found: dict[int, list[str]] = {}
    for user_id, code, status in rows:
        found.setdefault(user_id, []).append(f"{code}:{status}")
    return {user_id: ";".join(items) for user_id, items in found.items()}

