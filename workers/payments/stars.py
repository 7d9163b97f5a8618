"""Telegram Stars use cases: open a Stars invoice, record and settle a payment, refund one.

A Stars invoice is a row of `invoices` (method `stars`) like a CryptoCloud one, so activation,
history, /myplan and exports treat both alike. A `successful_payment` is recorded once per
`telegram_payment_charge_id` (`star_payments`) and enters the same inbox as CryptoCloud's
postbacks (provider `stars`); settling it runs the same activation (`service._activate`:
access once, the invite, the commission, history). Telegram itself is the proof of payment
here, so there is nothing to ask a provider: the event is settled from the database alone.

A refund (/refund) is claimed on the charge's row before Telegram is called, so a second
/refund never calls twice, and applied by a conditional update, so it takes the days back
once; a 400 CHARGE_ALREADY_REFUNDED (an earlier attempt got through) counts as done.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from infra import texts
from infra.db import insert_ignore
from models import inbox
from models.domain import ledger, money
from models.domain import stars as rules
from models.domain.invoices import InvoiceStatus
from models.history import record_history
from models.outbox import Effects, queue_message
from models.schema import (
    Access,
    CommissionEntry,
    Invoice,
    Plan,
    PlanChat,
    StarPayment,
    User,
)
from models.schema.payments import STARS
from workers.access.service import as_rule, locked_access, store
from workers.admin.service import (
    Command,
    Done,
    Kick,
    admin_reply,
    claim_reply,
    ledger_entries,
)
from workers.languages import speaking_to
from workers.payments import service
from workers.promos import service as promos

EVENT_PREFIX = "star-"
# An open Stars invoice is reused while it has this long left; a new one lives `ttl`.
REUSE_MARGIN = timedelta(minutes=5)
# A refund claim older than this (a worker died between claim and answer) may be taken again:
# calling Telegram again is safe, a charge refunded meanwhile answers CHARGE_ALREADY_REFUNDED.
STALE_CLAIM = timedelta(minutes=2)


class NotForStars(service.CheckoutRefused):
    """The plan is on sale but has no Stars price (any more)."""


@dataclass(frozen=True)
class StarsInvoice:
    """What the invoice message needs: ours to send, in the task, after the commit."""

    invoice_id: int
    user_id: int
    payload: str
    plan_title: str
    days: int
    stars: int
    promo_held: bool


def start_checkout(
    session: Session, *, user_id: int, plan_code: str, now: datetime, usd_per_star: Decimal,
    ttl: timedelta,
) -> StarsInvoice:
    """Reuse the user's open Stars invoice for the plan, or record a new one."""
    if session.scalar(select(User.id).where(User.id == user_id).with_for_update()) is None:
        raise service.UnknownUser(f"unknown user {user_id}")
    plan = session.scalar(select(Plan).where(Plan.code == plan_code, Plan.active.is_(True)))
    if plan is None:
        raise service.PlanGone(f"no active plan {plan_code!r}")
    if plan.price_stars is None:
        raise NotForStars(f"plan {plan_code!r} has no Stars price")
    # Promo discounts are priced in USD and go on CryptoCloud invoices; a Stars invoice is at
    # the plan's Stars price, and says so when the user holds a code (it stays theirs).
    promo_held = promos.discount_for(session, user_id=user_id, plan_code=plan.code,
                                     price=plan.price_usd, now=now) is not None
    invoice = session.scalar(
        select(Invoice)
        .where(Invoice.user_id == user_id, Invoice.plan_id == plan.id, Invoice.method == STARS,
               Invoice.status == InvoiceStatus.CREATED.value,
               Invoice.amount_stars == plan.price_stars,
               Invoice.expires_at > now + REUSE_MARGIN)
        .order_by(Invoice.id.desc()).limit(1))
    if invoice is None:
        invoice = Invoice(
            order_id=f"xtr_{user_id}_{secrets.token_hex(6)}", user_id=user_id, plan_id=plan.id,
            amount_usd=rules.value_usd(stars=plan.price_stars, usd_per_star=usd_per_star),
            currency="USD", status=InvoiceStatus.CREATED.value, created_at=now,
            updated_at=now, method=STARS, amount_stars=plan.price_stars,
            stars_usd_rate=str(usd_per_star), expires_at=now + ttl,
        )
        session.add(invoice)
        session.flush()
    return StarsInvoice(invoice.id, user_id, invoice.order_id, plan.title, plan.days,
                        plan.price_stars, promo_held)


# Payments ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Payment:
    """A `successful_payment` as the bot passes it on (plain values, see bot_frontend)."""

    user_id: int
    charge_id: str
    provider_charge_id: str | None
    payload: str
    currency: str
    total_amount: int
    seal: str | None = None

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Payment:
        return cls(user_id=int(raw["user_id"]), charge_id=str(raw["charge_id"]),
                   provider_charge_id=raw.get("provider_charge_id"),
                   payload=str(raw["payload"]), currency=str(raw["currency"]),
                   total_amount=int(raw["total_amount"]), seal=raw.get("seal"))

    def sealed_by(self, key: bytes) -> bool:
        """Whether the bot (holding the bot token) sent it, not merely someone on the broker."""
        return rules.seal_holds(self.seal, key=key, user_id=self.user_id,
                                charge_id=self.charge_id, payload=self.payload,
                                currency=self.currency, total_amount=self.total_amount)


def refuse_forged(session: Session, *, payment: Payment, now: datetime) -> None:
    """A payment task without the bot's seal: recorded on the user it names, nothing granted."""
    record_history(session, user_id=payment.user_id, action="stars_payment_forged",
                   source="payment", now=now,
                   details={"charge_id": payment.charge_id[:255], "payload": payment.payload[:128]})


def record_payment(session: Session, *, payment: Payment, now: datetime) -> inbox.InboxEntry:
    """Record the charge once and put it in the inbox once, however often Telegram sends it."""
    insert_ignore(session, StarPayment, {
        "charge_id": payment.charge_id, "provider_charge_id": payment.provider_charge_id,
        "user_id": payment.user_id, "invoice_payload": payment.payload[:128],
        "amount_stars": payment.total_amount, "currency": payment.currency[:8],
        "received_at": now,
    }, conflict=["charge_id"])
    star_id = session.scalar(select(StarPayment.id)
                             .where(StarPayment.charge_id == payment.charge_id))
    return inbox.record_payment_event(
        session, invoice_uuid=f"{EVENT_PREFIX}{star_id}", reported_status="paid",
        source="postback", provider=STARS, now=now,
        payload=json.dumps({**payment.__dict__, "seal": None}, sort_keys=True))


def settle_payment(
    session: Session, *, event_uuid: str, now: datetime, admins: frozenset[int]
) -> service.Settlement:
    """Apply one recorded Stars charge: activate its invoice once, or tell the admins why not."""
    star = session.get_one(StarPayment, int(event_uuid.removeprefix(EVENT_PREFIX)))
    invoice = session.scalar(select(Invoice).where(Invoice.order_id == star.invoice_payload)
                             .with_for_update())
    reason = _unmatched(star, invoice)
    if reason is not None or invoice is None:
        return _unmatched_payment(session, star=star, invoice_id=None if invoice is None
                                  else invoice.id, reason=reason or "", now=now, admins=admins)
    if invoice.activated_at is not None:
        first = session.scalar(select(func.min(StarPayment.id))
                               .where(StarPayment.invoice_payload == star.invoice_payload))
        if first == star.id:
            return service.Settlement(service.Outcome.UNCHANGED, invoice.id)
        # A second charge for one invoice (two payment windows confirmed at once): the money
        # is Telegram's to give back, on an admin's /refund.
        return _unmatched_payment(session, star=star, invoice_id=invoice.id, now=now,
                                  admins=admins, reason="the invoice was already paid")
    invoice.status, invoice.paid_usd, invoice.updated_at = (
        InvoiceStatus.PAID.value, invoice.amount_usd, now)
    invoice.next_poll_at = None
    effects = service.activate(session, invoice=invoice, paid=invoice.amount_usd, now=now)
    return service.Settlement(service.Outcome.ACTIVATED, invoice.id, effects)


def _unmatched(star: StarPayment, invoice: Invoice | None) -> str | None:
    if invoice is None or invoice.method != STARS:
        return "no Stars invoice has this payload"
    if invoice.user_id != star.user_id:
        return f"the invoice belongs to user {invoice.user_id}"
    if star.currency != rules.CURRENCY or star.amount_stars != invoice.amount_stars:
        return (f"paid {star.amount_stars} {star.currency}, "
                f"invoiced {invoice.amount_stars} {rules.CURRENCY}")
    return None


def _unmatched_payment(
    session: Session, *, star: StarPayment, invoice_id: int | None, reason: str, now: datetime,
    admins: frozenset[int],
) -> service.Settlement:
    record_history(session, user_id=star.user_id, action="stars_payment_unmatched",
                   source="payment", now=now, invoice_id=invoice_id,
                   details={"charge_id": star.charge_id, "stars": star.amount_stars,
                            "reason": reason})
    text = partial(texts.alert_stars_unmatched, charge_id=star.charge_id, user_id=star.user_id,
                   reason=reason)
    effects = service.alert_admins(session, admins=admins, key=f"alert:stars:{star.id}",
                                   text=text, now=now)
    return service.Settlement(service.Outcome.MISMATCH, invoice_id, effects)


# Refunds ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundClaim:
    """A charge this command has claimed the refund of: Telegram is called next."""

    star_id: int
    user_id: int
    charge_id: str


def claim_refund(
    session: Session, *, command: Command, user_id: int, chat_id: int, now: datetime
) -> RefundClaim | Done:
    """Claim the refund of the user's latest unrefunded charge, or answer why there is none."""
    mine = session.scalar(select(StarPayment).where(StarPayment.refund_request
                                                    == command.request_key))
    if mine is not None:  # a redelivery of this command: carry on with its charge
        if mine.refunded_at is None:
            return RefundClaim(mine.id, mine.user_id, mine.charge_id)
        # Applied; the removal it started may have been cut short: carry it out again.
        row = session.scalar(select(Access).where(Access.user_id == mine.user_id,
                                                  Access.chat_id == chat_id))
        if row is None or row.removed_at is None or row.paid_through is None:
            return Done()
        return Done(kick=Kick(user_id=mine.user_id, chat_id=chat_id, through=row.paid_through))
    latest = session.scalar(
        select(StarPayment)
        .where(StarPayment.user_id == user_id, StarPayment.refunded_at.is_(None))
        .order_by(StarPayment.id.desc()).limit(1))
    if latest is None:
        refunded = session.scalar(select(StarPayment.id)
                                  .where(StarPayment.user_id == user_id).limit(1))
        text = (texts.admin_refund_none(user_id=user_id) if refunded is None
                else texts.admin_refund_already(user_id=user_id))
        return _answer(session, command=command, text=text, now=now)
    claimed = session.execute(
        update(StarPayment)
        .where(StarPayment.id == latest.id, StarPayment.refunded_at.is_(None),
               or_(StarPayment.refund_claimed_at.is_(None),
                   StarPayment.refund_claimed_at < now - STALE_CLAIM))
        .values(refund_claimed_at=now, refund_request=command.request_key, refund_error=None)
        .execution_options(synchronize_session=False))
    if not claimed.rowcount:  # type: ignore[attr-defined]
        return _answer(session, command=command, now=now,
                       text=texts.admin_refund_busy(user_id=user_id))
    return RefundClaim(latest.id, latest.user_id, latest.charge_id)


def _answer(session: Session, *, command: Command, text: str, now: datetime) -> Done:
    reply = claim_reply(session, command=command, now=now)
    return Done() if reply is None else Done(admin_reply(session, reply, command=command,
                                                         text=text))


def refund_refused(
    session: Session, *, command: Command, claim: RefundClaim, error: str, now: datetime
) -> Done:
    """Telegram said no for good: the claim is released (a later /refund may try again)."""
    session.execute(update(StarPayment).where(StarPayment.id == claim.star_id,
                                              StarPayment.refunded_at.is_(None))
                    .values(refund_claimed_at=None, refund_request=None, refund_error=error))
    record_history(session, user_id=claim.user_id, action="stars_refund_refused",
                   source="admin", now=now, actor_id=command.actor_id, command=command.text,
                   details={"charge_id": claim.charge_id, "error": error[:500]})
    return _answer(session, command=command, now=now,
                   text=texts.admin_refund_refused(user_id=claim.user_id, error=error))


def apply_refund(
    session: Session, *, command: Command, claim: RefundClaim, chat_id: int, now: datetime
) -> Done:
    """Telegram gave the Stars back: take the days back, reverse the commission, once."""
    done = session.execute(
        update(StarPayment)
        .where(StarPayment.id == claim.star_id, StarPayment.refunded_at.is_(None))
        .values(refunded_at=now, refunded_by=command.actor_id)
        .execution_options(synchronize_session=False))
    if not done.rowcount:  # type: ignore[attr-defined]
        return _answer(session, command=command, now=now,
                       text=texts.admin_refund_already(user_id=claim.user_id))
    star = session.get_one(StarPayment, claim.star_id)
    invoice = session.scalar(select(Invoice).where(Invoice.order_id == star.invoice_payload,
                                                   Invoice.user_id == star.user_id))
    details = {"charge_id": star.charge_id, "stars": star.amount_stars}
    applied = invoice is not None and invoice.activated_at is not None and session.scalar(
        select(func.min(StarPayment.id))
        .where(StarPayment.invoice_payload == star.invoice_payload)) == star.id
    if invoice is None or not applied:
        # Never applied (unmatched, or a second charge of a paid invoice): money back only.
        record_history(session, user_id=star.user_id, action="stars_refunded",
                       source="admin", now=now, actor_id=command.actor_id,
                       command=command.text, details={**details, "days": 0})
        return _refunded(session, command=command, star=star, days=0, kick=None,
                         commission=None, now=now)
    plan = session.get_one(Plan, invoice.plan_id)
    chats = session.scalars(select(PlanChat.chat_id).where(PlanChat.plan_id == plan.id)).all()
    kick = None
    for chat in chats or [chat_id]:
        row = locked_access(session, user_id=star.user_id, chat_id=chat, now=now)
        before = row.paid_through
        store(row, rules.take_back(as_rule(row), days=plan.days, now=now), now=now)
        session.flush()
        record_history(session, user_id=star.user_id, chat_id=chat, action="stars_refunded",
                       source="admin", now=now, actor_id=command.actor_id,
                       command=command.text, invoice_id=invoice.id, before=before,
                       after=row.paid_through, details={**details, "days": plan.days})
        if row.removed_at == now and row.paid_through is not None and kick is None:
            kick = Kick(user_id=star.user_id, chat_id=chat, through=row.paid_through)
    commission = _reverse_commission(session, invoice_id=invoice.id, command=command, now=now)
    return _refunded(session, command=command, star=star, days=plan.days, kick=kick,
                     commission=commission, now=now)


def _refunded(
    session: Session, *, command: Command, star: StarPayment, days: int, kick: Kick | None,
    commission: str | None, now: datetime,
) -> Done:
    effects: Effects = []
    if days:
        with speaking_to(session, star.user_id):
            told = texts.stars_refunded(amount=star.amount_stars, days=days)
        effects += queue_message(session, key=f"stars_refunded:{star.id}", chat_id=star.user_id,
                                 text=told, now=now)
    answer = _answer(session, command=command, now=now, text=texts.admin_refund_done(
        user_id=star.user_id, amount=star.amount_stars, days=days, removed=kick is not None,
        commission=commission))
    return Done(effects + answer.effects, kick=kick)


def _reverse_commission(
    session: Session, *, invoice_id: int, command: Command, now: datetime
) -> str | None:
    """Take the referrer's commission on a refunded payment back while it is unpaid.

    The ledger is a balance (credits less payouts): a credit is still unpaid while the balance
    covers it, and is then removed (its history row stays). Paid out already, it is kept and
    the admin is told.
    """
    entry = session.scalar(select(CommissionEntry).where(CommissionEntry.invoice_id == invoice_id,
                                                         CommissionEntry.kind == "credit"))
    if entry is None:
        return None
    referrer_id, amount = entry.referrer_id, entry.amount
    if ledger.balance(ledger_entries(session, referrer_id=referrer_id)) < amount:
        record_history(session, user_id=referrer_id, action="commission_kept", source="admin",
                       now=now, invoice_id=invoice_id, actor_id=command.actor_id,
                       command=command.text, details={"amount_usd": str(amount)})
        return texts.commission_kept(referrer_id=referrer_id, amount=amount)
    session.execute(delete(CommissionEntry).where(CommissionEntry.id == entry.id))
    record_history(session, user_id=referrer_id, action="commission_reversed", source="admin",
                   now=now, invoice_id=invoice_id, actor_id=command.actor_id,
                   command=command.text,
                   details={"amount_usd": str(money.to_money(amount))})
    return texts.commission_reversed(referrer_id=referrer_id, amount=amount)
