"""Tests for models.domain.polling: when the fallback poll asks about an invoice again."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.domain.polling import (
    CANCELED_INTERVAL,
    LATE_PAYMENT_WINDOW,
    OLD_OPEN_INTERVAL,
    poll_interval,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BASE = timedelta(seconds=60)


def interval(status: str, *, age: timedelta = timedelta(0), expires_in: timedelta | None = None,
             changed_ago: timedelta = timedelta(0), base: timedelta = BASE) -> timedelta | None:
    return poll_interval(
        status=status, created_at=NOW - age,
        expires_at=None if expires_in is None else NOW + expires_in,
        updated_at=NOW - changed_ago, now=NOW, base=base)


@pytest.mark.parametrize("status", ["created", "partial"])
def test_a_young_open_invoice_is_asked_about_at_every_run(status: str) -> None:
    """Open and younger than an hour: the next run asks again, whatever the base interval."""
    assert interval(status, age=timedelta(minutes=59)) == BASE
    assert interval(status, base=timedelta(seconds=5)) == timedelta(seconds=5)


def test_older_open_invoices_are_asked_about_rarely() -> None:
    """Past the first hour an open invoice is asked about every 3 minutes, past six hours
    every 10, and never more often than the poll runs."""
    assert interval("created", age=timedelta(hours=2)) == timedelta(minutes=3)
    assert interval("created", age=timedelta(hours=30)) == OLD_OPEN_INTERVAL
    assert interval("created", age=timedelta(hours=2),
                    base=timedelta(minutes=5)) == timedelta(minutes=5)


def test_an_open_invoice_past_its_expiry_is_asked_about_at_the_next_run() -> None:
    """However old, an expired open invoice is due at once: the provider has canceled it and a
    part payer should hear so."""
    assert interval("partial", age=timedelta(days=2), expires_in=-timedelta(seconds=1)) == BASE


@pytest.mark.parametrize("status", ["paid", "overpaid"])
def test_a_paid_invoice_is_never_polled_again(status: str) -> None:
    """Paid and overpaid are final: nothing left to ask."""
    assert interval(status) is None


def test_a_canceled_invoice_is_watched_for_late_money_for_a_day_only() -> None:
    """Canceled: asked about every 10 minutes within the late-payment window, the last time
    at its end, never after."""
    assert interval("canceled", changed_ago=timedelta(hours=1)) == CANCELED_INTERVAL
    assert interval("canceled", changed_ago=LATE_PAYMENT_WINDOW - timedelta(minutes=4)
                    ) == timedelta(minutes=4)
    assert interval("canceled", changed_ago=LATE_PAYMENT_WINDOW) is None


def test_naive_times_are_refused() -> None:
    """A naive `now` is a caller's bug, refused at the door."""
    with pytest.raises(ValueError, match="timezone-aware"):
        poll_interval(status="created", created_at=NOW, expires_at=None, updated_at=NOW,
                      now=NOW.replace(tzinfo=None), base=BASE)


@given(status=st.sampled_from(["created", "partial", "canceled"]),
       age=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=8)),
       base=st.timedeltas(min_value=timedelta(seconds=5), max_value=timedelta(hours=1)))
def test_an_invoice_that_can_change_is_never_asked_about_more_often_than_the_poll_runs(
    status: str, age: timedelta, base: timedelta,
) -> None:
    """For any age and base interval the interval is at least the base, and an open invoice
    is asked about at least every 10 minutes (or every base interval, if longer)."""
    got = interval(status, age=age, changed_ago=min(age, timedelta(hours=23)), base=base)
    assert got is not None and got >= base
    if status != "canceled":
        assert got <= max(base, OLD_OPEN_INTERVAL)
