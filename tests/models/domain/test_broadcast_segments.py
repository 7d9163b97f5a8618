"""The broadcast rules: who is in which segment, and how a message's button lines are read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.domain.access import Access
from models.domain.segments import (
    CAPTION_LIMIT,
    MAX_BUTTONS,
    Audience,
    BadAudience,
    BadMessage,
    BroadcastStatus,
    MessageRefusal,
    Person,
    Progress,
    Segment,
    UrlButton,
    can_resume,
    is_member,
    split_buttons,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
GRACE = timedelta(hours=12)


def person(paid_through: datetime | None = None, *, trial: bool = False,
           removed: bool = False, has_paid: bool = False, referred: bool = False,
           blocked: bool = False) -> Person:
    access = None if paid_through is None else Access(
        paid_through=paid_through, is_trial=trial, removed_at=NOW - DAY if removed else None)
    return Person(access=access, has_paid=has_paid, referred=referred, blocked=blocked)


def members(audience: Audience, people: dict[str, Person]) -> set[str]:
    return {name for name, who in people.items()
            if is_member(audience, who, now=NOW, grace=GRACE)}


PEOPLE = {
    "paid": person(NOW + 10 * DAY, has_paid=True),
    "paid_ending": person(NOW + 2 * DAY, has_paid=True),
    "trial": person(NOW + DAY, trial=True),
    "grace": person(NOW - GRACE / 2, has_paid=True),
    "expired": person(NOW - DAY, has_paid=True),
    "removed": person(NOW - DAY, removed=True),
    "stranger": person(),
    "referred": person(referred=True),
    "blocked": person(NOW + 10 * DAY, has_paid=True, referred=True, blocked=True),
}


@pytest.mark.parametrize(("audience", "expected"), [
    (Audience(segment=Segment.ALL), set(PEOPLE) - {"blocked"}),
    (Audience(segment=Segment.ACTIVE), {"paid", "paid_ending"}),
    (Audience(segment=Segment.TRIALING), {"trial"}),
    (Audience(segment=Segment.EXPIRED), {"grace", "expired", "removed"}),
    (Audience(segment=Segment.NEVER_PAID), {"trial", "removed", "stranger", "referred"}),
    (Audience(segment=Segment.EXPIRING, days=3), {"paid_ending", "trial"}),
    (Audience(segment=Segment.EXPIRING, days=30), {"paid", "paid_ending", "trial"}),
    (Audience(segment=Segment.REFERRED), {"referred"}),
])
def test_each_segment_takes_the_people_its_name_says(audience: Audience,
                                                     expected: set[str]) -> None:
    """Segments follow the access statuses /myplan shows; blocked users are in none."""
    assert members(audience, PEOPLE) == expected


def test_expiring_includes_the_last_moment_of_its_window() -> None:
    """"Within N days" includes access ending exactly N days from now, not a second later."""
    audience = Audience(segment=Segment.EXPIRING, days=2)
    assert is_member(audience, person(NOW + 2 * DAY), now=NOW, grace=GRACE)
    assert not is_member(audience, person(NOW + 2 * DAY + timedelta(seconds=1)),
                         now=NOW, grace=GRACE)


@given(segment=st.sampled_from(Segment), days=st.integers(1, 365),
       offset=st.integers(-400, 400), trial=st.booleans(), paid=st.booleans(),
       referred=st.booleans())
def test_a_blocked_user_is_in_no_segment(segment: Segment, days: int, offset: int,
                                         trial: bool, paid: bool, referred: bool) -> None:
    """Whatever their access, someone Telegram will not let us message is never a recipient."""
    audience = Audience(segment=segment, days=days if segment is Segment.EXPIRING else None)
    who = person(NOW + offset * DAY, trial=trial, has_paid=paid, referred=referred,
                 blocked=True)
    assert not is_member(audience, who, now=NOW, grace=GRACE)


@pytest.mark.parametrize(("segment", "days"), [
    (Segment.EXPIRING, None), (Segment.EXPIRING, 0), (Segment.EXPIRING, 366),
    (Segment.ALL, 3),
])
def test_a_day_count_goes_with_expiring_only(segment: Segment, days: int | None) -> None:
    """Expiring needs 1–365 days; every other segment refuses a day count."""
    with pytest.raises(BadAudience):
        Audience(segment=segment, days=days)


def test_trailing_button_lines_become_url_buttons() -> None:
    """`Title - https://url` lines at the end are buttons; the same shape mid-text is text."""
    text = ("Big news - https://example.com/not-a-button\nmore text\n\n"
            "Renew now - https://example.com/renew\nRules – https://t.me/rules")
    body, buttons = split_buttons(text, has_photo=False)
    assert body == "Big news - https://example.com/not-a-button\nmore text"
    assert buttons == [UrlButton("Renew now", "https://example.com/renew"),
                       UrlButton("Rules", "https://t.me/rules")]


@pytest.mark.parametrize(("text", "photo", "reason"), [
    ("", False, MessageRefusal.EMPTY),
    ("Only - https://example.com", False, MessageRefusal.EMPTY),
    ("x" * 4097, False, MessageRefusal.TOO_LONG),
    ("x" * (CAPTION_LIMIT + 1), True, MessageRefusal.TOO_LONG),
    ("hi\n" + "\n".join(f"B{i} - https://e.com/{i}" for i in range(MAX_BUTTONS + 1)), False,
     MessageRefusal.TOO_MANY_BUTTONS),
    ("hi\n" + "T" * 65 + " - https://example.com", False, MessageRefusal.BAD_BUTTON),
    ("hi\nGo - https://exa mple", False, None),  # not a button line at all: it is text
])
def test_a_message_that_cannot_be_sent_is_refused(text: str, photo: bool,
                                                  reason: MessageRefusal | None) -> None:
    """Empty, too long (a caption is shorter), too many or malformed buttons: refused."""
    if reason is None:
        assert split_buttons(text, has_photo=photo) == (text, [])
        return
    with pytest.raises(BadMessage) as refused:
        split_buttons(text, has_photo=photo)
    assert refused.value.reason is reason


def test_a_photo_may_come_without_a_caption() -> None:
    """A photo with only buttons is a message; the same without the photo is empty."""
    assert split_buttons("Go - https://example.com", has_photo=True) == (
        "", [UrlButton("Go", "https://example.com")])


def test_progress_and_resuming() -> None:
    """Left is what is not final; a broadcast is resumable while someone is left and not done."""
    progress = Progress(total=10, sent=5, failed=1, blocked=1, unconfirmed=1)
    assert progress.left == 2
    assert can_resume(BroadcastStatus.STOPPED, progress)
    assert can_resume(BroadcastStatus.SENDING, progress)
    assert not can_resume(BroadcastStatus.DONE, progress)
    assert not can_resume(BroadcastStatus.STOPPED, Progress(total=3, sent=3))
