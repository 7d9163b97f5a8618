"""retry_countdown: Telegram's retry_after first, else capped exponential backoff with jitter."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from infra.telegram import TelegramTransient, retry_countdown


def test_retry_after_is_honoured_exactly_at_every_attempt() -> None:
    """A quoted retry_after is the countdown, whatever the attempt number."""
    failure = TelegramTransient(retry_after=7)
    assert {retry_countdown(failure, attempt) for attempt in range(10)} == {7.0}


def test_retry_after_beyond_the_cap_is_cut_to_the_cap() -> None:
    """A countdown never exceeds the cap, which the broker's visibility timeout must exceed."""
    assert retry_countdown(TelegramTransient(retry_after=3600), 0, cap=300) == 300


@given(attempt=st.integers(min_value=-3, max_value=10_000), cap=st.floats(1, 10_000))
def test_backoff_stays_within_full_jitter_bounds(attempt: int, cap: float) -> None:
    """Without retry_after the countdown lies in [0, min(2**attempt, cap)] for any attempt."""
    countdown = retry_countdown(TelegramTransient(), attempt, cap=cap)
    assert 0.0 <= countdown <= min(2.0 ** min(max(attempt, 0), 30), cap)


def test_backoff_grows_with_the_attempt() -> None:
    """Later attempts reach waits that earlier attempts cannot."""
    random.seed(1)
    failure = TelegramTransient()
    first = [retry_countdown(failure, 0) for _ in range(200)]
    fifth = [retry_countdown(failure, 5) for _ in range(200)]
    assert max(first) <= 1.0
    assert max(fifth) > 16.0


def test_backoff_is_jittered() -> None:
    """Workers that failed together draw different countdowns."""
    failure = TelegramTransient()
    assert len({retry_countdown(failure, 3) for _ in range(20)}) > 1


def test_backoff_is_capped() -> None:
    """However many attempts, the countdown stays under the cap."""
    failure = TelegramTransient()
    assert all(retry_countdown(failure, 40, cap=300) <= 300 for _ in range(100))
