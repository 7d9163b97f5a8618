"""The membership audit's rule: what each actual standing says against each record, and what
the fix may still do at the time of the fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.domain.access import Access
from models.domain.audit import (
    Actual,
    Finding,
    FixAction,
    actual_of,
    classify,
    fix_action,
    still_wanted,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
GRACE = timedelta(hours=12)

NONE = None
ACTIVE = Access(paid_through=NOW + DAY, is_trial=False, removed_at=None)
TRIAL = Access(paid_through=NOW + DAY, is_trial=True, removed_at=None)
IN_GRACE = Access(paid_through=NOW - timedelta(hours=1), is_trial=False, removed_at=None)
EXPIRED = Access(paid_through=NOW - DAY, is_trial=False, removed_at=None)
REMOVED = Access(paid_through=NOW - DAY, is_trial=False, removed_at=NOW - DAY)
RECORDS = {"none": NONE, "active": ACTIVE, "trial": TRIAL, "grace": IN_GRACE,
           "expired": EXPIRED, "removed": REMOVED}

M, P, B, A, U = (Finding.MEMBER_WITHOUT_ACCESS, Finding.PAYER_NOT_IN_CHAT,
                 Finding.BANNED_WHILE_COVERED, Finding.ADMIN, Finding.UNCHECKED)
# actual standing -> finding for each record: none, active, trial, grace, expired, removed
TABLE = {
    Actual.MEMBER: (M, None, None, None, M, M),
    Actual.LEFT: (None, P, P, None, None, None),
    Actual.NOT_FOUND: (None, P, P, None, None, None),
    Actual.KICKED: (None, B, B, None, None, None),
    Actual.CREATOR: (A, A, A, A, A, A),
    Actual.ADMINISTRATOR: (A, A, A, A, A, A),
    Actual.ERROR: (U, U, U, U, U, U),
}


@pytest.mark.parametrize("actual", list(TABLE))
@pytest.mark.parametrize("record", list(RECORDS))
def test_the_classification_table(actual: Actual, record: str) -> None:
    """Each (actual standing, record) pair gets the finding of the table, grace included."""
    expected = TABLE[actual][list(RECORDS).index(record)]
    assert classify(actual, RECORDS[record], now=NOW, grace=GRACE) is expected


@pytest.mark.parametrize("actual", [Actual.MEMBER, Actual.CREATOR, Actual.ADMINISTRATOR])
def test_staff_in_the_chat_are_admins_whatever_their_record(actual: Actual) -> None:
    """A configured admin who is a plain member without access is reported, never removed."""
    assert classify(actual, NONE, now=NOW, grace=GRACE, staff=True) is Finding.ADMIN


def test_staff_out_of_the_chat_are_judged_like_anyone() -> None:
    """A configured admin who paid and left is a payer not in the chat, like anyone else."""
    assert classify(Actual.LEFT, ACTIVE, now=NOW, staff=True) is Finding.PAYER_NOT_IN_CHAT


@pytest.mark.parametrize(("word", "actual"), [
    ("member", Actual.MEMBER), ("left", Actual.LEFT), ("kicked", Actual.KICKED),
    ("creator", Actual.CREATOR), ("administrator", Actual.ADMINISTRATOR),
    ("unknown", Actual.NOT_FOUND)])
def test_telegrams_words_map_onto_actual_standings(word: str, actual: Actual) -> None:
    """The port's status words (restricted already folded into member/left) and "unknown"."""
    assert actual_of(word) is actual


def test_only_removals_and_invites_are_acted_on() -> None:
    """Admins and people who could not be checked are never touched by the fix."""
    assert [fix_action(f) for f in Finding] == [
        FixAction.REMOVE, FixAction.INVITE, FixAction.INVITE, FixAction.NOTHING,
        FixAction.NOTHING]


records = st.one_of(st.none(), st.builds(
    Access,
    # hypothesis takes naive bounds and makes the values aware (timezones=)
    paid_through=st.datetimes(min_value=datetime(2026, 1, 1),  # noqa: DTZ001
                              max_value=datetime(2027, 12, 31),  # noqa: DTZ001
                              timezones=st.just(UTC)),
    is_trial=st.booleans(),
    removed_at=st.one_of(st.none(), st.just(NOW - DAY))))
actuals = st.sampled_from(list(Actual))
graces = st.sampled_from([timedelta(0), GRACE])


@given(actual=actuals, record=records, grace=graces, staff=st.booleans())
def test_nobody_the_fix_would_remove_is_covered(actual: Actual, record: Access | None,
                                                grace: timedelta, staff: bool) -> None:
    """No paying (or trial, or grace) person is ever up for removal, nor any admin; nobody
    up for an invite lacks running access."""
    finding = classify(actual, record, now=NOW, grace=grace, staff=staff)
    if finding is None:
        return
    action = fix_action(finding)
    assert still_wanted(action, record, now=NOW, grace=grace) is (action is not FixAction.NOTHING)
    if action is FixAction.REMOVE:
        assert actual is Actual.MEMBER and not staff


@given(actual=actuals, record=records, grace=graces)
def test_a_payment_after_the_audit_cancels_a_removal(actual: Actual, record: Access | None,
                                                      grace: timedelta) -> None:
    """Whatever the audit found, access paid for at the time of the fix keeps the person in."""
    finding = classify(actual, record, now=NOW, grace=grace)
    if finding is None or fix_action(finding) is not FixAction.REMOVE:
        return
    paid = Access(paid_through=NOW + 30 * DAY, is_trial=False, removed_at=None)
    assert not still_wanted(FixAction.REMOVE, paid, now=NOW + DAY, grace=grace)
