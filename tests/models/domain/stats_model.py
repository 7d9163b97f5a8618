"""A random access history and ledger, and the /stats figures recomputed the plain way.

The histories are written as the engine writes them (payments and admin grants stack on what
is left, `setdays` and removals set the end, trials run 3 days, the sweep restates, the sandbox
forgets), at whole hours, several lines sometimes at the same moment. The model knows nothing
of `models.domain.stats`: it replays each subscriber hour by hour ("which lines came before
this hour, does their time still run?") and reads every figure off that timeline.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from hypothesis import strategies as st

HOUR = timedelta(hours=1)
BASE = datetime(2026, 1, 1, tzinfo=UTC)  # hour 0, a midnight
SPAN_HOURS = 24 * 120
TRIAL_HOURS = 24 * 3
# code: (price, days)
PLANS = {"month": (Decimal("10.00"), 30), "week": (Decimal("3.50"), 7),
         "year": (Decimal("99.99"), 365)}
RESTATING = ("expired", "expired_removed", "expired_kept", "channel_moved",
             "sweep_removed_paid_meanwhile")


@dataclass(frozen=True)
class Line:
    """One access-history line with a paid-through time (hours from BASE)."""

    user_id: int
    hour: int
    action: str
    through: int | None
    plan: str | None = None  # payments: the plan bought
    paid: Decimal | None = None  # payments: the money received
    commission: Decimal | None = None  # payments: the referrer's credit, if any

    @property
    def at(self) -> datetime:
        return BASE + self.hour * HOUR


@dataclass(frozen=True)
class Payout:
    """A referral payout approved (a ledger debit) at `hour`."""

    hour: int
    amount: Decimal


@dataclass(frozen=True)
class World:
    lines: tuple[Line, ...]  # by user, oldest first
    payouts: tuple[Payout, ...]


def moment(hour: int) -> datetime:
    return BASE + hour * HOUR


@st.composite
def _user_lines(draw: st.DrawFn, user_id: int) -> list[Line]:
    hour = draw(st.integers(0, SPAN_HOURS))
    through: int | None = None
    lines: list[Line] = []
    for _ in range(draw(st.integers(0, 7))):
        hour += draw(st.sampled_from([0, 0, 1, 7, 24, 24 * 3, 24 * 9, 24 * 30, 24 * 31]))
        kind = draw(st.sampled_from(["pay", "pay", "activate", "setdays", "remove", "trial",
                                     "restate", "reset"]))
        start = hour if through is None else max(through, hour)
        if kind == "pay":
            plan = draw(st.sampled_from(sorted(PLANS)))
            price, days = PLANS[plan]
            extra = draw(st.sampled_from([0, 0, 0, 2]))
            paid = price + (price * extra / days).quantize(Decimal("0.01")) if extra else price
            commission = draw(st.sampled_from([None, Decimal("1.00"), Decimal("0.35")]))
            through = start + 24 * (days + extra)
            lines.append(Line(user_id, hour, "payment_activated", through, plan, paid,
                              commission))
        elif kind == "activate":
            through = start + 24 * draw(st.integers(1, 40))
            lines.append(Line(user_id, hour, "admin_activated", through))
        elif kind == "setdays":
            through = hour + 24 * draw(st.integers(0, 40))
            lines.append(Line(user_id, hour, "admin_set_days", through))
        elif kind == "remove":
            through = hour
            lines.append(Line(user_id, hour, "admin_removed", through))
        elif kind == "trial":
            through = hour + TRIAL_HOURS
            lines.append(Line(user_id, hour, "trial_started", through))
        elif kind == "restate" and through is not None:
            lines.append(Line(user_id, hour, draw(st.sampled_from(RESTATING)), through))
        elif kind == "reset":
            through = None
            lines.append(Line(user_id, hour, "sandbox_reset", None))
    return lines


@st.composite
def worlds(draw: st.DrawFn, *, first_user: int = 1, max_users: int = 6) -> World:
    lines: list[Line] = []
    for offset in range(draw(st.integers(1, max_users))):
        lines += draw(_user_lines(first_user + offset))
    payouts = draw(st.lists(st.builds(Payout, hour=st.integers(0, SPAN_HOURS + 24 * 60),
                                      amount=st.sampled_from([Decimal("0.50"),
                                                              Decimal("2.00")])),
                            max_size=3))
    return World(tuple(lines), tuple(payouts))


def as_of_hours(world: World) -> st.SearchStrategy[int]:
    """Moments to report on: any hour of the span and after it, midnights, and the edges of
    the world's own lines (the moment of a line, the end of its time, an hour after either)."""
    edges = {hour + nudge for line in world.lines
             for hour in (line.hour, line.through) if hour is not None for nudge in (0, 1)}
    choices = [st.integers(1, SPAN_HOURS + 24 * 60),
               st.integers(1, (SPAN_HOURS + 24 * 60) // 24).map(lambda day: day * 24)]
    if edges - {0}:
        choices.append(st.sampled_from(sorted(edges - {0})))
    return st.one_of(choices)


# The model ---------------------------------------------------------------------------------

def _kind(action: str) -> str:
    if action == "trial_started":
        return "trial"
    if action == "sandbox_reset":
        return "none"
    if action in RESTATING:
        return "same"
    return "paid"


def timeline(lines: list[Line], last_hour: int) -> tuple[list[bool], list[bool]]:
    """For every hour 0..last_hour: does non-trial time run then, does trial time run then.

    At hour h the lines before h count, and time runs while it ends at h or later.
    """
    paid, trial = [], []
    kind, through, index = "none", None, 0
    for hour in range(last_hour + 1):
        while index < len(lines) and lines[index].hour < hour:
            line = lines[index]
            new_kind = _kind(line.action)
            kind = kind if new_kind == "same" else new_kind
            through = line.through
            index += 1
        runs = through is not None and through >= hour
        paid.append(runs and kind == "paid")
        trial.append(runs and kind == "trial")
    return paid, trial


@dataclass
class Expected:
    active: int = 0
    paying: int = 0
    trialing: int = 0
    mrr: Fraction = Fraction(0)
    new: dict[int, int] | None = None
    churned: dict[int, int] | None = None
    trials: int = 0
    converted: int = 0
    recent_trials: int = 0
    recent_converted: int = 0
    per_day: list[int] | None = None


def expected_access(world: World, *, as_of_hour: int, checkpoints: list[int]) -> Expected:
    """The figures as of `as_of_hour`, read off each subscriber's hour-by-hour timeline."""
    by_user: dict[int, list[Line]] = defaultdict(list)
    for line in world.lines:
        by_user[line.user_id].append(line)
    found = Expected(new={7: 0, 30: 0}, churned={7: 0, 30: 0},
                     per_day=[0] * len(checkpoints))
    c = as_of_hour
    for lines in by_user.values():
        paid, trial = timeline(lines, c)
        if paid[c]:
            found.active += 1
            payments = [line for line in lines if line.action == "payment_activated"
                        and line.hour < c]
            if payments and all(paid[h] for h in range(payments[-1].hour + 1, c + 1)):
                price, days = PLANS[payments[-1].plan or ""]
                found.paying += 1
                found.mrr += Fraction(price) * 30 / days
        elif trial[c]:
            found.trialing += 1
        covered = [h for h in range(c + 1) if paid[h]]
        for days in (7, 30):
            if covered and c - 24 * days < covered[0] <= c:
                found.new[days] += 1  # type: ignore[index]
            if not paid[c] and covered and covered[-1] >= c - 24 * days:
                found.churned[days] += 1  # type: ignore[index]
        trials = [line.hour for line in lines if line.action == "trial_started" and line.hour < c]
        if trials:
            recent = trials[0] >= c - 24 * 30
            converted = any(line.action == "payment_activated" and trials[0] <= line.hour < c
                            for line in lines)
            found.trials += 1
            found.recent_trials += recent
            found.converted += converted
            found.recent_converted += recent and converted
        for index, point in enumerate(checkpoints):
            if 0 <= point <= c and paid[point]:
                found.per_day[index] += 1  # type: ignore[index]
    return found


def cents(value: Fraction) -> Decimal:
    """Half-up to the cent, straight from the fraction."""
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP)


def expected_revenue(world: World, *, as_of_hour: int, days: list[date]
                     ) -> tuple[list[Decimal], dict[str, tuple[int, Decimal]],
                                dict[str, tuple[int, Decimal]]]:
    """Money per chart day, and (count, money) by plan in the last 30 days and all time."""
    per_day = dict.fromkeys(days, Decimal("0.00"))
    recent: dict[str, tuple[int, Decimal]] = {}
    every: dict[str, tuple[int, Decimal]] = {}
    for line in world.lines:
        if line.action != "payment_activated" or line.hour >= as_of_hour:
            continue
        assert line.plan is not None and line.paid is not None
        day = line.at.date()
        if day in per_day:
            per_day[day] += line.paid
        count, amount = every.get(line.plan, (0, Decimal("0.00")))
        every[line.plan] = (count + 1, amount + line.paid)
        if line.hour >= as_of_hour - 24 * 30:
            count, amount = recent.get(line.plan, (0, Decimal("0.00")))
            recent[line.plan] = (count + 1, amount + line.paid)
    return [per_day[day] for day in days], recent, every


def expected_commissions(world: World, *, as_of_hour: int) -> tuple[Decimal, Decimal]:
    """(owed, paid out) before `as_of_hour`."""
    credits = sum((line.commission for line in world.lines
                   if line.commission is not None and line.hour < as_of_hour),
                  start=Decimal("0.00"))
    debits = sum((payout.amount for payout in world.payouts if payout.hour < as_of_hour),
                 start=Decimal("0.00"))
    return credits - debits, debits
