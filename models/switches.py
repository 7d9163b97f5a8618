"""Plan-switch reads shared by the bot (the quote it shows) and the workers (the quote applied).

Both ask the same rule (models/domain/switch.py) over the same rows, so what the quote shows is
what the switch does when nothing changed between. The access a switch starts from is the
subscriber's paid, unremoved row with a plan and the latest end; its `version` (bumped by every
change of the row) is the quote's stamp: a confirmation applies only to the access it quoted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from models.domain import switch as rules
from models.domain.invoices import InvoiceStatus
from models.schema import Access, Invoice, Plan, PlanChat

OPEN_STATUSES = (InvoiceStatus.CREATED.value, InvoiceStatus.PARTIAL.value)
UNOPENED_PENDING = timedelta(minutes=10)


def terms(plan: Plan) -> rules.PlanTerms:
    return rules.PlanTerms(code=plan.code, days=plan.days, price_usd=plan.price_usd)


@dataclass(frozen=True)
class Holding:
    """The paid access a switch starts from: its row, end, plan and stamp."""

    access_id: int
    paid_through: datetime | None
    plan: Plan
    version: int


def holding(session: Session, *, user_id: int, lock: bool = False) -> Holding | None:
    """The user's paid access on a plan with the latest end, or None (trial, grant, nothing)."""
    query = (select(Access, Plan).join(Plan, Plan.id == Access.plan_id)
             .where(Access.user_id == user_id, Access.is_trial.is_(False),
                    Access.removed_at.is_(None), Access.paid_through.is_not(None))
             .order_by(Access.paid_through.desc(), Access.id).limit(1))
    if lock:
        query = query.with_for_update(of=Access)
    row = session.execute(query).first()
    if row is None:
        return None
    access, plan = row
    return Holding(access.id, access.paid_through, plan, access.version)


def plan_on_sale(session: Session, *, code: str) -> Plan | None:
    return session.scalar(select(Plan).where(Plan.code == code, Plan.active.is_(True)))


def quote_for(session: Session, *, user_id: int, plan_code: str,
              now: datetime) -> tuple[rules.Quote, Holding]:
    """The quote for switching the user to `plan_code` now; raises rules.SwitchRefused."""
    held = holding(session, user_id=user_id)
    new = plan_on_sale(session, code=plan_code)
    quote = rules.quote(paid_through=None if held is None else held.paid_through,
                        current=None if held is None else terms(held.plan),
                        new=None if new is None else terms(new), now=now)
    assert held is not None  # the rule refuses a switch from nothing
    return quote, held


def switch_targets(session: Session, *, user_id: int, now: datetime) -> list[Plan]:
    """The plans the user can switch to now: on sale and not theirs; [] when no switch."""
    held = holding(session, user_id=user_id)
    if held is None or held.paid_through is None or held.paid_through <= now:
        return []
    return list(session.scalars(select(Plan).where(Plan.active.is_(True),
                                                   Plan.id != held.plan.id).order_by(Plan.id)))


def plan_chats(session: Session, *, plan_id: int) -> frozenset[int]:
    return frozenset(session.scalars(select(PlanChat.chat_id).where(PlanChat.plan_id == plan_id)))


def pending_switch(session: Session, *, user_id: int, now: datetime) -> Invoice | None:
    """The user's switch invoice that can still be paid, if any (one at a time).

    One CryptoCloud never opened (it was away, or refused) stops counting after
    UNOPENED_PENDING, so a refused checkout does not block every other switch for ever.
    """
    return session.scalar(
        select(Invoice)
        .where(Invoice.user_id == user_id, Invoice.switch_from_plan_id.is_not(None),
               Invoice.status.in_(OPEN_STATUSES),
               or_(Invoice.expires_at > now,
                   and_(Invoice.expires_at.is_(None),
                        Invoice.created_at > now - UNOPENED_PENDING)))
        .order_by(Invoice.id.desc()).limit(1))
