"""Who a broadcast reaches, and what it says: segments, their rules, and the message's buttons.

A segment is defined here on the access lifecycle's own statuses (`access.status_at`), so a
subscriber is "active" in a broadcast exactly when /myplan tells them they are. The database
version of these rules (models/segments.py) is checked against `is_member` row by row in the
tests. A user who blocked the bot (or whose account is gone) is in no segment: Telegram would
refuse the message anyway, and asking again costs budget others need.

The message an admin writes may end with button lines, `Title - https://url`; `split_buttons`
takes them off the text. Nothing here reads a clock or imports a framework.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from models.domain._guards import require_aware, require_non_negative_span, require_whole
from models.domain.access import Access, AccessStatus, status_at
from models.domain.refusals import Refusal

_DAY = timedelta(days=1)
MAX_EXPIRING_DAYS = 365


class Segment(StrEnum):
    """A broadcast's audience; values are stored with the broadcast."""

    ALL = "all"
    ACTIVE = "active"
    TRIALING = "trialing"
    EXPIRED = "expired"
    NEVER_PAID = "never_paid"
    EXPIRING = "expiring"  # running (paid or trial) and ending within `days`
    REFERRED = "referred"


# The statuses each status-based segment takes. "Expired" is everyone whose time is over:
# in grace (still in the channel, but no longer paid for), expired, or removed by an admin.
SEGMENT_STATUSES: dict[Segment, frozenset[AccessStatus]] = {
    Segment.ACTIVE: frozenset({AccessStatus.ACTIVE}),
    Segment.TRIALING: frozenset({AccessStatus.TRIALING}),
    Segment.EXPIRED: frozenset({AccessStatus.GRACE, AccessStatus.EXPIRED,
                                AccessStatus.REMOVED}),
    Segment.EXPIRING: frozenset({AccessStatus.ACTIVE, AccessStatus.TRIALING}),
}


class AudienceRefusal(StrEnum):
    DAYS_MISSING = "days_missing"
    DAYS_OUT_OF_RANGE = "days_out_of_range"
    DAYS_UNEXPECTED = "days_unexpected"


class BadAudience(Refusal[AudienceRefusal]):
    """The segment and its day count do not fit together."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Audience:
    """A segment, with the day count "expiring within N days" needs (and only it)."""

    segment: Segment
    days: int | None = None

    def __post_init__(self) -> None:
        if self.segment is Segment.EXPIRING:
            if self.days is None:
                raise BadAudience(AudienceRefusal.DAYS_MISSING, "expiring needs a day count")
            require_whole(self.days, name="days", minimum=0)
            if not 1 <= self.days <= MAX_EXPIRING_DAYS:
                raise BadAudience(AudienceRefusal.DAYS_OUT_OF_RANGE,
                                  f"days must be 1 to {MAX_EXPIRING_DAYS}")
        elif self.days is not None:
            raise BadAudience(AudienceRefusal.DAYS_UNEXPECTED,
                              f"{self.segment.value} takes no day count")


@dataclass(frozen=True, kw_only=True, slots=True)
class Person:
    """What segment rules look at: the access to the channel, payments, referral, blocking."""

    access: Access | None
    has_paid: bool  # an invoice of theirs was ever activated
    referred: bool  # someone brought them (users.referred_by_id)
    blocked: bool  # Telegram said they cannot be messaged (users.blocked_bot_at)


def is_member(audience: Audience, person: Person, *, now: datetime,  # noqa: PLR0911
              grace: timedelta) -> bool:
    """Whether `person` is in `audience` at `now` (grace as the sweep and /myplan use it)."""
    require_aware(now, name="now")
    require_non_negative_span(grace, name="grace")
    if person.blocked:
        return False
    segment = audience.segment
    if segment is Segment.ALL:
        return True
    if segment is Segment.NEVER_PAID:
        return not person.has_paid
    if segment is Segment.REFERRED:
        return person.referred
    if status_at(person.access, now=now, grace=grace) not in SEGMENT_STATUSES[segment]:
        return False
    if segment is Segment.EXPIRING:
        assert person.access is not None and person.access.paid_through is not None
        assert audience.days is not None
        return person.access.paid_through <= expiring_cutoff(audience.days, now=now)
    return True


# The message ------------------------------------------------------------------------------

TEXT_LIMIT = 4096  # Telegram's limit for a message's text
CAPTION_LIMIT = 1024  # and for a photo's caption
MAX_BUTTONS = 8
BUTTON_TITLE_LIMIT = 64
URL_LIMIT = 2048
_BUTTON_LINE = re.compile(r"(?P<title>\S.*?)\s+[-–—]\s+(?P<url>https?://\S+)")
_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?#]\S*)?")


@dataclass(frozen=True, slots=True)
class UrlButton:
    title: str
    url: str


class MessageRefusal(StrEnum):
    EMPTY = "empty"
    TOO_LONG = "too_long"
    TOO_MANY_BUTTONS = "too_many_buttons"
    BAD_BUTTON = "bad_button"


class BadMessage(Refusal[MessageRefusal]):
    """The broadcast message cannot be sent as written."""


def split_buttons(text: str, *, has_photo: bool) -> tuple[str, list[UrlButton]]:
    """The message body and the URL buttons its last lines (`Title - https://url`) describe.

    Only trailing lines are buttons: a line of that shape in the middle of the text is text.
    Raises BadMessage when nothing is left to send, when the body exceeds Telegram's limit
    (a photo's caption is shorter), or when the buttons are too many or malformed.
    """
    lines = text.strip().splitlines()
    buttons: list[UrlButton] = []
    while lines and (match := _BUTTON_LINE.fullmatch(lines[-1].strip())):
        title, url = match["title"].strip(), match["url"]
        if len(title) > BUTTON_TITLE_LIMIT or len(url) > URL_LIMIT or not _URL.fullmatch(url):
            raise BadMessage(MessageRefusal.BAD_BUTTON, f"button {title!r}: bad title or URL")
        buttons.insert(0, UrlButton(title, url))
        lines.pop()
    body = "\n".join(lines).strip()
    if not body and not has_photo:
        raise BadMessage(MessageRefusal.EMPTY, "the message has no text")
    limit = CAPTION_LIMIT if has_photo else TEXT_LIMIT
    # Telegram counts UTF-16 code units.
    if len(body.encode("utf-16-le")) // 2 > limit:
        raise BadMessage(MessageRefusal.TOO_LONG, f"the text is longer than {limit}")
    if len(buttons) > MAX_BUTTONS:
        raise BadMessage(MessageRefusal.TOO_MANY_BUTTONS, f"at most {MAX_BUTTONS} buttons")
    return body, buttons


# Progress ---------------------------------------------------------------------------------

class RecipientStatus(StrEnum):
    """Where one recipient of a broadcast stands; values are stored per recipient.

    `sending` is the claim a task commits before it calls Telegram. Everything after it is
    final: a claim whose task died (no answer recorded) ends `unconfirmed`, never `pending`
    again, so nobody is sent the message twice (see workers/broadcasts/service.py).
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"
    UNCONFIRMED = "unconfirmed"


FINAL_STATUSES = frozenset({RecipientStatus.SENT, RecipientStatus.FAILED,
                            RecipientStatus.BLOCKED, RecipientStatus.UNCONFIRMED})


class BroadcastStatus(StrEnum):
    SENDING = "sending"
    STOPPED = "stopped"
    DONE = "done"


@dataclass(frozen=True, kw_only=True, slots=True)
class Progress:
    """Counts of a broadcast's recipients by status."""

    total: int
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    unconfirmed: int = 0

    @property
    def left(self) -> int:
        """Recipients not yet in a final state (pending, or being sent right now)."""
        return self.total - self.sent - self.failed - self.blocked - self.unconfirmed


def can_resume(status: BroadcastStatus, progress: Progress) -> bool:
    """A stopped broadcast, or one still "sending" (its tasks may have died), with people left."""
    return status is not BroadcastStatus.DONE and progress.left > 0


def expiring_cutoff(days: int, *, now: datetime) -> datetime:
    """The latest paid-through time "expiring within `days`" takes."""
    require_aware(now, name="now")
    require_whole(days, name="days", minimum=1)
    return now + days * _DAY
