"""Tests for models.domain.access: paid-through time, trials, grace, stacking and removal."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.domain.access import (
    Access,
    AccessStatus,
    TrialRefusal,
    TrialUnavailable,
    can_start_trial,
    days_left,
    extend,
    is_covered,
    is_due_for_removal,
    reminder_due,
    remove,
    set_days,
    start_trial,
    status_at,
)

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)
GRACE = timedelta(days=2)


def paid(until: datetime, *, trial: bool = False) -> Access:
    """Build an access paid (or trialing) up to `until`, not removed."""
    return Access(paid_through=until, is_trial=trial, removed_at=None)


moments = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive by contract
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
optional_access = st.none() | st.builds(
    Access,
    paid_through=st.none() | moments,
    is_trial=st.booleans(),
    removed_at=st.none() | moments,
)


@pytest.mark.parametrize(
    ("access", "days", "expected_end"),
    [
        (None, 30, T0 + 30 * DAY),
        (paid(T0 + 5 * DAY), 30, T0 + 35 * DAY),  # stacks on the days left
        (paid(T0 - 5 * DAY), 30, T0 + 30 * DAY),  # lapsed: starts again from now
        (paid(T0), 1, T0 + DAY),
        (paid(T0 + 3 * DAY, trial=True), 30, T0 + 33 * DAY),  # trial days are kept
        (Access(paid_through=T0 - DAY, is_trial=False, removed_at=T0 - DAY), 7, T0 + 7 * DAY),
    ],
)
def test_extend_stacks_from_the_later_of_paid_through_and_now(
    access: Access | None, days: int, expected_end: datetime
) -> None:
    """A renewal adds its days to max(paid_through, now), ends any trial and lifts a removal."""
    assert extend(access, days=days, now=T0) == paid(expected_end)


@given(access=optional_access, now=moments, days=st.integers(min_value=1, max_value=3650))
def test_extend_property(access: Access | None, now: datetime, days: int) -> None:
    """extend gives exactly max(paid_through, now) + days, so it never shortens access."""
    result = extend(access, days=days, now=now)
    before = access.paid_through if access and access.paid_through else now
    assert result.paid_through == max(before, now) + days * DAY
    assert result.paid_through > before
    assert status_at(result, now=now) is AccessStatus.ACTIVE


@pytest.mark.parametrize("days", [0, -1])
def test_extend_needs_at_least_one_day(days: int) -> None:
    """Extending by zero or negative days is a caller bug, not a no-op."""
    with pytest.raises(ValueError, match="days"):
        extend(None, days=days, now=T0)


def test_start_trial_gives_days_from_now() -> None:
    """A first trial runs `days` from now and is marked as a trial."""
    trial = start_trial(trial_used_at=None, days=3, now=T0, current=None)
    assert trial == paid(T0 + 3 * DAY, trial=True)
    assert status_at(trial, now=T0) is AccessStatus.TRIALING


@pytest.mark.parametrize(
    ("trial_used_at", "days", "current", "reason"),
    [
        (None, 0, None, TrialRefusal.DISABLED),
        (T0 - DAY, 0, None, TrialRefusal.DISABLED),
        (T0 - 400 * DAY, 3, None, TrialRefusal.ALREADY_USED),  # once per Telegram id, for ever
        (T0 - DAY, 3, remove(paid(T0), now=T0), TrialRefusal.ALREADY_USED),
        (None, 3, paid(T0 + DAY), TrialRefusal.HAS_ACCESS),
    ],
)
def test_start_trial_refusals(
    trial_used_at: datetime | None, days: int, current: Access | None, reason: TrialRefusal
) -> None:
    """A refused trial says why: disabled, already used, or access already paid for."""
    with pytest.raises(TrialUnavailable) as refused:
        start_trial(trial_used_at=trial_used_at, days=days, now=T0, current=current)
    assert refused.value.reason is reason


@pytest.mark.parametrize(
    "current",
    [
        None,
        Access(paid_through=None, is_trial=False, removed_at=None),
        paid(T0),  # ends exactly now
        paid(T0 - DAY),  # lapsed, even inside a grace period
        remove(paid(T0 + 9 * DAY), now=T0),
    ],
)
def test_start_trial_allowed_without_running_access(current: Access | None) -> None:
    """A never-used trial may start when no paid time covers now."""
    trial = start_trial(trial_used_at=None, days=3, now=T0, current=current)
    assert trial.paid_through == T0 + 3 * DAY


@pytest.mark.parametrize(
    ("trial_used_at", "days", "expected"),
    [(None, 3, True), (None, 0, False), (T0, 3, False), (T0, 0, False)],
)
def test_can_start_trial(trial_used_at: datetime | None, days: int, expected: bool) -> None:
    """The trial is offered only when it is turned on and never used."""
    assert can_start_trial(trial_used_at=trial_used_at, days=days) is expected


def test_removal_does_not_give_the_trial_back() -> None:
    """A trial used then removed by an admin stays used: only clearing trial_used_at resets it."""
    trial = start_trial(trial_used_at=None, days=3, now=T0, current=None)
    removed = remove(trial, now=T0 + DAY)
    with pytest.raises(TrialUnavailable):
        start_trial(trial_used_at=T0, days=3, now=T0 + 2 * DAY, current=removed)
    again = start_trial(trial_used_at=None, days=3, now=T0 + 2 * DAY, current=removed)
    assert status_at(again, now=T0 + 2 * DAY) is AccessStatus.TRIALING


def test_lifecycle_none_trialing_active_grace_expired() -> None:
    """A subscriber walks none -> trialing -> active -> grace -> expired as time passes."""
    assert status_at(None, now=T0, grace=GRACE) is AccessStatus.NONE
    trial = start_trial(trial_used_at=None, days=3, now=T0, current=None)
    assert status_at(trial, now=T0 + DAY, grace=GRACE) is AccessStatus.TRIALING
    bought = extend(trial, days=30, now=T0 + DAY)  # ends at T0 + 33 days
    steps = [
        (T0 + DAY, AccessStatus.ACTIVE),
        (T0 + 33 * DAY - timedelta(microseconds=1), AccessStatus.ACTIVE),
        (T0 + 33 * DAY, AccessStatus.GRACE),
        (T0 + 35 * DAY - timedelta(microseconds=1), AccessStatus.GRACE),
        (T0 + 35 * DAY, AccessStatus.EXPIRED),
    ]
    assert [(now, status_at(bought, now=now, grace=GRACE)) for now, _ in steps] == steps


@pytest.mark.parametrize(
    ("access", "now", "grace", "expected"),
    [
        (None, T0, GRACE, AccessStatus.NONE),
        (Access(paid_through=None, is_trial=False, removed_at=None), T0, GRACE, AccessStatus.NONE),
        (paid(T0 + DAY, trial=True), T0, GRACE, AccessStatus.TRIALING),
        (paid(T0, trial=True), T0, GRACE, AccessStatus.GRACE),
        (paid(T0), T0, timedelta(0), AccessStatus.EXPIRED),  # no grace: over at paid_through
        (paid(T0 - GRACE), T0, GRACE, AccessStatus.EXPIRED),
        (remove(paid(T0 + DAY), now=T0), T0, GRACE, AccessStatus.REMOVED),
        (remove(paid(T0 + DAY), now=T0), T0 + 90 * DAY, GRACE, AccessStatus.REMOVED),
        (extend(remove(paid(T0), now=T0), days=1, now=T0), T0, GRACE, AccessStatus.ACTIVE),
    ],
)
def test_status_at_table(
    access: Access | None, now: datetime, grace: timedelta, expected: AccessStatus
) -> None:
    """status_at maps an access, a moment and a grace period to one status."""
    assert status_at(access, now=now, grace=grace) is expected


@pytest.mark.parametrize(
    ("status_access", "covered", "due"),
    [
        (None, False, False),
        (paid(T0 + DAY), True, False),
        (paid(T0 - DAY), True, False),  # in grace
        (paid(T0 - 3 * DAY), False, True),
        (remove(paid(T0 + DAY), now=T0 - DAY), False, False),
    ],
)
def test_is_covered_and_is_due_for_removal(
    status_access: Access | None, covered: bool, due: bool
) -> None:
    """Only access that ran out and was not removed yet is due for removal."""
    assert is_covered(status_access, now=T0, grace=GRACE) is covered
    assert is_due_for_removal(status_access, now=T0, grace=GRACE) is due


def test_remove_ends_access_now_without_grace() -> None:
    """An admin removal cuts access at once, whatever was paid, and keeps it cut."""
    removed = remove(paid(T0 + 30 * DAY), now=T0)
    assert removed == Access(paid_through=T0, is_trial=False, removed_at=T0)
    assert not is_covered(removed, now=T0, grace=GRACE)
    assert not is_due_for_removal(removed, now=T0 + 10 * DAY, grace=GRACE)


@pytest.mark.parametrize(
    ("access", "days", "expected"),
    [
        (paid(T0 + 30 * DAY), 5, paid(T0 + 5 * DAY)),  # an override may shorten
        (paid(T0 + 3 * DAY, trial=True), 10, paid(T0 + 10 * DAY)),
        (None, 7, paid(T0 + 7 * DAY)),
        (paid(T0 + 30 * DAY), 0, paid(T0)),
        (remove(paid(T0), now=T0 - DAY), 4, paid(T0 + 4 * DAY)),  # lifts the removal
        (
            remove(paid(T0), now=T0 - DAY),
            0,
            Access(paid_through=T0, is_trial=False, removed_at=T0 - DAY),
        ),
    ],
)
def test_set_days(access: Access | None, days: int, expected: Access) -> None:
    """set_days makes access end `days` from now; 0 ends it now and keeps a removal."""
    assert set_days(access, days=days, now=T0) == expected


@pytest.mark.parametrize(
    ("grace", "expected"), [(timedelta(0), AccessStatus.EXPIRED), (GRACE, AccessStatus.GRACE)]
)
def test_set_days_zero_ends_paid_time_now(grace: timedelta, expected: AccessStatus) -> None:
    """After set_days(0) paid time is over; the usual grace period, if any, follows."""
    assert status_at(set_days(paid(T0 + 9 * DAY), days=0, now=T0), now=T0, grace=grace) is expected


@pytest.mark.parametrize(
    ("access", "expected"),
    [
        (None, 0),
        (paid(T0 - DAY), 0),
        (paid(T0), 0),
        (paid(T0 + timedelta(microseconds=1)), 1),
        (paid(T0 + DAY), 1),
        (paid(T0 + DAY + timedelta(seconds=1)), 2),
        (paid(T0 + 30 * DAY), 30),
        (Access(paid_through=T0 + 5 * DAY, is_trial=False, removed_at=T0), 0),
    ],
)
def test_days_left_rounds_up(access: Access | None, expected: int) -> None:
    """days_left counts a started day as a whole one and is 0 once access is over or removed."""
    assert days_left(access, now=T0) == expected


@pytest.mark.parametrize(
    ("now", "days_before", "expected"),
    [
        (T0 - 4 * DAY, 3, False),
        (T0 - 3 * DAY - timedelta(seconds=1), 3, False),
        (T0 - 3 * DAY, 3, True),
        (T0 - timedelta(seconds=1), 3, True),
        (T0, 3, False),  # at paid_through the reminder is late: expiry takes over
        (T0 - timedelta(seconds=1), 0, False),
        (T0 - timedelta(hours=23), 1, True),
    ],
)
def test_reminder_due(now: datetime, days_before: int, expected: bool) -> None:
    """The renewal reminder is due in the last `days_before` days before paid_through."""
    assert reminder_due(paid_through=T0, now=now, days_before=days_before) is expected


NAIVE = T0.replace(tzinfo=None)
NAIVE_CALLS: list[Callable[[], object]] = [
    lambda: extend(None, days=1, now=NAIVE),
    lambda: set_days(None, days=1, now=NAIVE),
    lambda: remove(None, now=NAIVE),
    lambda: start_trial(trial_used_at=None, days=3, now=NAIVE, current=None),
    lambda: status_at(None, now=NAIVE),
    lambda: days_left(None, now=NAIVE),
    lambda: reminder_due(paid_through=NAIVE, now=T0, days_before=1),
    lambda: Access(paid_through=NAIVE, is_trial=False, removed_at=None),
    lambda: Access(paid_through=T0, is_trial=False, removed_at=NAIVE),
]


@pytest.mark.parametrize("call", NAIVE_CALLS)
def test_naive_datetimes_are_rejected(call: Callable[[], object]) -> None:
    """Every entry point refuses a naive datetime with ValueError."""
    with pytest.raises(ValueError, match="timezone-aware"):
        call()


def test_negative_grace_is_rejected() -> None:
    """A negative grace period is a configuration bug, not a shorter subscription."""
    with pytest.raises(ValueError, match="grace"):
        status_at(paid(T0), now=T0, grace=-DAY)


# One step of an admin's or the clock's doing: (operation, amount).
steps = st.lists(
    st.one_of(
        st.tuples(st.just("extend"), st.integers(min_value=1, max_value=400)),
        st.tuples(st.just("set_days"), st.integers(min_value=0, max_value=400)),
        st.tuples(st.just("remove"), st.just(0)),
        st.tuples(st.just("wait"), st.integers(min_value=0, max_value=500 * 24 * 3600)),
    ),
    max_size=25,
)


@given(steps=steps, grace_hours=st.integers(min_value=0, max_value=24 * 10))
def test_coverage_follows_a_simple_model(steps: list[tuple[str, int]], grace_hours: int) -> None:
    """Over any sequence of operations and clock moves, covered <=> not removed and
    now < paid_through + grace, where paid_through follows the stacking rules."""
    grace = timedelta(hours=grace_hours)
    now, access = T0, None
    end: datetime | None = None  # the model's own paid-through time
    removed = False
    for operation, amount in steps:
        if operation == "extend":
            access = extend(access, days=amount, now=now)
            end, removed = max(end or now, now) + amount * DAY, False
        elif operation == "set_days":
            access = set_days(access, days=amount, now=now)
            end, removed = now + amount * DAY, removed and amount == 0
        elif operation == "remove":
            access = remove(access, now=now)
            end, removed = now, True
        else:
            now += timedelta(seconds=amount)
        expected = end is not None and not removed and now < end + grace
        assert is_covered(access, now=now, grace=grace) is expected
        assert is_due_for_removal(access, now=now, grace=grace) is (
            end is not None and not removed and not expected
        )


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: days_left(None, now=NAIVE), ValueError, "^now must be timezone-aware"),
        (lambda: reminder_due(paid_through=NAIVE, now=T0, days_before=1), ValueError,
         "^paid_through must be timezone-aware"),
        (lambda: reminder_due(paid_through=T0, now=NAIVE, days_before=1), ValueError,
         "^now must be timezone-aware"),
        (lambda: reminder_due(paid_through=T0, now=T0, days_before=-1), ValueError,
         "^days_before must be at least 0, got -1"),
        (lambda: extend(None, days=0, now=T0), ValueError, "^days must be at least 1, got 0"),
        (lambda: extend(None, days=True, now=T0), TypeError, "^days must be an int, got bool"),
        (lambda: extend(None, days=1, now=NAIVE), ValueError, "^now must be timezone-aware"),
        (lambda: can_start_trial(trial_used_at=None, days=-1), ValueError,
         "^days must be at least 0"),
        (lambda: start_trial(trial_used_at=None, days=3, now=NAIVE, current=None), ValueError,
         "^now must be timezone-aware"),
        (lambda: set_days(None, days=-1, now=T0), ValueError, "^days must be at least 0"),
        (lambda: set_days(None, days=1, now=NAIVE), ValueError, "^now must be timezone-aware"),
        (lambda: remove(None, now=NAIVE), ValueError, "^now must be timezone-aware"),
        (lambda: status_at(None, now=NAIVE), ValueError, "^now must be timezone-aware"),
        (lambda: status_at(None, now=T0, grace=1), TypeError,  # type: ignore[arg-type]
         "^grace must be a timedelta, got int"),
        (lambda: days_left(None, now="2025-03-01"), TypeError,  # type: ignore[arg-type]
         "^now must be a datetime, got str"),
        (lambda: Access(paid_through=NAIVE, is_trial=False, removed_at=None), ValueError,
         "^paid_through must be timezone-aware"),
        (lambda: Access(paid_through=T0, is_trial=False, removed_at=NAIVE), ValueError,
         "^removed_at must be timezone-aware"),
    ],
    ids=["days_left-now", "reminder-paid_through", "reminder-now", "reminder-days_before",
         "extend-days", "extend-days-bool", "extend-now", "trial-days", "trial-now",
         "set_days-days", "set_days-now", "remove-now", "status-now", "status-grace-type",
         "now-type", "access-paid_through", "access-removed_at"],
)
def test_bad_arguments_are_refused_by_name(
    call: Callable[[], object], error: type[Exception], message: str
) -> None:
    """A bad argument is refused with an error that names it, so the caller knows which (and
    a bool is never a number of days, though Python counts it as an int)."""
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize(
    ("trial_used_at", "days", "current", "reason", "message"),
    [
        (None, 0, None, TrialRefusal.DISABLED, "^free trials are turned off$"),
        (T0 - DAY, 3, None, TrialRefusal.ALREADY_USED, "^the free trial was already used$"),
        (None, 3, Access(paid_through=T0 + DAY, is_trial=False, removed_at=None),
         TrialRefusal.HAS_ACCESS, "^access is already paid for$"),
    ],
    ids=["disabled", "used", "paid"],
)
def test_a_refused_trial_says_why(
    trial_used_at: datetime | None, days: int, current: Access | None, reason: TrialRefusal,
    message: str,
) -> None:
    """Each trial refusal carries its reason for the code and its words for the person."""
    with pytest.raises(TrialUnavailable, match=message) as refused:
        start_trial(trial_used_at=trial_used_at, days=days, now=T0, current=current)
    assert refused.value.reason is reason
