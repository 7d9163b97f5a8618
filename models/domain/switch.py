"""Switching plans: the unused value of the current plan becomes time on the new one.

The unused value of an access is its remaining paid time priced at the plan it was bought
with (price / days, per second). A switch never creates value and loses at most one second's
worth of the new plan, always in the house's favour:

- a "downgrade" (unused value >= the new plan's price) costs nothing: the whole value turns
  into time at the new plan's rate, floored to the second;
- an "upgrade" (less) costs the new price minus the unused value, rounded up to the cent, and
  gives the new plan's period (plus the fraction of a cent the rounding took, as time).

Time passes between the quote and the payment, so the credit is recomputed when the switch is
applied: new paid-through = now + (amount paid + unused value then) / the new per-second rate.
With nothing changed between, that is exactly what the quote showed (`switched_paid_through`
is the one formula both use). Values are exact fractions inside (no rounding but the two named
ones); money leaves as cents. Every function takes `now`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from models.domain._guards import require_aware, require_whole
from models.domain.money import CENT, require_money
from models.domain.refusals import Refusal

_SECOND = timedelta(seconds=1)
_SECONDS_PER_DAY = 86_400
_MICROS = 1_000_000


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanTerms:
    """What a plan sells: `days` of access for `price_usd` (whole cents, above 0)."""

    code: str
    days: int
    price_usd: Decimal

    def __post_init__(self) -> None:
        require_whole(self.days, name="days", minimum=1)
        require_money(self.price_usd, name="price_usd")
        if self.price_usd <= 0:
            raise ValueError(f"price_usd must be positive, got {self.price_usd}")

    def per_second(self) -> Fraction:
        """The plan's price of one second of access, exactly."""
        return Fraction(self.price_usd) / (self.days * _SECONDS_PER_DAY)


class SwitchKind(StrEnum):
    """Whether the switch asks for money."""

    DOWNGRADE = "downgrade"  # the unused value covers the new plan's price: no payment
    UPGRADE = "upgrade"  # it does not: the difference is paid


class SwitchRefusal(StrEnum):
    """Why no switch can be quoted."""

    PLAN_GONE = "plan_gone"
    NOTHING_TO_SWITCH = "nothing_to_switch"
    SAME_PLAN = "same_plan"


class SwitchRefused(Refusal[SwitchRefusal]):
    """A switch was asked for but a rule says no."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Quote:
    """What a switch does if applied at `now`: the price, the credit, the new end of access."""

    kind: SwitchKind
    current: PlanTerms
    new: PlanTerms
    credit_usd: Decimal  # the unused value, floored to the cent (for showing and recording)
    pay_usd: Decimal  # 0.00 for a downgrade
    paid_through_before: datetime
    paid_through_after: datetime


def unused_value(*, paid_through: datetime | None, plan: PlanTerms, now: datetime) -> Fraction:
    """The exact value of the paid time left after `now` at the plan's rate; 0 when none."""
    require_aware(now, name="now")
    if paid_through is None:
        return Fraction(0)
    require_aware(paid_through, name="paid_through")
    left = paid_through - now
    if left <= timedelta(0):
        return Fraction(0)
    micros = left // timedelta(microseconds=1)
    return Fraction(micros, _MICROS) * plan.per_second()


def time_for(value: Fraction, *, plan: PlanTerms) -> timedelta:
    """The whole seconds of `plan` that `value` buys, floored: never more than it is worth."""
    if value < 0:
        raise ValueError(f"value must not be negative, got {value}")
    return math.floor(value / plan.per_second()) * _SECOND


def _money(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def ceil_cents(value: Fraction) -> Decimal:
    """`value` rounded up to the cent: what the subscriber pays is never short of the price."""
    return _money(math.ceil(value * 100))


def floor_cents(value: Fraction) -> Decimal:
    """`value` rounded down to the cent (the credit as shown: never more than it is)."""
    return _money(math.floor(value * 100))


def switched_paid_through(*, paid_through: datetime | None, current: PlanTerms | None,
                          new: PlanTerms, paid_usd: Decimal, now: datetime) -> datetime:
    """The new end of access when the switch is applied at `now` after paying `paid_usd`.

    The time left is valued at `current`'s rate; with `current` None (time nobody paid a plan
    for, e.g. an admin's grant on top) it is kept as it is rather than lost.
    """
    require_aware(now, name="now")
    require_money(paid_usd, name="paid_usd")
    if paid_usd < 0:
        raise ValueError(f"paid_usd must not be negative, got {paid_usd}")
    if current is None:
        start = now if paid_through is None else max(paid_through, now)
        return start + time_for(Fraction(paid_usd), plan=new)
    value = unused_value(paid_through=paid_through, plan=current, now=now)
    return now + time_for(value + Fraction(paid_usd), plan=new)


def quote(*, paid_through: datetime | None, current: PlanTerms | None, new: PlanTerms | None,
          now: datetime) -> Quote:
    """Quote switching from `current` (the plan the time was bought with) to `new`.

    `new` None means the plan asked for is not on sale. Raises SwitchRefused with the reason.
    """
    require_aware(now, name="now")
    if new is None:
        raise SwitchRefused(SwitchRefusal.PLAN_GONE, "the plan is not on sale")
    if current is None or paid_through is None or paid_through <= now:
        raise SwitchRefused(SwitchRefusal.NOTHING_TO_SWITCH, "no paid time on a plan")
    if current.code == new.code:
        raise SwitchRefused(SwitchRefusal.SAME_PLAN, "already on this plan")
    value = unused_value(paid_through=paid_through, plan=current, now=now)
    price = Fraction(new.price_usd)
    if value >= price:
        kind, pay = SwitchKind.DOWNGRADE, Decimal("0.00")
    else:
        kind, pay = SwitchKind.UPGRADE, ceil_cents(price - value)
    after = switched_paid_through(paid_through=paid_through, current=current, new=new,
                                  paid_usd=pay, now=now)
    return Quote(kind=kind, current=current, new=new, credit_usd=floor_cents(value),
                 pay_usd=pay, paid_through_before=paid_through, paid_through_after=after)


@dataclass(frozen=True, kw_only=True, slots=True)
class ChatChanges:
    """What a switch does to each chat: keep the row (carried), add one, or end one."""

    carried: frozenset[int]
    granted: frozenset[int]
    ended: frozenset[int]


def chat_changes(*, old: frozenset[int], new: frozenset[int]) -> ChatChanges:
    """Chats both plans grant keep their row; the new plan's others are granted the same time;
    the old plan's others end (the subscriber no longer pays for them)."""
    return ChatChanges(carried=old & new, granted=new - old, ended=old - new)
