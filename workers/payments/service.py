"""Payment use cases: start a checkout, settle an invoice from CryptoCloud's word, poll.

CryptoCloud's `merchant/info` answer is the truth; a postback is only a reason to ask. Settling
is one transaction: the invoice moves forward only (models.domain.invoices), access is granted
by the conditional update that sets `activated_at` (so exactly once, however many postbacks,
polls and redeliveries arrive), and the referral commission is a ledger row unique per invoice.
Messages and invites are written to the outbox in the same transaction and sent after it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import partial

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from infra import texts
from infra.cryptocloud import InvoiceState
from infra.db import insert_ignore
from models import outbox
from models.domain import money, polling
from models.domain.invoices import InvoiceStatus, grants_access, next_status, time_left
from models.history import record_history
from models.outbox import Effects, queue_message
from models.schema import CommissionEntry, Invoice, Plan, PlanChat, Referral, Referrer, User
from models.schema.payments import CRYPTOCLOUD
from workers.access.service import extend_access
from workers.languages import speaking_to
from workers.promos import service as promos
from workers.switches import service as switches

# Access history has no row for "nobody": events about invoices we do not know use user 0.
UNKNOWN_USER = 0
OPEN_STATUSES = (InvoiceStatus.CREATED.value, InvoiceStatus.PARTIAL.value)
# An open invoice closer than this to its expiry is not offered again: the user needs time.
REUSE_MARGIN = timedelta(minutes=5)
plans_buttons = promos.plans_buttons


class Outcome(StrEnum):
    ACTIVATED = "activated"
    PARTIAL = "partial"
    CANCELED = "canceled"
    UNCHANGED = "unchanged"
    UNKNOWN_INVOICE = "unknown_invoice"
    MISMATCH = "mismatch"
    # merchant/info still says `created` about an invoice it notified us of: not an answer yet.
    PROVIDER_BEHIND = "provider_behind"


@dataclass(frozen=True)
class Settlement:
    outcome: Outcome
    invoice_id: int | None = None
    effects: Effects = field(default_factory=list)


def alert_admins(
    session: Session, *, admins: frozenset[int], key: str, text: Callable[[], str],
    now: datetime,
) -> Effects:
    """`text` is built for each admin, in their language."""
    effects: Effects = []
    for admin in sorted(admins):
        with speaking_to(session, admin):
            said = text()
        effects += queue_message(session, key=f"{key}:admin:{admin}", chat_id=admin, text=said,
                                 now=now)
    return effects


def _pay_button(invoice: Invoice) -> list[list[dict[str, str]]] | None:
    return [[{"text": texts.PAY_BUTTON, "url": invoice.pay_link}]] if invoice.pay_link else None


def _find_invoice(session: Session, state: InvoiceState) -> Invoice | None:
    invoice = session.scalar(select(Invoice).where(Invoice.uuid == state.uuid).with_for_update())
    if invoice is None and state.order_id:
        invoice = session.scalar(
            select(Invoice).where(Invoice.order_id == state.order_id).with_for_update()
        )
    return invoice


def _mismatch(invoice: Invoice, state: InvoiceState) -> tuple[str, str] | None:
    if invoice.uuid is not None and invoice.uuid != state.uuid:
        return f"invoice INV-{invoice.uuid}", f"INV-{state.uuid}"
    if invoice.amount_usd != money.to_money(state.amount_usd) or invoice.currency != state.currency:
        return (f"{invoice.amount_usd} {invoice.currency}",
                f"{money.to_money(state.amount_usd)} {state.currency}")
    return None


def _credit_commission(
    session: Session, *, invoice: Invoice, paid: Decimal, now: datetime
) -> None:
    referrer = session.scalar(
        select(Referrer)
        .join(Referral, Referral.referrer_id == Referrer.user_id)
        .where(Referral.referred_user_id == invoice.user_id, Referrer.active.is_(True))
    )
    if referrer is None or referrer.user_id == invoice.user_id:
        return
    amount = money.commission(amount_paid_usd=paid, pct=referrer.pct)
    if amount <= 0:
        return
    stars = _stars_details(invoice)
    credited = insert_ignore(
        session, CommissionEntry,
        {"referrer_id": referrer.user_id, "kind": "credit", "amount": amount,
         "invoice_id": invoice.id, "created_at": now},
        conflict=["invoice_id"],
    )
    if credited:
        record_history(
            session, user_id=referrer.user_id, action="commission_credited", source="payment",
            now=now, invoice_id=invoice.id,
            details={"amount_usd": str(amount), "pct": str(referrer.pct),
                     "referred_user_id": invoice.user_id, **stars},
        )


def _stars_details(invoice: Invoice) -> dict[str, object]:
    """A Stars payment's own terms: the Stars paid and the USD per Star it was valued at (the
    ledger is in USD, README "Telegram Stars")."""
    if invoice.amount_stars is None:
        return {}
    return {"stars": invoice.amount_stars, "usd_per_star": invoice.stars_usd_rate}


def activate(
    session: Session, *, invoice: Invoice, paid: Decimal, now: datetime
) -> Effects:
    """Grant the plan's days once; later calls for the same invoice change nothing."""
    claimed = session.execute(
        update(Invoice)
        .where(Invoice.id == invoice.id, Invoice.activated_at.is_(None))
        .values(activated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        return []
    plan = session.get_one(Plan, invoice.plan_id)
    assessment = money.assess_payment(expected_usd=invoice.amount_usd, paid_usd=paid)
    if invoice.switch_from_plan_id is not None:
        # The difference of a plan switch: all that was paid (a surplus too) buys time at the
        # new plan's rate on top of the credit of the time left now.
        if assessment.kind is money.PaymentKind.OVER:
            invoice.surplus_usd = assessment.surplus_usd
        switched = switches.activate(session, invoice=invoice, paid=paid, now=now)
        _credit_commission(session, invoice=invoice, paid=paid, now=now)
        return switched
    extra_days = 0
    if assessment.kind is money.PaymentKind.OVER:
        invoice.surplus_usd = assessment.surplus_usd
        extra_days = money.surplus_days(
            surplus_usd=assessment.surplus_usd, plan_price_usd=invoice.amount_usd,
            plan_days=plan.days,
        )
    # The payment is confirmed in the same message as the first chat's invite: one message,
    # not two, because Telegram allows one message a second per chat (the send budget holds a
    # second DM back that long, and the worker process that sends it with it).
    code = promos.confirm_use(session, invoice=invoice, now=now)
    promo = {"promo": code, "full_price_usd": str(plan.price_usd)} if code else {}
    effects: Effects = []
    chats = session.scalars(select(PlanChat.chat_id).where(PlanChat.plan_id == plan.id)
                            .order_by(PlanChat.chat_id)).all()
    if not chats:
        with speaking_to(session, invoice.user_id):
            paid_text = texts.payment_received(extra_days=extra_days)
        effects += queue_message(session, key=f"paid:{invoice.id}", chat_id=invoice.user_id,
                                 now=now, text=paid_text)
    for index, chat_id in enumerate(chats):
        change = extend_access(
            session, user_id=invoice.user_id, chat_id=chat_id, days=plan.days + extra_days,
            now=now, plan_id=plan.id, action="payment_activated", source="payment",
            invoice_id=invoice.id,
            details={"plan": plan.code, "paid_usd": str(paid), "extra_days": extra_days,
                     **promo, **_stars_details(invoice)},
        )
        effect_id = outbox.add_effect(
            session, key=f"grant:invoice:{invoice.id}:{chat_id}", method=outbox.GRANT_ACCESS,
            chat_id=invoice.user_id,
            payload={"user_id": invoice.user_id, "chat_id": chat_id,
                     "access_id": change.access_id, "invoice_id": invoice.id,
                     "extra_days": extra_days, "announce_payment": index == 0},
            now=now,
        )
        if effect_id is not None:
            effects.append((effect_id, outbox.GRANT_ACCESS))
    _credit_commission(session, invoice=invoice, paid=paid, now=now)
    return effects


def unknown_invoice(
    session: Session, *, uuid: str, now: datetime, admins: frozenset[int],
    details: dict[str, object] | None = None,
) -> Settlement:
    """A verified payment event we cannot match: no access, a history row, an admin alert."""
    record_history(
        session, user_id=UNKNOWN_USER, action="payment_unknown", source="payment", now=now,
        details={"uuid": uuid, **(details or {})},
    )
    effects = alert_admins(session, admins=admins, key=f"alert:unknown:{uuid}",
                           text=partial(texts.alert_unknown_invoice, uuid=uuid), now=now)
    return Settlement(Outcome.UNKNOWN_INVOICE, effects=effects)


def settle_invoice(
    session: Session, *, state: InvoiceState, now: datetime, admins: frozenset[int]
) -> Settlement:
    """Apply CryptoCloud's current view of one invoice to ours, in the caller's transaction."""
    invoice = _find_invoice(session, state)
    if invoice is None:
        return unknown_invoice(session, uuid=state.uuid, now=now, admins=admins,
                               details={"order_id": state.order_id, "status": state.status})

    # From here on every log line of this task names the invoice and its user.
    structlog.contextvars.bind_contextvars(invoice_id=invoice.id, user_id=invoice.user_id)
    mismatch = _mismatch(invoice, state)
    if mismatch is not None:
        record_history(
            session, user_id=invoice.user_id, action="payment_mismatch", source="payment",
            now=now, invoice_id=invoice.id,
            details={"ours": mismatch[0], "cryptocloud": mismatch[1], "status": state.status},
        )
        effects = alert_admins(
            session, admins=admins, key=f"alert:mismatch:{invoice.id}:{state.uuid}",
            text=partial(texts.alert_mismatch, uuid=state.uuid, user_id=invoice.user_id,
                         expected=mismatch[0], got=mismatch[1]),
            now=now,
        )
        return Settlement(Outcome.MISMATCH, invoice.id, effects)

    if invoice.uuid is None:
        invoice.uuid = state.uuid  # created at CryptoCloud, crashed before we stored the id
        invoice.next_poll_at = now  # and put on the poll's schedule, as storing it would have
    # A status word we do not know moves nothing.
    reported = InvoiceStatus(state.status) if state.status in set(InvoiceStatus) else None
    current = InvoiceStatus(invoice.status)
    if reported is InvoiceStatus.CREATED and not grants_access(current):
        # Every event we process says the invoice moved on (a postback is only sent on
        # payment, the poll records only news), so `created` here means CryptoCloud's API lags
        # behind its own notification: ask again later rather than close the event.
        return Settlement(Outcome.PROVIDER_BEHIND, invoice.id)
    paid = money.to_money(state.paid_usd)
    if reported is not None and grants_access(reported) and paid <= 0:
        paid = invoice.amount_usd  # the provider confirmed without telling us the amount
    received_before = invoice.paid_usd or Decimal(0)
    new = next_status(current, reported) if reported is not None else None
    topped_up = current is reported is InvoiceStatus.PARTIAL and paid > received_before
    if new is None and not topped_up:
        return Settlement(Outcome.UNCHANGED, invoice.id)

    invoice.status = (new or current).value
    invoice.paid_usd = paid
    invoice.updated_at = now
    return _moved(session, invoice=invoice, paid=paid, received_before=received_before,
                  now=now, admins=admins)


def _moved(
    session: Session, *, invoice: Invoice, paid: Decimal, received_before: Decimal,
    now: datetime, admins: frozenset[int],
) -> Settlement:
    """What an invoice's new status means: a notice, a remainder to pay, or access."""
    if invoice.status == InvoiceStatus.CANCELED:
        # Money received stays recorded even if the expired invoice no longer shows it.
        invoice.paid_usd = max(paid, received_before)
        effects = (_tell_partial_expired(session, invoice=invoice, paid=invoice.paid_usd, now=now,
                                         admins=admins)
                   if invoice.paid_usd > 0 else _tell_expired_unpaid(session, invoice=invoice,
                                                                     now=now))
        return Settlement(Outcome.CANCELED, invoice.id, effects)
    if invoice.status == InvoiceStatus.PARTIAL:
        return Settlement(Outcome.PARTIAL, invoice.id,
                          _tell_remainder(session, invoice=invoice, paid=paid, now=now))
    return Settlement(Outcome.ACTIVATED, invoice.id, activate(session, invoice=invoice,
                                                                 paid=paid, now=now))


def _tell_remainder(
    session: Session, *, invoice: Invoice, paid: Decimal, now: datetime
) -> Effects:
    remainder = money.assess_payment(expected_usd=invoice.amount_usd, paid_usd=paid)
    record_history(
        session, user_id=invoice.user_id, action="payment_partial", source="payment",
        now=now, invoice_id=invoice.id,
        details={"paid_usd": str(paid), "remainder_usd": str(remainder.remainder_usd)},
    )
    left = (time_left(expires_at=invoice.expires_at, now=now) if invoice.expires_at
            else timedelta(0))
    with speaking_to(session, invoice.user_id):
        return queue_message(
            session, key=f"partial:{invoice.id}:{paid}", chat_id=invoice.user_id, now=now,
            text=texts.partial_payment(remainder=remainder.remainder_usd, time_left=left),
            buttons=_pay_button(invoice),
        )


def _tell_expired_unpaid(session: Session, *, invoice: Invoice, now: datetime) -> Effects:
    """An unpaid invoice expired: CryptoCloud has no `expired` status, it cancels (reference §3),
    and sends no postback for it, so only the poll learns it. The subscriber hears it once,
    unless a newer checkout of theirs has already replaced this invoice."""
    newer = session.scalar(select(Invoice.id).where(Invoice.user_id == invoice.user_id,
                                                    Invoice.id > invoice.id).limit(1))
    if newer is not None:
        return []
    with speaking_to(session, invoice.user_id):
        if invoice.switch_from_plan_id is not None:
            return queue_message(session, key=f"invoice_canceled:{invoice.id}",
                                 chat_id=invoice.user_id, text=texts.SWITCH_INVOICE_EXPIRED,
                                 now=now)
        return queue_message(session, key=f"invoice_canceled:{invoice.id}",
                             chat_id=invoice.user_id, text=texts.invoice_canceled(), now=now,
                             buttons=plans_buttons())


def _tell_partial_expired(
    session: Session, *, invoice: Invoice, paid: Decimal, now: datetime, admins: frozenset[int]
) -> Effects:
    """A part-paid invoice expired: CryptoCloud cancels it and keeps the money (reference §3,
    partial → canceled), and no postback says so. The subscriber and the admins learn it here
    (the admins settle it: /activate or a refund); the poll keeps watching the invoice for a
    day, so money that still arrives activates it (canceled → paid is allowed)."""
    record_history(
        session, user_id=invoice.user_id, action="payment_partial_expired", source="payment",
        now=now, invoice_id=invoice.id,
        details={"paid_usd": str(paid), "amount_usd": str(invoice.amount_usd)},
    )
    with speaking_to(session, invoice.user_id):
        told = texts.partial_expired(paid=paid, amount=invoice.amount_usd)
    effects = queue_message(session, key=f"partial_expired:{invoice.id}",
                            chat_id=invoice.user_id, now=now, text=told)
    return effects + alert_admins(
        session, admins=admins, key=f"alert:partial_expired:{invoice.id}", now=now,
        text=partial(texts.alert_partial_expired, uuid=invoice.uuid or "?",
                     user_id=invoice.user_id, paid=paid, amount=invoice.amount_usd),
    )


def settle_reported(
    session: Session, *, uuid: str, state: InvoiceState | None, now: datetime,
    admins: frozenset[int],
) -> Settlement:
    """Settle an inbox event from CryptoCloud's answer; None means it does not know the invoice."""
    if state is None:
        return unknown_invoice(session, uuid=uuid, now=now, admins=admins,
                               details={"reason": "CryptoCloud does not report this invoice"})
    return settle_invoice(session, state=state, now=now, admins=admins)


def give_up_event(
    session: Session, *, event_id: int, uuid: str, attempts: int, error: str, now: datetime,
    admins: frozenset[int],
) -> Effects:
    """An event failed for good: a history row on its invoice's user and one alert per admin."""
    user_id = session.scalar(select(Invoice.user_id).where(Invoice.uuid == uuid))
    record_history(
        session, user_id=UNKNOWN_USER if user_id is None else user_id,
        action="payment_event_given_up", source="payment", now=now,
        details={"uuid": uuid, "event_id": event_id, "attempts": attempts,
                 "error": error[:500]},
    )
    return alert_admins(session, admins=admins, key=f"alert:given_up:event:{event_id}",
                        text=partial(texts.alert_event_given_up, uuid=uuid, attempts=attempts,
                                     error=error),
                         now=now)


# Checkout ---------------------------------------------------------------------------------


class CheckoutRefused(Exception):
    """The checkout cannot start; the message is for logs, the user gets a friendly text."""


class UnknownUser(CheckoutRefused):
    """No user row yet (the task that records it has not run): worth a short wait."""


class PlanGone(CheckoutRefused):
    """The plan is not on sale (any more): final."""


@dataclass(frozen=True)
class CheckoutStart:
    invoice_id: int
    needs_provider_invoice: bool


def start_checkout(
    session: Session, *, user_id: int, plan_code: str, now: datetime
) -> CheckoutStart:
    """Reuse the user's open invoice for the plan, or record a new one (serialised per user)."""
    user = session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise UnknownUser(f"unknown user {user_id}")
    plan = session.scalar(select(Plan).where(Plan.code == plan_code, Plan.active.is_(True)))
    if plan is None:
        raise PlanGone(f"no active plan {plan_code!r}")
    # A promo code the user redeemed is priced into the invoice itself, so the CryptoCloud
    # invoice, the pay link and the commission (on the amount paid) all carry the discount.
    discount = promos.discount_for(session, user_id=user_id, plan_code=plan.code,
                                   price=plan.price_usd, now=now)
    redemption_id = None if discount is None else discount.held.redemption_id
    open_invoices = session.scalars(
        select(Invoice)
        .where(Invoice.user_id == user_id, Invoice.plan_id == plan.id,
               Invoice.status == InvoiceStatus.CREATED.value,
               # A Stars invoice of the same plan is paid in the bot, never at CryptoCloud.
               Invoice.method == CRYPTOCLOUD,
               # Reused only at the price it would have now: a code redeemed since (or one
               # no longer valid) opens a new invoice at the new price.
               Invoice.promo_redemption_id.is_not_distinct_from(redemption_id),
               # A plan switch's difference is not the plan's price: never reused for it.
               Invoice.switch_from_plan_id.is_(None))
        .order_by(Invoice.id.desc())
    ).all()
    for invoice in open_invoices:
        if invoice.uuid is None or invoice.expires_at is None:
            return CheckoutStart(invoice.id, needs_provider_invoice=True)
        if invoice.expires_at > now + REUSE_MARGIN:
            return CheckoutStart(invoice.id, needs_provider_invoice=False)
    invoice = Invoice(
        order_id=f"ord_{user_id}_{secrets.token_hex(6)}", user_id=user_id, plan_id=plan.id,
        amount_usd=plan.price_usd if discount is None else discount.price, currency="USD",
        status=InvoiceStatus.CREATED.value, created_at=now, updated_at=now,
        promo_redemption_id=redemption_id,
    )
    session.add(invoice)
    session.flush()
    return CheckoutStart(invoice.id, needs_provider_invoice=True)


def tell_checkout_refused(
    session: Session, *, user_id: int, request_key: str, text: Callable[[], str], now: datetime,
    admins: frozenset[int] = frozenset(), error: str | None = None,
) -> Effects:
    """The subscriber who tapped learns why no pay link comes (`text` is built in their
    language); with `error`, admins learn it too (once an hour per distinct error, so a provider
    refusing everyone is one alert, not many)."""
    with speaking_to(session, user_id):
        told = text()
    effects = queue_message(session, key=f"checkout_refused:{request_key}", chat_id=user_id,
                            text=told, now=now)
    if error is not None:
        digest = hashlib.sha256(error.encode()).hexdigest()[:16]
        effects += alert_admins(
            session, admins=admins, key=f"alert:checkout:{digest}:{now:%Y%m%d%H}", now=now,
            text=partial(texts.alert_checkout_failed, user_id=user_id, error=error),
        )
    return effects


def store_provider_invoice(
    session: Session, *, invoice_id: int, uuid: str, link: str, expires_at: datetime,
    now: datetime,
) -> bool:
    """Attach CryptoCloud's invoice to ours unless another attempt already did; the fallback
    poll's next run asks about it."""
    stored = session.execute(
        update(Invoice)
        .where(Invoice.id == invoice_id, Invoice.uuid.is_(None))
        .values(uuid=uuid, pay_link=link, expires_at=expires_at,
                next_poll_at=now)
    )
    return bool(stored.rowcount)  # type: ignore[attr-defined]


def send_pay_link(
    session: Session, *, invoice_id: int, request_key: str, now: datetime
) -> Effects:
    invoice = session.get_one(Invoice, invoice_id)
    plan = session.get_one(Plan, invoice.plan_id)
    if invoice.pay_link is None:
        return []
    with speaking_to(session, invoice.user_id):
        text = (texts.pay_invoice(plan_title=plan.title, amount=invoice.amount_usd,
                                  expires_at=invoice.expires_at)
                if invoice.switch_from_plan_id is None
                else switches.pay_link_text(session, invoice=invoice))
        return queue_message(
            session, key=f"paylink:{invoice.id}:{request_key}", chat_id=invoice.user_id,
            now=now, text=text, buttons=_pay_button(invoice),
        )


# Fallback poll ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DueInvoice:
    """An invoice the poll asks about now, and how long after the answer to ask again."""

    id: int
    uuid: str
    interval: timedelta


def invoices_due_for_poll(
    session: Session, *, now: datetime, due_by: datetime | None, limit: int, base: timedelta
) -> list[DueInvoice]:
    """Invoices whose next poll has come by `due_by` (None: whatever is next), soonest first.

    An invoice that can no longer change (paid, or canceled longer ago than the late-payment
    window) is taken off the schedule here instead of being asked about.
    """
    query = (
        select(Invoice.id, Invoice.uuid, Invoice.status, Invoice.created_at,
               Invoice.expires_at, Invoice.updated_at)
        .where(Invoice.next_poll_at.is_not(None))
        .order_by(Invoice.next_poll_at)
        .limit(limit)
    )
    if due_by is not None:
        query = query.where(Invoice.next_poll_at <= due_by)
    due: list[DueInvoice] = []
    finished: list[int] = []
    for row in session.execute(query):
        interval = polling.poll_interval(
            status=row.status, created_at=row.created_at, expires_at=row.expires_at,
            updated_at=row.updated_at, now=now, base=base)
        if interval is None or row.uuid is None:
            finished.append(row.id)
        else:
            due.append(DueInvoice(row.id, row.uuid, interval))
    if finished:
        session.execute(update(Invoice).where(Invoice.id.in_(finished)).values(next_poll_at=None))
    return due


def count_due_for_poll(session: Session, *, due_by: datetime) -> int:
    return int(session.scalar(
        select(func.count()).select_from(Invoice).where(Invoice.next_poll_at <= due_by)) or 0)


def record_polled(session: Session, *, polled: list[DueInvoice], now: datetime) -> None:
    """Stamp the invoices just asked about with their next turn (one UPDATE per row, one trip)."""
    if polled:
        session.execute(update(Invoice), [
            {"id": due.id, "last_polled_at": now, "next_poll_at": now + due.interval}
            for due in polled
        ])


def poll_report_key(state: InvoiceState) -> str | None:
    """The inbox status for a poll answer worth processing, or None when nothing happened.

    A partial payment is keyed with its amount so that a top-up is a new event.
    """
    if state.status == InvoiceStatus.PARTIAL:
        return f"partial@{money.to_money(state.paid_usd)}"
    if state.status in (InvoiceStatus.PAID, InvoiceStatus.OVERPAID, InvoiceStatus.CANCELED):
        return state.status
    return None


def expired_unknown_to_provider(
    session: Session, *, uuids: list[str], answered: set[str], now: datetime
) -> int:
    """Cancel our open invoices past expiry that CryptoCloud no longer reports at all."""
    missing = [uuid for uuid in uuids if uuid not in answered]
    if not missing:
        return 0
    canceled = session.execute(
        update(Invoice)
        .where(Invoice.uuid.in_(missing), Invoice.status == InvoiceStatus.CREATED.value,
               Invoice.expires_at < now)
        .values(status=InvoiceStatus.CANCELED.value, updated_at=now)
    )
    return int(canceled.rowcount)  # type: ignore[attr-defined]
