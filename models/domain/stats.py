"""Business figures as of a moment: subscribers, MRR, new and churned, conversion, revenue.

Every figure is recomputed from what is never rewritten: the append-only access history (each
change of a subscriber's paid-through time) and the ledger (paid invoices, commission lines).
Nothing reads the live `access` rows, so the figures for a past moment come out today exactly
as they did then, and can be checked by replaying the history (tests do).

One convention for every figure, "as of c": the moment just before `c`.
- Events count when recorded before `c` (`at < c`); a window of N days is `[c - N days, c)`.
- A subscriber's access at `c` is what their last change before `c` left, and it still runs
  at `c` while `paid_through >= c` (time that ends exactly at `c` ran until then).
- Days are UTC calendar days; the chart's point for a day is taken at the end of that day (or
  at `c`, for the day `c` falls in).
So `/stats 2026-11-30` (c = 2026-12-01 00:00 UTC) reads "at the end of 30 November".

Nothing here reads a clock or touches a database: callers pass plain rows and `as_of`.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from models.domain._guards import require_aware, require_whole
from models.domain.money import ZERO, require_money, to_money
from models.domain.refusals import Refusal

DAY = timedelta(days=1)
CHART_DAYS = 90
WINDOWS = (7, 30)
MRR_DAYS = 30
RECENT_DAYS = 30  # the recent window: the trial cohort of conversion, revenue by plan

# The history's actions, as far as these figures care (models/history.py writes them).
PAYMENT_ACTION = "payment_activated"
# A plan switch (models/domain/switch.py): paid time moved to another plan, at that plan's rate.
SWITCH_ACTION = "plan_switched"
TRIAL_ACTION = "trial_started"
RESET_ACTION = "sandbox_reset"
# Lines that say the same paid-through time again without changing what kind of time it is:
# the expiry sweep's lines, and a channel move (which copies the time to the new channel).
RESTATING_ACTIONS = frozenset({
    "expired", "expired_removed", "expired_kept", "sweep_removed_paid_meanwhile",
    "channel_moved",
})


class Change(StrEnum):
    """What an access-history line did to a subscriber's time."""

    PAYMENT = "payment"  # paid time bought with an invoice (the line carries its monthly rate)
    GRANT = "grant"  # any other non-trial time: admin grants and edits, removals, gifts
    TRIAL = "trial"
    RESTATE = "restate"  # the same time said again
    RESET = "reset"  # the sandbox forgot the subscriber


def classify(action: str) -> Change:
    """The kind of change an access-history line with a paid-through time records.

    Unknown actions that set a paid-through time are grants: a new way of giving time (a gift
    code, say) then counts as subscribed time that nobody paid for, until it says otherwise.
    """
    if action in (PAYMENT_ACTION, SWITCH_ACTION):
        return Change.PAYMENT
    if action == TRIAL_ACTION:
        return Change.TRIAL
    if action == RESET_ACTION:
        return Change.RESET
    if action in RESTATING_ACTIONS:
        return Change.RESTATE
    return Change.GRANT


def monthly_rate(*, price_usd: Decimal, plan_days: int) -> Fraction:
    """A plan's price normalised to 30 days, exactly (rounded only once, in the MRR total)."""
    require_money(price_usd, name="price_usd")
    require_whole(plan_days, name="plan_days", minimum=1)
    return Fraction(price_usd) * MRR_DAYS / plan_days


@dataclass(frozen=True, kw_only=True, slots=True)
class AccessChange:
    """One access-history line that set a subscriber's paid-through time (or forgot it)."""

    user_id: int
    at: datetime
    change: Change
    paid_through: datetime | None
    # PAYMENT only: the invoice's price per 30 days (invoice amount x 30 / plan days).
    monthly: Fraction = Fraction(0)


@dataclass(frozen=True, kw_only=True, slots=True)
class WindowFigures:
    """New and churned subscribers in the N days before `as_of`."""

    days: int
    new: int
    churned: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Conversion:
    """Trial to paid: of the users whose first trial started in the span, how many then paid."""

    trials: int
    converted: int


@dataclass(frozen=True, kw_only=True, slots=True)
class AccessFigures:
    """What the access history says as of a moment."""

    active: int  # non-trial time running: paid, or granted
    paying: int  # active with a payment behind the running time (they count in MRR)
    trialing: int
    mrr: Decimal
    windows: tuple[WindowFigures, ...]
    conversion_all: Conversion
    conversion_recent: Conversion  # trials started in the last 30 days
    active_per_day: tuple[int, ...]  # at each chart day's checkpoint


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanRevenue:
    """Paid invoices of one plan: their count and the money received."""

    plan: str
    invoices: int
    amount: Decimal


@dataclass(frozen=True, kw_only=True, slots=True)
class Report:
    """Everything /stats shows."""

    as_of: datetime
    access: AccessFigures
    days: tuple[date, ...]
    revenue_per_day: tuple[Decimal, ...]
    revenue_recent: tuple[PlanRevenue, ...]  # the last 30 days
    revenue_all: tuple[PlanRevenue, ...]
    commissions_owed: Decimal
    commissions_paid: Decimal


# The moment and the days ---------------------------------------------------------------------

class DateRefusal(StrEnum):
    """Why a date cannot be reported on."""

    IN_THE_FUTURE = "in_the_future"


class BadStatsDate(Refusal[DateRefusal]):
    """The date asked for is not one the history can answer for yet."""


def as_of_date(day: date, *, now: datetime) -> datetime:
    """The moment `/stats <day>` reports on: the end of that UTC day, or `now` for today."""
    require_aware(now, name="now")
    today = now.astimezone(UTC).date()
    if day > today:
        raise BadStatsDate(DateRefusal.IN_THE_FUTURE,
                           f"{day.isoformat()} is after today ({today.isoformat()}, UTC)")
    return min(now, midnight(day + DAY))


def chart_days(as_of: datetime, *, count: int = CHART_DAYS) -> tuple[date, ...]:
    """The `count` UTC days ending with the one `as_of` falls in (the moment just before it)."""
    require_aware(as_of, name="as_of")
    require_whole(count, name="count", minimum=1)
    last = (as_of.astimezone(UTC) - timedelta(microseconds=1)).date()
    return tuple(last - DAY * back for back in range(count - 1, -1, -1))


def checkpoint(day: date, *, as_of: datetime) -> datetime:
    """Where a chart day's figure is taken: at its end, or at `as_of` for the last day."""
    return min(as_of, midnight(day + DAY))


def midnight(day: date) -> datetime:
    """The moment a UTC day starts."""
    return datetime.combine(day, time(0), tzinfo=UTC)


# The access history --------------------------------------------------------------------------

@dataclass(slots=True)
class _Replay:
    """One subscriber's history replayed up to `as_of` (see `access_figures`)."""

    first_trial: datetime | None = None
    converted_at: datetime | None = None  # first payment at or after the first trial
    first_start: datetime | None = None  # first moment covered by non-trial time
    last_end: datetime | None = None  # last moment covered, of the latest run that ended


@dataclass(slots=True)
class _State:
    """A subscriber's time after the lines so far, and the rate MRR counts them at.

    MRR and stacked or granted time: the rate is the monthly rate of the latest payment, and
    it counts only while non-trial time has run without a break since that payment: a
    subscriber is counted once however many periods they stacked ahead (a year bought as
    twelve months counts one month's worth), time an admin (or a gift) adds on top of running
    paid time keeps the rate, and time granted after paid time ended, or to someone who never
    paid, is active but earns nothing until they pay again.
    """

    kind: Change | None = None  # PAYMENT/GRANT (non-trial time), TRIAL, or None
    paid_through: datetime | None = None
    rate: Fraction = Fraction(0)
    broken: bool = True  # non-trial time stopped (at some moment) since the latest payment

    def runs_at(self, moment: datetime) -> bool:
        """Non-trial time that still runs at `moment` (left limit: `paid_through >= moment`)."""
        return (self.kind in (Change.PAYMENT, Change.GRANT) and self.paid_through is not None
                and self.paid_through >= moment)

    def runs_after(self, moment: datetime) -> bool:
        """Non-trial time that runs on past `moment`."""
        return self.runs_at(moment) and self.paid_through != moment

    def trial_at(self, moment: datetime) -> bool:
        return (self.kind is Change.TRIAL and self.paid_through is not None
                and self.paid_through >= moment)

    def apply(self, line: AccessChange) -> None:
        """Take one line. Whether time stopped is judged between moments (`_replay_one`), so lines
        of one moment that end and restart time (a reset, then a grant) break nothing."""
        if line.change is Change.RESET:
            self.kind, self.paid_through = None, None
            return
        self.paid_through = line.paid_through
        if line.change is Change.PAYMENT:
            self.rate, self.broken = line.monthly, False
        if line.change is not Change.RESTATE:
            self.kind = line.change


class _Tally:
    """The running totals over all subscribers (memory: one counter per chart day)."""

    def __init__(self, *, as_of: datetime, checkpoints: Sequence[datetime]) -> None:
        self.as_of = as_of
        self.checkpoints = checkpoints
        self.per_day = [0] * (len(checkpoints) + 1)  # a difference array over checkpoints
        self.active = self.paying = self.trialing = 0
        self.mrr = Fraction(0)
        self.new = dict.fromkeys(WINDOWS, 0)
        self.churned = dict.fromkeys(WINDOWS, 0)
        self.trials = {"all": 0, "recent": 0}
        self.converted = {"all": 0, "recent": 0}

    def cover(self, since: datetime, until: datetime) -> None:
        """Count the checkpoints in (since, until]: non-trial time ran at each."""
        low = bisect_right(self.checkpoints, since)
        high = bisect_right(self.checkpoints, until)
        if low < high:
            self.per_day[low] += 1
            self.per_day[high] -= 1

    def series(self) -> tuple[int, ...]:
        return tuple(itertools.accumulate(self.per_day[:-1]))


def _replay_one(lines: Iterable[AccessChange], tally: _Tally) -> None:
    """Replay one subscriber's lines before `as_of`, then add them to the totals.

    Lines of the same moment act together, and what they leave governs the moments after it,
    up to and including the next moment with lines (the left-limit convention): non-trial time
    set at `at` covers (at, min(next at, paid_through)].
    """
    as_of = tally.as_of
    state, replay = _State(), _Replay()
    since: datetime | None = None  # the moment of the latest lines
    for at, same_moment in itertools.groupby(lines, key=lambda line: line.at):
        if at >= as_of:
            break
        if since is not None:
            if at < since:
                raise ValueError("a user's changes must come oldest first")
            _close(state, since=since, until=at, replay=replay, tally=tally)
        running_before = state.runs_at(at)
        state.broken = state.broken or not running_before
        batch = list(same_moment)
        if replay.first_trial is None and any(line.change is Change.TRIAL for line in batch):
            replay.first_trial = at
        if (replay.first_trial is not None and replay.converted_at is None
                and any(line.change is Change.PAYMENT for line in batch)):
            replay.converted_at = at
        for line in batch:
            state.apply(line)
        runs_after = state.runs_after(at)
        if runs_after and replay.first_start is None:  # nothing ran before the first start
            replay.first_start = at
        if running_before and not runs_after:
            replay.last_end = at  # cut short (a removal, `setdays 0`) or turned into a trial
        since = at
    if since is not None:
        _close(state, since=since, until=None, replay=replay, tally=tally)
    _count(state, replay, tally)


def _close(state: _State, *, since: datetime, until: datetime | None, replay: _Replay,
           tally: _Tally) -> None:
    """The state set at `since` held until `until` (None: until `as_of`); count what it covered.

    Time that ran out before `until` (and before `as_of`) ended a run there.
    """
    if state.kind not in (Change.PAYMENT, Change.GRANT) or state.paid_through is None:
        return
    through = state.paid_through
    limit = tally.as_of if until is None else until
    end = min(limit, through)
    if end > since:
        tally.cover(since, end)
        if through < limit:
            replay.last_end = through


def _count(state: _State, replay: _Replay, tally: _Tally) -> None:
    as_of = tally.as_of
    if state.runs_at(as_of):
        tally.active += 1
        if state.rate > 0 and not state.broken:
            tally.paying += 1
            tally.mrr += state.rate
    elif state.trial_at(as_of):
        tally.trialing += 1
    for days in WINDOWS:
        since = as_of - days * DAY
        if replay.first_start is not None and replay.first_start >= since:
            tally.new[days] += 1
        if (not state.runs_at(as_of) and replay.last_end is not None
                and replay.last_end >= since):
            tally.churned[days] += 1
    if replay.first_trial is not None:
        recent = replay.first_trial >= as_of - RECENT_DAYS * DAY
        tally.trials["all"] += 1
        tally.trials["recent"] += recent
        if replay.converted_at is not None:
            tally.converted["all"] += 1
            tally.converted["recent"] += recent


def access_figures(changes: Iterable[AccessChange], *, as_of: datetime,
                   days: Sequence[date]) -> AccessFigures:
    """Replay every subscriber's access changes (grouped by user, oldest first) up to `as_of`.

    - active: non-trial time (paid or granted) runs at `as_of`; paying: those of them with a
      rate (see `_State`), whose rates sum to the MRR; trialing: trial time runs at `as_of`.
    - new in N days: the user's first ever non-trial time started in the window.
    - churned in N days: non-trial time does not run at `as_of`, and the last stretch of it
      ended in the window (ran out, or was cut short by a removal).
    - conversion: users whose first trial started before `as_of` (or in its last 30 days), and
      those of them with a payment at or after that trial's start.
    The rows stream through: memory holds one subscriber and one counter per day.
    """
    require_aware(as_of, name="as_of")
    checkpoints = [checkpoint(day, as_of=as_of) for day in days]
    tally = _Tally(as_of=as_of, checkpoints=checkpoints)
    previous: int | None = None
    for user_id, lines in itertools.groupby(changes, key=lambda line: line.user_id):
        if previous is not None and user_id <= previous:
            raise ValueError("changes must come grouped by user, in ascending user id")
        _replay_one(lines, tally)
        previous = user_id
    windows = tuple(WindowFigures(days=d, new=tally.new[d], churned=tally.churned[d])
                    for d in WINDOWS)
    return AccessFigures(
        active=tally.active, paying=tally.paying, trialing=tally.trialing,
        mrr=to_money(_decimal(tally.mrr)), windows=windows,
        conversion_all=Conversion(trials=tally.trials["all"],
                                  converted=tally.converted["all"]),
        conversion_recent=Conversion(trials=tally.trials["recent"],
                                     converted=tally.converted["recent"]),
        active_per_day=tally.series(),
    )


def _decimal(value: Fraction) -> Decimal:
    # Exact enough for one rounding to the cent: 28 significant digits of a dollar amount.
    return Decimal(value.numerator) / Decimal(value.denominator)


# Revenue and the ledger ----------------------------------------------------------------------

def revenue_series(per_day: Iterable[tuple[date, Decimal]],
                   days: Sequence[date]) -> tuple[Decimal, ...]:
    """Money received per chart day from (day, amount) sums; days without any are 0."""
    totals: dict[date, Decimal] = {}
    for day, amount in per_day:
        totals[day] = totals.get(day, ZERO) + require_money(amount, name="amount")
    return tuple(totals.get(day, ZERO) for day in days)


def by_plan(rows: Iterable[tuple[str, int, Decimal]]) -> tuple[PlanRevenue, ...]:
    """(plan, invoices, amount) sums as PlanRevenue, largest amount first, then by plan."""
    found = [PlanRevenue(plan=plan, invoices=int(count), amount=require_money(amount,
                                                                              name="amount"))
             for plan, count, amount in rows]
    return tuple(sorted(found, key=lambda row: (-row.amount, row.plan)))
