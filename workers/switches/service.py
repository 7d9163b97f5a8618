"""Plan-switch use cases: confirm a quoted switch, and apply one (at once, or when its
difference is paid).

A confirmation is checked again here against the rule (models/domain/switch.py) and the
quote's stamp (the access row's version, models/switches.py): a downgrade is applied in the
same transaction; an upgrade records an invoice for the difference, marked as a switch, which
the ordinary checkout opens at CryptoCloud and the ordinary settle path activates once
(workers/payments/service.py calls `activate`). Exactly once: a redelivered confirmation finds
its answer written; a second press finds the access changed (or on the new plan already); a
second upgrade confirmation reuses the open invoice; a switch invoice activates once, by the
payments' own `activated_at` guard.

Each use case runs in the caller's transaction and returns outbox effects for after commit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from infra import texts
from models import switches as reads
from models.domain import access as access_rules
from models.domain import switch as rules
from models.domain.invoices import InvoiceStatus
from models.history import record_history
from models.outbox import Effects, queue_message
from models.schema import Invoice, Plan, TelegramEffect, User
from workers.access.service import locked_access, store
from workers.languages import speaking_to
from workers.users.service import grant

# The names of the texts, read in the subscriber's language when answering.
REFUSAL_TEXTS = {
    rules.SwitchRefusal.PLAN_GONE: "SWITCH_PLAN_GONE",
    rules.SwitchRefusal.NOTHING_TO_SWITCH: "SWITCH_NOTHING",
    rules.SwitchRefusal.SAME_PLAN: "SWITCH_SAME_PLAN",
}


@dataclass(frozen=True)
class Confirmed:
    """What a confirmation came to: effects to dispatch, and an invoice to open and send."""

    outcome: str
    effects: Effects = field(default_factory=list)
    invoice_id: int | None = None
    needs_provider_invoice: bool = False


def _reply_key(request_key: str) -> str:
    return f"switch_reply:{request_key}"


def _refuse(session: Session, *, user_id: int, request_key: str, reason: str, text: str,
            now: datetime, plan_code: str,
            buttons: list[list[dict[str, str]]] | None = None) -> Confirmed:
    record_history(session, user_id=user_id, action="switch_refused", source="user", now=now,
                   details={"plan": plan_code, "reason": reason})
    return Confirmed(reason, queue_message(session, key=_reply_key(request_key), chat_id=user_id,
                                           text=text, now=now, buttons=buttons))


def confirm(session: Session, *, user_id: int, plan_code: str, stamp: int, request_key: str,
            now: datetime) -> Confirmed:
    """The subscriber confirmed the quote for `plan_code` made on access version `stamp`;
    the answer is in their language."""
    with speaking_to(session, user_id):
        return _confirm(session, user_id=user_id, plan_code=plan_code, stamp=stamp,
                        request_key=request_key, now=now)


def _confirm(session: Session, *, user_id: int, plan_code: str, stamp: int, request_key: str,
             now: datetime) -> Confirmed:
    if session.scalar(select(exists().where(TelegramEffect.key == _reply_key(request_key)))):
        return Confirmed("already answered")
    # Serialised per user, as checkout is: two confirmations cannot both open an invoice.
    session.scalar(select(User.id).where(User.id == user_id).with_for_update())
    held = reads.holding(session, user_id=user_id, lock=True)
    new = reads.plan_on_sale(session, code=plan_code)
    try:
        quote = rules.quote(paid_through=None if held is None else held.paid_through,
                            current=None if held is None else reads.terms(held.plan),
                            new=None if new is None else reads.terms(new), now=now)
    except rules.SwitchRefused as refused:
        return _refuse(session, user_id=user_id, request_key=request_key, now=now,
                       reason=refused.reason.value,
                       text=getattr(texts, REFUSAL_TEXTS[refused.reason]), plan_code=plan_code)
    assert held is not None and new is not None
    blocked = _blocked(session, user_id=user_id, held=held, new=new, quote=quote, stamp=stamp,
                       request_key=request_key, now=now)
    if blocked is not None:
        return blocked
    if quote.kind is rules.SwitchKind.DOWNGRADE:
        after, effects = apply(session, user_id=user_id, from_plan=held.plan, to_plan=new,
                               paid=Decimal("0.00"), now=now, key=f"request:{request_key}")
        reply = queue_message(session, key=_reply_key(request_key), chat_id=user_id, now=now,
                              text=texts.plan_switched(current=held.plan.title, new=new.title,
                                                       paid_through=after))
        return Confirmed("switched", reply + effects)
    invoice = Invoice(
        order_id=f"sw_{user_id}_{secrets.token_hex(6)}", user_id=user_id, plan_id=new.id,
        amount_usd=quote.pay_usd, currency="USD", status=InvoiceStatus.CREATED.value,
        created_at=now, updated_at=now, switch_from_plan_id=held.plan.id,
        switch_credit_usd=quote.credit_usd,
    )
    session.add(invoice)
    session.flush()
    return Confirmed("invoice", invoice_id=invoice.id, needs_provider_invoice=True)


def _blocked(session: Session, *, user_id: int, held: reads.Holding, new: Plan,
             quote: rules.Quote, stamp: int, request_key: str,
             now: datetime) -> Confirmed | None:
    """A switch already waiting for payment, or access changed since the quote: the answer
    (None when neither). Confirming the waiting upgrade again sends its pay link again."""
    pending = reads.pending_switch(session, user_id=user_id, now=now)
    if pending is not None:
        if pending.plan_id == new.id and quote.kind is rules.SwitchKind.UPGRADE:
            return Confirmed("reused", invoice_id=pending.id,
                             needs_provider_invoice=pending.uuid is None)
        pay = ([[{"text": texts.PAY_BUTTON, "url": pending.pay_link}]] if pending.pay_link
               else None)
        return _refuse(session, user_id=user_id, request_key=request_key, now=now,
                       reason="pending", text=texts.SWITCH_PENDING, plan_code=new.code,
                       buttons=pay)
    if held.version != stamp:
        return _refuse(session, user_id=user_id, request_key=request_key, now=now,
                       reason="quote_changed", text=texts.SWITCH_QUOTE_CHANGED,
                       plan_code=new.code)
    return None


def apply(session: Session, *, user_id: int, from_plan: Plan | None, to_plan: Plan,
          paid: Decimal, now: datetime, key: str,
          invoice_id: int | None = None) -> tuple[datetime, Effects]:
    """Move the user's access from `from_plan` to `to_plan`, crediting the time left now.

    The chats both plans grant keep their row with the new end; the new plan's other chats
    are granted the same end, with an invite; the old plan's other chats end now (the expiry
    sweep then removes the member, as for any access that ran out). Every row changed has its
    history entry naming both plans. Returns the new end and the invites to send.
    """
    held = reads.holding(session, user_id=user_id, lock=True)
    # Valued at the plan the time was bought with; time on no plan is kept as it is.
    current = None if held is None else reads.terms(held.plan)
    after = rules.switched_paid_through(
        paid_through=None if held is None else held.paid_through, current=current,
        new=reads.terms(to_plan), paid_usd=paid, now=now)
    old_chats = frozenset() if from_plan is None else reads.plan_chats(session,
                                                                      plan_id=from_plan.id)
    changes = rules.chat_changes(old=old_chats, new=reads.plan_chats(session,
                                                                    plan_id=to_plan.id))
    details = {"from_plan": None if from_plan is None else from_plan.code,
               "to_plan": to_plan.code, "paid_usd": str(paid),
               # The new plan's terms as they were (/stats counts the time at this rate).
               "to_price_usd": str(to_plan.price_usd), "to_days": to_plan.days,
               "valued_as": None if current is None else current.code}
    effects: Effects = []
    for chat_id in sorted(changes.carried | changes.granted):
        row = locked_access(session, user_id=user_id, chat_id=chat_id, now=now)
        before = row.paid_through
        store(row, access_rules.Access(paid_through=after, is_trial=False, removed_at=None),
              now=now)
        row.plan_id = to_plan.id
        session.flush()
        record_history(session, user_id=user_id, chat_id=chat_id, action="plan_switched",
                       source="payment" if invoice_id else "user", now=now, before=before,
                       after=after, invoice_id=invoice_id, details=details)
        if chat_id in changes.granted:
            effects += grant(session, key=f"grant:switch:{key}:{chat_id}", user_id=user_id,
                             chat_id=chat_id, access_id=row.id, now=now)
    for chat_id in sorted(changes.ended):
        row = locked_access(session, user_id=user_id, chat_id=chat_id, now=now)
        before = row.paid_through
        store(row, access_rules.set_days(None, days=0, now=now), now=now)
        session.flush()
        record_history(session, user_id=user_id, chat_id=chat_id, action="plan_switch_ended",
                       source="payment" if invoice_id else "user", now=now, before=before,
                       after=row.paid_through, invoice_id=invoice_id, details=details)
    return after, effects


def activate(session: Session, *, invoice: Invoice, paid: Decimal, now: datetime) -> Effects:
    """The switch invoice is paid (the caller claimed its activation): apply the switch with
    the credit of the time left now, and tell the subscriber in one message."""
    to_plan = session.get_one(Plan, invoice.plan_id)
    held = reads.holding(session, user_id=invoice.user_id)
    from_plan = None if held is None else held.plan
    after, effects = apply(session, user_id=invoice.user_id, from_plan=from_plan,
                           to_plan=to_plan, paid=paid, now=now, key=f"invoice:{invoice.id}",
                           invoice_id=invoice.id)
    with speaking_to(session, invoice.user_id):
        text = texts.plan_switched(
            current=from_plan.title if from_plan else texts.SWITCH_FROM_NO_PLAN,
            new=to_plan.title, paid_through=after, paid=paid)
    reply = queue_message(session, key=f"switch_paid:{invoice.id}", chat_id=invoice.user_id,
                          now=now, text=text)
    return reply + effects


def pay_link_text(session: Session, *, invoice: Invoice) -> str:
    """The pay-link message of a switch invoice: the difference and the credit it reflects."""
    assert invoice.switch_from_plan_id is not None
    old = session.get_one(Plan, invoice.switch_from_plan_id)
    new = session.get_one(Plan, invoice.plan_id)
    return texts.switch_pay_invoice(current=old.title, new=new.title, amount=invoice.amount_usd,
                                    credit=invoice.switch_credit_usd or Decimal("0.00"),
                                    expires_at=invoice.expires_at)
