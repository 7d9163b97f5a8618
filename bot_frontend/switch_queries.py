"""The reads behind the plan-switch buttons: what /myplan offers and the quote a plan shows.

The quote is the workers' rule over the same rows (models/switches.py), so what the subscriber
sees is what the switch does if nothing changes before they confirm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from bot_frontend.queries import PlanOffer, PlanStatus, chat_statuses, plan_status
from models import switches
from models.domain import access as access_rules
from models.domain import switch as rules


@dataclass(frozen=True)
class SwitchQuote:
    current: str
    new: str
    credit_usd: Decimal
    pay_usd: Decimal
    days_before: int
    days_after: int
    paid_through_after: datetime
    stamp: int  # the access version the quote was made on


def my_plan(session: Session, *, user_id: int, chat_id: int, grace: timedelta,
            now: datetime) -> tuple[PlanStatus, bool]:
    """What /myplan shows, and whether it offers a switch (paid time on a plan, other plans)."""
    return (plan_status(session, user_id=user_id, chat_id=chat_id, grace=grace, now=now),
            bool(switches.switch_targets(session, user_id=user_id, now=now)))


def my_bundle(session: Session, *, user_id: int, chats: list[int], grace: timedelta,
              now: datetime) -> tuple[list[tuple[int, PlanStatus]], bool]:
    """`my_plan` for several chats: the status in each of `chats`, and whether a switch is
    offered, in one read."""
    return (chat_statuses(session, user_id=user_id, chats=chats, grace=grace, now=now),
            bool(switches.switch_targets(session, user_id=user_id, now=now)))


def targets(session: Session, *, user_id: int, now: datetime) -> list[PlanOffer]:
    return [PlanOffer(plan.code, plan.title, plan.days, plan.price_usd)
            for plan in switches.switch_targets(session, user_id=user_id, now=now)]


def _days(paid_through: datetime | None, now: datetime) -> int:
    return access_rules.days_left(access_rules.Access(paid_through=paid_through, is_trial=False,
                                                      removed_at=None), now=now)


def quote(session: Session, *, user_id: int, plan_code: str,
          now: datetime) -> SwitchQuote | rules.SwitchRefusal:
    """The quote for switching to `plan_code` now, or why there is none."""
    try:
        found, held = switches.quote_for(session, user_id=user_id, plan_code=plan_code, now=now)
    except rules.SwitchRefused as refused:
        return refused.reason
    new = switches.plan_on_sale(session, code=plan_code)
    assert new is not None  # the rule refuses a plan not on sale
    return SwitchQuote(current=held.plan.title, new=new.title, credit_usd=found.credit_usd,
                       pay_usd=found.pay_usd, days_before=_days(held.paid_through, now),
                       days_after=_days(found.paid_through_after, now),
                       paid_through_after=found.paid_through_after, stamp=held.version)
