"""Settings of the referral rules: REFERRAL_HOLD_DAYS and PAYOUT_MIN_USD, defaults and errors."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest

from infra.settings import SettingsError
from tests.infra.test_settings import ROOT, settings_from


def test_defaults_keep_todays_behaviour(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset: commissions are payable at once and the minimum payout is the old $1.00."""
    settings = settings_from(monkeypatch)
    assert (settings.referral_hold_days, settings.referral_hold) == (0, timedelta(0))
    assert settings.payout_minimum == Decimal("1.00")


@pytest.mark.parametrize("name", ["REFERRAL_HOLD_DAYS", "PAYOUT_MIN_USD"])
def test_empty_means_unset(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """`NAME=` or blanks leave the default in place."""
    assert settings_from(monkeypatch, **{name: "  "}) == settings_from(monkeypatch)


@pytest.mark.parametrize(
    ("env", "hold", "minimum"),
    [
        ({"REFERRAL_HOLD_DAYS": "14"}, timedelta(days=14), Decimal("1.00")),
        ({"PAYOUT_MIN_USD": "25"}, timedelta(0), Decimal("25.00")),
        ({"PAYOUT_MIN_USD": "0.5", "REFERRAL_HOLD_DAYS": "0"}, timedelta(0), Decimal("0.50")),
    ],
)
def test_values_are_read(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                         hold: timedelta, minimum: Decimal) -> None:
    """A hold in whole days and a minimum in dollars, kept in whole cents."""
    settings = settings_from(monkeypatch, **env)
    assert settings.referral_hold == hold
    assert settings.payout_minimum == minimum
    assert settings.payout_minimum.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REFERRAL_HOLD_DAYS": "-1"},
         "REFERRAL_HOLD_DAYS: Input should be greater than or equal to 0"),
        ({"REFERRAL_HOLD_DAYS": "1.5"}, "REFERRAL_HOLD_DAYS: Input should be a valid integer"),
        ({"REFERRAL_HOLD_DAYS": "a week"}, "REFERRAL_HOLD_DAYS: Input should be a valid integer"),
        ({"REFERRAL_HOLD_DAYS": "9999"},
         "REFERRAL_HOLD_DAYS: Input should be less than or equal to 3650"),
        ({"PAYOUT_MIN_USD": "0"}, "PAYOUT_MIN_USD: Input should be greater than 0"),
        ({"PAYOUT_MIN_USD": "-5"}, "PAYOUT_MIN_USD: Input should be greater than 0"),
        ({"PAYOUT_MIN_USD": "ten"}, "PAYOUT_MIN_USD: Input should be a valid decimal"),
        ({"PAYOUT_MIN_USD": "1.005"},
         "PAYOUT_MIN_USD: Decimal input should have no more than 2 decimal places"),
        ({"PAYOUT_MIN_USD": "NaN"}, "PAYOUT_MIN_USD: Input should be a finite number"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                      message: str) -> None:
    """A bad value is refused with one line that starts with the variable's name."""
    with pytest.raises(SettingsError) as refused:
        settings_from(monkeypatch, **env)
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_a_process_with_a_negative_hold_stops_with_one_line() -> None:
    """An entry point exits with status 2 and a single line naming REFERRAL_HOLD_DAYS."""
    result = subprocess.run(
        [sys.executable, "-c", "from infra.settings import settings_or_exit; settings_or_exit()"],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", "REFERRAL_HOLD_DAYS": "-3", "ENV_FILE": ""},
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: REFERRAL_HOLD_DAYS: Input should be greater than or equal to 0 "
        "(got '-3')"]
