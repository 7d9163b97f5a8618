"""Texts a person reads: nouns agree with their numbers, and the operator panel speaks words."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from infra import texts

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("number", "expected"), [(0, "0 days"), (1, "1 day"), (3, "3 days")])
def test_a_count_agrees_with_its_noun(number: int, expected: str) -> None:
    """"1 day", "3 days", never "day(s)"."""
    assert texts.count(number, "day") == expected


def test_every_text_with_a_number_in_it_uses_proper_plurals() -> None:
    """The trial, the plan buttons, time left and overpayment bonuses read naturally."""
    assert texts.choose_plan(trial_days=1).endswith("for 1 day.")
    assert texts.trial_button(days=3) == "Free trial · 3 days"
    assert texts.plan_button(title="1 month", days=30, price=Decimal("10")) == (
        "1 month · 30 days · $10.00")
    assert texts.duration(timedelta(days=1, hours=2, minutes=1)) == "1 day 2 hours 1 minute"
    assert "adds 1 extra day." in texts.payment_received(extra_days=1)
    for source in ("infra/texts.py", "infra/ops/dead_letters.py", "infra/ops/recheck.py",
                   "infra/sandbox/telegram/static/app.js"):
        assert "(s)" not in (ROOT / source).read_text(), source


def test_the_operator_panel_reports_what_a_sweep_did() -> None:
    """A sweep's summary becomes a sentence, not a dictionary or an exit code."""
    assert texts.job_report("expiry-sweep", {"due": 1, "removed": 1, "expired": 1}) == (
        "removed 1 subscriber from the channel; 1 marked expired")
    assert texts.job_report("expiry-sweep", {"due": 0}) == "nothing was due: nobody was removed"
    assert "held (#4)" in texts.job_report("expiry-sweep", {"due": 60, "hold_id": 4})
    assert texts.job_report("reminders", {"reminded": 2}) == "sent 2 renewal reminders"
    assert texts.job_report("poll", 1).endswith("1 payment to settle")
