"""The /stats rules: figures replayed from the access history, checked against a plain model."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.domain import stats
from tests.models.domain.stats_model import (
    BASE,
    HOUR,
    PLANS,
    World,
    as_of_hours,
    cents,
    expected_access,
    moment,
    worlds,
)

NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)


def changes(world: World) -> list[stats.AccessChange]:
    """The world's lines as the worker hands them over: by user, oldest first."""
    found = []
    for line in sorted(world.lines, key=lambda line: line.user_id):
        monthly = Fraction(0)
        if line.plan is not None:
            price, days = PLANS[line.plan]
            monthly = stats.monthly_rate(price_usd=price, plan_days=days)
        found.append(stats.AccessChange(
            user_id=line.user_id, at=line.at, change=stats.classify(line.action),
            paid_through=None if line.through is None else moment(line.through),
            monthly=monthly))
    return found


def hours(moments: list[datetime]) -> list[int]:
    return [int((point - BASE) / HOUR) for point in moments]


@settings(max_examples=300, deadline=None)
@given(world=worlds(), data=st.data())
def test_figures_match_an_hour_by_hour_replay(world: World, data: st.DataObject) -> None:
    """Every access figure equals what an hour-by-hour replay of each subscriber reads off."""
    as_of_hour = data.draw(as_of_hours(world), label="as_of_hour")
    as_of = moment(as_of_hour)
    days = stats.chart_days(as_of)
    checkpoints = [stats.checkpoint(day, as_of=as_of) for day in days]

    figures = stats.access_figures(changes(world), as_of=as_of, days=days)

    want = expected_access(world, as_of_hour=as_of_hour, checkpoints=hours(checkpoints))
    assert (figures.active, figures.paying, figures.trialing) == (
        want.active, want.paying, want.trialing)
    assert figures.mrr == cents(want.mrr)
    assert {w.days: (w.new, w.churned) for w in figures.windows} == {
        days_: (want.new[days_], want.churned[days_])  # type: ignore[index]
        for days_ in (7, 30)}
    assert (figures.conversion_all.trials, figures.conversion_all.converted) == (
        want.trials, want.converted)
    assert (figures.conversion_recent.trials, figures.conversion_recent.converted) == (
        want.recent_trials, want.recent_converted)
    assert list(figures.active_per_day) == want.per_day


def line(user_id: int, hour: int, change: stats.Change, through: int | None,
         monthly: Fraction = Fraction(0)) -> stats.AccessChange:
    return stats.AccessChange(user_id=user_id, at=moment(hour), change=change,
                              paid_through=None if through is None else moment(through),
                              monthly=monthly)


MONTH = stats.monthly_rate(price_usd=Decimal("10.00"), plan_days=30)


def figures_at(lines: list[stats.AccessChange], hour: int) -> stats.AccessFigures:
    as_of = moment(hour)
    return stats.access_figures(lines, as_of=as_of, days=stats.chart_days(as_of))


def test_a_year_paid_ahead_counts_once_at_its_monthly_rate() -> None:
    """Stacked time counts one rate: a $120 year is $9.86 a month, not twelve subscribers."""
    year = stats.monthly_rate(price_usd=Decimal("120.00"), plan_days=365)
    figures = figures_at([line(1, 0, stats.Change.PAYMENT, 24 * 365, year),
                          line(1, 1, stats.Change.PAYMENT, 24 * 730, year)], 48)
    assert (figures.active, figures.paying, figures.mrr) == (1, 1, Decimal("9.86"))


def test_admin_time_keeps_a_payers_rate_but_earns_nothing_on_its_own() -> None:
    """A bonus on running paid time keeps the rate; a grant after a lapse is active, unpaid."""
    bonus = [line(1, 0, stats.Change.PAYMENT, 24 * 30, MONTH),
             line(1, 24, stats.Change.GRANT, 24 * 40)]
    lapsed = [line(2, 0, stats.Change.PAYMENT, 24, MONTH),
              line(2, 48, stats.Change.GRANT, 24 * 40)]
    figures = figures_at(bonus + lapsed, 24 * 35)
    assert (figures.active, figures.paying, figures.mrr) == (2, 1, Decimal("10.00"))


def test_time_ending_exactly_at_the_moment_still_counts() -> None:
    """As of c means just before c: time that ends at c is active; a removal at c is not seen."""
    figures = figures_at([line(1, 0, stats.Change.PAYMENT, 24, MONTH),
                          line(2, 0, stats.Change.PAYMENT, 48, MONTH),
                          line(2, 24, stats.Change.GRANT, 24)], 24)
    assert figures.active == 2


def test_a_removal_is_churn_and_a_renewal_is_not() -> None:
    """Removed in the window: churned once; renewed at the last moment: neither new nor churned."""
    removed = [line(1, 0, stats.Change.PAYMENT, 24 * 30, MONTH),
               line(1, 24 * 20, stats.Change.GRANT, 24 * 20)]
    renewed = [line(2, 0, stats.Change.PAYMENT, 24 * 30, MONTH),
               line(2, 24 * 30, stats.Change.PAYMENT, 24 * 60, MONTH)]
    figures = figures_at(removed + renewed, 24 * 35)
    assert [(w.days, w.new, w.churned) for w in figures.windows] == [(7, 0, 0), (30, 0, 1)]
    assert figures.active == 1


def test_lines_out_of_order_are_refused() -> None:
    """The stream must come by ascending user and time: anything else would count twice."""
    with pytest.raises(ValueError, match="ascending user id"):
        figures_at([line(2, 0, stats.Change.TRIAL, 72), line(1, 0, stats.Change.TRIAL, 72)], 5)
    with pytest.raises(ValueError, match="oldest first"):
        figures_at([line(1, 5, stats.Change.TRIAL, 72), line(1, 0, stats.Change.TRIAL, 72)], 9)


@pytest.mark.parametrize(("action", "change"), [
    ("payment_activated", stats.Change.PAYMENT), ("trial_started", stats.Change.TRIAL),
    ("sandbox_reset", stats.Change.RESET), ("expired_removed", stats.Change.RESTATE),
    ("channel_moved", stats.Change.RESTATE), ("admin_activated", stats.Change.GRANT),
    ("promo_gift", stats.Change.GRANT), ("plan_switched", stats.Change.PAYMENT),
])
def test_history_actions_are_classified(action: str, change: stats.Change) -> None:
    """Unknown actions that set time are grants: new kinds of free time count, unpaid."""
    assert stats.classify(action) is change


def test_a_past_day_ends_at_midnight_and_today_is_now() -> None:
    """/stats 2026-11-30 reports at the end of that day; today's date reports as of now."""
    assert stats.as_of_date(date(2026, 11, 30), now=NOW) == datetime(2026, 12, 1, tzinfo=UTC)
    assert stats.as_of_date(date(2026, 12, 1), now=NOW) == NOW


def test_a_day_after_today_is_refused() -> None:
    """The history cannot speak for tomorrow: a typed refusal says so."""
    with pytest.raises(stats.BadStatsDate) as refused:
        stats.as_of_date(date(2026, 12, 2), now=NOW)
    assert refused.value.reason is stats.DateRefusal.IN_THE_FUTURE


# hypothesis takes naive bounds and attaches the time zone itself.
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),  # noqa: DTZ001
                    timezones=st.just(UTC)))
def test_the_chart_covers_ninety_days_ending_with_the_moment(as_of: datetime) -> None:
    """90 consecutive days, the last one holding the moment just before as_of."""
    days = stats.chart_days(as_of)
    assert len(days) == 90
    assert all(later - earlier == timedelta(days=1) for earlier, later in pairwise(days))
    assert stats.midnight(days[-1]) < as_of <= stats.midnight(days[-1]) + timedelta(days=1)
    assert stats.checkpoint(days[-1], as_of=as_of) == as_of


def test_revenue_series_fills_missing_days_with_zero() -> None:
    """Days without paid invoices are $0.00; sums for a day add up."""
    days = [date(2026, 11, 29), date(2026, 11, 30)]
    series = stats.revenue_series([(days[1], Decimal("3.00")), (days[1], Decimal("2.50"))], days)
    assert series == (Decimal("0.00"), Decimal("5.50"))
