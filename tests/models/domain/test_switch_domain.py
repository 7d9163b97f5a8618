"""The plan-switch rule: value is never created, never lost beyond one second's worth, and the
quote shown is what is applied when nothing changed between."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from models.domain.switch import (
    PlanTerms,
    Quote,
    SwitchKind,
    SwitchRefusal,
    SwitchRefused,
    chat_changes,
    quote,
    switched_paid_through,
    unused_value,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MONTH = PlanTerms(code="month", days=30, price_usd=Decimal("10.00"))
YEAR = PlanTerms(code="year", days=365, price_usd=Decimal("100.00"))
WEEK = PlanTerms(code="week", days=7, price_usd=Decimal("3.00"))

plans = st.builds(
    PlanTerms,
    code=st.sampled_from(["a", "b"]),
    days=st.integers(min_value=1, max_value=3650),
    price_usd=st.integers(min_value=1, max_value=10_000_000).map(lambda c: Decimal(c) / 100),
)
# Paid time left: from a microsecond to ten years.
lefts = st.integers(min_value=1, max_value=10 * 365 * 86_400 * 10**6).map(
    lambda us: timedelta(microseconds=us))


def worth(span: timedelta, plan: PlanTerms) -> Fraction:
    """The value of `span` of `plan`'s access, exactly."""
    return Fraction(span // timedelta(microseconds=1), 10**6) * plan.per_second()


def two_plans(draw: st.DrawFn) -> tuple[PlanTerms, PlanTerms]:
    current = draw(plans)
    new = draw(plans)
    return PlanTerms(code="old", days=current.days, price_usd=current.price_usd), \
        PlanTerms(code="new", days=new.days, price_usd=new.price_usd)


pairs = st.composite(two_plans)()


def quoted(pair: tuple[PlanTerms, PlanTerms], left: timedelta) -> Quote:
    """The quote, for catalogues whose result a datetime can hold (under ~5,000 years)."""
    current, new = pair
    span_days = (worth(left, current) + Fraction(new.price_usd)) / new.per_second() / 86_400
    assume(span_days < 2_000_000)
    return quote(paid_through=NOW + left, current=current, new=new, now=NOW)


@given(pairs, lefts)
def test_a_switch_never_creates_value(pair: tuple[PlanTerms, PlanTerms], left: timedelta) -> None:
    """The new time is worth no more than the unused value plus what is paid."""
    current, new = pair
    q = quoted(pair, left)
    given_value = worth(q.paid_through_after - NOW, new)
    assert given_value <= worth(left, current) + Fraction(q.pay_usd)


@given(pairs, lefts)
def test_a_switch_loses_less_than_one_second_of_the_new_plan_and_one_cent(
        pair: tuple[PlanTerms, PlanTerms], left: timedelta) -> None:
    """What is kept by the house is under one second of the new plan (plus under a cent of
    rounding the payment up, for an upgrade)."""
    current, new = pair
    q = quoted(pair, left)
    lost = worth(left, current) + Fraction(q.pay_usd) - worth(q.paid_through_after - NOW, new)
    assert lost < new.per_second() + (Fraction(1, 100) if q.kind is SwitchKind.UPGRADE else 0)


@given(pairs, lefts)
def test_an_upgrade_pays_the_difference_and_gets_at_least_the_period(
        pair: tuple[PlanTerms, PlanTerms], left: timedelta) -> None:
    """An upgrade costs the price minus the credit, rounded up to the cent, and gives at least
    the new plan's period; a downgrade costs nothing and needs no more than the unused value."""
    current, new = pair
    q = quoted(pair, left)
    value = worth(left, current)
    if q.kind is SwitchKind.UPGRADE:
        assert value < Fraction(new.price_usd)
        assert Fraction(q.pay_usd) >= Fraction(new.price_usd) - value
        assert Fraction(q.pay_usd) - (Fraction(new.price_usd) - value) < Fraction(1, 100)
        assert q.paid_through_after - NOW >= timedelta(days=new.days)
    else:
        assert q.pay_usd == Decimal("0.00") and value >= Fraction(new.price_usd)
    assert Fraction(q.credit_usd) <= value < Fraction(q.credit_usd) + Fraction(1, 100)


@given(pairs, lefts)
def test_the_quote_is_what_is_applied_when_nothing_changed(
        pair: tuple[PlanTerms, PlanTerms], left: timedelta) -> None:
    """Applying at the quote's moment with the quoted payment gives the quoted end of access."""
    current, new = pair
    q = quoted(pair, left)
    assert switched_paid_through(paid_through=NOW + left, current=current, new=new,
                                 paid_usd=q.pay_usd, now=NOW) == q.paid_through_after


@given(pairs, lefts, st.integers(min_value=0, max_value=10**6))
def test_time_passing_before_payment_never_creates_value(
        pair: tuple[PlanTerms, PlanTerms], left: timedelta, wait: int) -> None:
    """Paid later, the credit is what is unused then: still no value created."""
    current, new = pair
    q = quoted(pair, left)
    later = NOW + timedelta(seconds=wait)
    after = switched_paid_through(paid_through=NOW + left, current=current, new=new,
                                  paid_usd=q.pay_usd, now=later)
    unused = unused_value(paid_through=NOW + left, plan=current, now=later)
    assert worth(after - later, new) <= unused + Fraction(q.pay_usd)


def test_a_month_half_used_buys_five_weeks_and_a_bit_of_the_weekly_plan() -> None:
    """15 days of a $10/30-day month are worth $5.00, which is 11 days 16 h of $3/7-day time."""
    q = quote(paid_through=NOW + timedelta(days=15), current=MONTH, new=WEEK, now=NOW)
    assert q.kind is SwitchKind.DOWNGRADE
    assert (q.credit_usd, q.pay_usd) == (Decimal("5.00"), Decimal("0.00"))
    assert q.paid_through_after == NOW + timedelta(days=11, hours=16)


def test_a_month_half_used_pays_95_for_a_year() -> None:
    """15 days of a month ($5.00) against a $100 year: pay $95.00, get exactly 365 days."""
    q = quote(paid_through=NOW + timedelta(days=15), current=MONTH, new=YEAR, now=NOW)
    assert q.kind is SwitchKind.UPGRADE
    assert (q.credit_usd, q.pay_usd) == (Decimal("5.00"), Decimal("95.00"))
    assert q.paid_through_after == NOW + timedelta(days=365)


def test_the_payment_is_rounded_up_to_the_cent() -> None:
    """A credit of $3.333… leaves $6.666… to pay on a $10 plan: $6.67 is asked."""
    q = quote(paid_through=NOW + timedelta(days=10), current=MONTH,
              new=PlanTerms(code="other", days=30, price_usd=Decimal("10.00")), now=NOW)
    assert (q.credit_usd, q.pay_usd) == (Decimal("3.33"), Decimal("6.67"))


@pytest.mark.parametrize(("paid_through", "current", "new", "reason"), [
    (NOW + timedelta(days=1), MONTH, None, SwitchRefusal.PLAN_GONE),
    (NOW + timedelta(days=1), None, YEAR, SwitchRefusal.NOTHING_TO_SWITCH),
    (NOW, MONTH, YEAR, SwitchRefusal.NOTHING_TO_SWITCH),
    (None, MONTH, YEAR, SwitchRefusal.NOTHING_TO_SWITCH),
    (NOW + timedelta(days=1), MONTH, MONTH, SwitchRefusal.SAME_PLAN),
])
def test_refusals_name_their_reason(paid_through: datetime | None, current: PlanTerms | None,
                                    new: PlanTerms | None, reason: SwitchRefusal) -> None:
    """No plan on sale, no paid time on a plan, or the same plan: refused with that reason."""
    with pytest.raises(SwitchRefused) as refused:
        quote(paid_through=paid_through, current=current, new=new, now=NOW)
    assert refused.value.reason is reason


def test_time_without_a_plan_is_kept_as_it_is() -> None:
    """Applied over time no plan was paid for, that time stays and the payment adds its own."""
    after = switched_paid_through(paid_through=NOW + timedelta(days=2), current=None, new=MONTH,
                                  paid_usd=Decimal("10.00"), now=NOW)
    assert after == NOW + timedelta(days=32)


def test_chat_changes_keep_grant_and_end() -> None:
    """Shared chats carry over, the new plan's others are granted, the old plan's others end."""
    changes = chat_changes(old=frozenset({1, 2}), new=frozenset({2, 3}))
    assert (changes.carried, changes.granted, changes.ended) == (
        frozenset({2}), frozenset({3}), frozenset({1}))


def test_naive_now_is_refused() -> None:
    """A naive datetime fails at the door, not as a wrong date later."""
    with pytest.raises(ValueError, match="timezone-aware"):
        quote(paid_through=NOW, current=MONTH, new=YEAR, now=NOW.replace(tzinfo=None))
