"""Tests for the referral rules in models.domain.ledger: the hold period and the minimum payout."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from models.domain.ledger import (
    NO_HOLD,
    EntryKind,
    LedgerEntry,
    PayoutRefusal,
    PayoutRefused,
    available_for_payout,
    balance,
    check_payout_request,
    payable_at,
    standing,
)

T = datetime(2030, 1, 1, 12, tzinfo=UTC)
WEEK = timedelta(days=7)
TICK = timedelta(microseconds=1)
ZERO = Decimal("0.00")

amounts = st.integers(min_value=1, max_value=10**6).map(lambda c: Decimal(c).scaleb(-2))
moments = st.integers(min_value=0, max_value=60 * 24 * 3600).map(
    lambda s: T + timedelta(seconds=s))
holds = st.integers(min_value=0, max_value=30).map(lambda d: timedelta(days=d))
timed_entries = st.lists(st.builds(LedgerEntry, kind=st.sampled_from(EntryKind), amount=amounts,
                                   at=moments), max_size=12)
opens = st.integers(min_value=0, max_value=10**6).map(lambda c: Decimal(c).scaleb(-2))


def credit(amount: str, at: datetime = T) -> LedgerEntry:
    """A commission credit earned at `at`."""
    return LedgerEntry(kind=EntryKind.CREDIT, amount=Decimal(amount), at=at)


def debit(amount: str, at: datetime = T) -> LedgerEntry:
    """A payout debit written at `at`."""
    return LedgerEntry(kind=EntryKind.DEBIT, amount=Decimal(amount), at=at)


def test_a_credit_becomes_payable_exactly_at_the_end_of_its_hold() -> None:
    """One microsecond before payment + hold it is on hold; at that instant it is available."""
    ledger = [credit("5.00")]
    before = standing(entries=ledger, open_request_amount=ZERO, hold=WEEK, now=T + WEEK - TICK)
    assert (before.balance, before.available, before.on_hold) == (
        Decimal("5.00"), ZERO, Decimal("5.00"))
    assert before.next_release == T + WEEK == payable_at(ledger[0], hold=WEEK)
    at = standing(entries=ledger, open_request_amount=ZERO, hold=WEEK, now=T + WEEK)
    assert (at.balance, at.available, at.on_hold, at.next_release) == (
        Decimal("5.00"), Decimal("5.00"), ZERO, None)


def test_next_release_is_the_earliest_held_credit() -> None:
    """With two credits on hold, the next release is the older one's, and the older one's
    amount is all that becomes available then."""
    ledger = [credit("2.00", T + timedelta(days=2)), credit("3.00", T + timedelta(days=1))]
    now = T + timedelta(days=3)
    held = standing(entries=ledger, open_request_amount=ZERO, hold=WEEK, now=now)
    assert (held.on_hold, held.next_release) == (Decimal("5.00"), T + timedelta(days=8))
    assert available_for_payout(entries=ledger, open_request_amount=ZERO, hold=WEEK,
                                now=T + timedelta(days=8)) == Decimal("3.00")


def test_payouts_leave_at_once_and_only_payable_money_is_available() -> None:
    """A debit counts at once; a fresh credit stays on hold while the old one was paid out."""
    ledger = [credit("10.00"), debit("10.00", T + WEEK), credit("4.00", T + WEEK)]
    now = T + WEEK + timedelta(days=1)
    result = standing(entries=ledger, open_request_amount=ZERO, hold=WEEK, now=now)
    assert (result.balance, result.available, result.on_hold) == (
        Decimal("4.00"), ZERO, Decimal("4.00"))


def test_a_hold_raised_after_a_payout_holds_back_no_more_than_is_left() -> None:
    """Money already paid out is not shown as on hold when the hold period grows later."""
    ledger = [credit("10.00"), debit("10.00", T + timedelta(hours=1))]
    result = standing(entries=ledger, open_request_amount=ZERO, hold=WEEK, now=T + timedelta(1))
    assert (result.balance, result.available, result.on_hold, result.next_release) == (
        ZERO, ZERO, ZERO, None)


def test_the_open_request_is_reserved_from_what_is_payable() -> None:
    """An open request is taken from the payable part, never from what is still on hold."""
    ledger = [credit("6.00"), credit("4.00", T + timedelta(days=6))]
    now = T + WEEK
    result = standing(entries=ledger, open_request_amount=Decimal("5.00"), hold=WEEK, now=now)
    assert (result.available, result.on_hold) == (Decimal("1.00"), Decimal("4.00"))


def test_no_hold_means_immediately_whatever_the_clocks_say() -> None:
    """With a hold of 0 a credit is payable at once, even one stamped after `now`, and no
    clock is needed."""
    ledger = [credit("5.00", T + timedelta(minutes=1))]
    assert available_for_payout(entries=ledger, open_request_amount=ZERO, hold=NO_HOLD,
                                now=T) == Decimal("5.00")
    assert available_for_payout(entries=[LedgerEntry(kind=EntryKind.CREDIT,
                                                     amount=Decimal("5.00"))],
                                open_request_amount=ZERO) == Decimal("5.00")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: standing(entries=[credit("1.00")], open_request_amount=ZERO, hold=WEEK),
         "^now is required when a hold period applies"),
        (lambda: standing(entries=[LedgerEntry(kind=EntryKind.CREDIT, amount=Decimal("1.00"))],
                          open_request_amount=ZERO, hold=WEEK, now=T),
         "^a credit needs its time"),
        (lambda: standing(entries=[], open_request_amount=ZERO, hold=-WEEK, now=T),
         "^hold must not be negative"),
        (lambda: standing(entries=[], open_request_amount=ZERO, hold=WEEK,
                          now=datetime(2030, 1, 1)),  # noqa: DTZ001 - the naive value refused
         "^now must be timezone-aware"),
        (lambda: credit("1.00", datetime(2030, 1, 1)),  # noqa: DTZ001 - the naive value refused
         "^at must be timezone-aware"),
    ],
    ids=["no-now", "no-time", "negative-hold", "naive-now", "naive-at"],
)
def test_hold_arguments_are_checked(call: Callable[[], object], message: str) -> None:
    """A hold without a clock, a credit without a time, or a naive time is a caller bug."""
    with pytest.raises(ValueError, match=message):
        call()


@given(ledger=timed_entries, hold=holds, now=moments, open_amount=opens)
def test_available_and_on_hold_never_exceed_the_balance(
    ledger: list[LedgerEntry], hold: timedelta, now: datetime, open_amount: Decimal
) -> None:
    """Whatever the ledger and clock: 0 <= available, 0 <= on_hold, and together they are at
    most the (non-negative part of the) balance."""
    result = standing(entries=ledger, open_request_amount=open_amount, hold=hold, now=now)
    assert result.balance == balance(ledger)
    assert result.available >= 0 and result.on_hold >= 0
    assert result.available + result.on_hold <= max(ZERO, result.balance)


@given(ledger=timed_entries, hold=holds, first=moments, second=moments)
def test_waiting_never_makes_less_available(
    ledger: list[LedgerEntry], hold: timedelta, first: datetime, second: datetime
) -> None:
    """Time only releases money: what is available later is at least what is available now."""
    earlier, later = sorted((first, second))
    assert available_for_payout(entries=ledger, open_request_amount=ZERO, hold=hold,
                                now=earlier) <= available_for_payout(
        entries=ledger, open_request_amount=ZERO, hold=hold, now=later)


@given(ledger=timed_entries, hold=holds, now=moments)
def test_nothing_changes_before_the_next_release(
    ledger: list[LedgerEntry], hold: timedelta, now: datetime
) -> None:
    """The next release is in the future, and until just before it the standing is the same."""
    result = standing(entries=ledger, open_request_amount=ZERO, hold=hold, now=now)
    assume(result.next_release is not None)
    assert result.next_release is not None and result.next_release > now
    assert standing(entries=ledger, open_request_amount=ZERO, hold=hold,
                    now=result.next_release - TICK) == result


@given(ledger=timed_entries, hold=holds, open_amount=opens)
def test_once_every_hold_is_over_the_rule_is_the_balance_less_the_open_request(
    ledger: list[LedgerEntry], hold: timedelta, open_amount: Decimal
) -> None:
    """After the last credit's hold, or with no hold at all, nothing is held back."""
    last = max((entry.at for entry in ledger if entry.at is not None), default=T)
    expected = max(ZERO, balance(ledger) - open_amount)
    late = standing(entries=ledger, open_request_amount=open_amount, hold=hold, now=last + hold)
    assert (late.available, late.on_hold, late.next_release) == (expected, ZERO, None)
    assert available_for_payout(entries=ledger, open_request_amount=open_amount,
                                hold=NO_HOLD, now=T) == expected


@given(ledger=timed_entries, hold=holds, now=moments,
       asked=st.integers(min_value=1, max_value=10**6).map(lambda c: Decimal(c).scaleb(-2)),
       minimum=st.integers(min_value=1, max_value=10**4).map(lambda c: Decimal(c).scaleb(-2)))
def test_an_accepted_request_is_paid_only_from_commissions_past_their_hold(
    ledger: list[LedgerEntry], hold: timedelta, now: datetime, asked: Decimal, minimum: Decimal
) -> None:
    """A request accepted at `now` never pays out held money: payable credits cover every debit,
    the new one included; and a refusal is for being under the minimum or over what is
    available."""
    available = available_for_payout(entries=ledger, open_request_amount=ZERO, hold=hold, now=now)
    try:
        check_payout_request(amount=asked, available=available, has_open_request=False,
                             minimum=minimum)
    except PayoutRefused as refused:
        assert (refused.reason is PayoutRefusal.BELOW_MINIMUM) == (asked < minimum)
        assert asked < minimum or asked > available
        return
    payable = sum((e.amount for e in ledger if e.kind is EntryKind.CREDIT
                   and (hold == NO_HOLD or payable_at(e, hold=hold) <= now)), start=ZERO)
    debits = sum((e.amount for e in ledger if e.kind is EntryKind.DEBIT), start=ZERO)
    assert minimum <= asked <= payable - debits


@given(minimum=st.integers(min_value=1, max_value=10**4).map(lambda c: Decimal(c).scaleb(-2)),
       available=opens)
def test_the_minimum_is_refused_by_name_with_the_numbers(
    minimum: Decimal, available: Decimal
) -> None:
    """A cent under the minimum is refused as below_minimum, naming the minimum; the minimum
    itself is accepted whenever that much is available."""
    under = minimum - Decimal("0.01")
    assume(under > 0)
    with pytest.raises(PayoutRefused, match=f"^the minimum payout is {minimum}, got {under}$"):
        check_payout_request(amount=under, available=available, has_open_request=False,
                             minimum=minimum)
    if available >= minimum:
        check_payout_request(amount=minimum, available=available, has_open_request=False,
                             minimum=minimum)
