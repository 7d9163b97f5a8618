"""The membership audit's rule: what one person's actual standing in a chat says about our records.

Bots cannot list a channel's members, so the engine trusts its own records, and they drift (a
member added by hand, a missed join, a failed kick). The audit asks Telegram about each person
we know of and compares: this module says what a difference is called and whether `/audit fix`
may act on it. Every function takes `now`; nothing here reads a clock or talks to Telegram.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from models.domain.access import Access, AccessStatus, status_at


class Actual(StrEnum):
    """A person's standing as Telegram reported it; stored in the findings."""

    CREATOR = "creator"
    ADMINISTRATOR = "administrator"
    MEMBER = "member"
    LEFT = "left"
    KICKED = "kicked"
    # getChatMember answered 400 for this person ("member not found", "user not found",
    # PARTICIPANT_ID_INVALID; telegram.md §3): not a member, as far as anyone can tell.
    NOT_FOUND = "not_found"
    # Telegram refused the question for another reason: we do not know, so we never act.
    ERROR = "error"


class Finding(StrEnum):
    """What is wrong (or notable) about one person in one chat; stored in the findings."""

    MEMBER_WITHOUT_ACCESS = "member_without_access"
    PAYER_NOT_IN_CHAT = "payer_not_in_chat"
    BANNED_WHILE_COVERED = "banned_while_covered"
    ADMIN = "admin"
    UNCHECKED = "unchecked"


class FixAction(StrEnum):
    """What `/audit fix` does about a finding."""

    REMOVE = "remove"
    INVITE = "invite"  # after lifting the ban, for someone banned while covered
    NOTHING = "nothing"


_RUNNING = frozenset({AccessStatus.TRIALING, AccessStatus.ACTIVE})
# Statuses under which a member may be in the chat: the sweep has not finished with them yet.
_MAY_STAY = _RUNNING | {AccessStatus.GRACE}
_IN_CHAT = frozenset({Actual.MEMBER})
_OUT_OF_CHAT = frozenset({Actual.LEFT, Actual.NOT_FOUND})
_STAFF_STATUSES = frozenset({Actual.CREATOR, Actual.ADMINISTRATOR})

FIX_ACTIONS = {
    Finding.MEMBER_WITHOUT_ACCESS: FixAction.REMOVE,
    Finding.PAYER_NOT_IN_CHAT: FixAction.INVITE,
    Finding.BANNED_WHILE_COVERED: FixAction.INVITE,
    Finding.ADMIN: FixAction.NOTHING,
    Finding.UNCHECKED: FixAction.NOTHING,
}


def actual_of(status: str) -> Actual:
    """Telegram's status word (`infra.telegram.member_status`) as an `Actual`.

    A restricted user arrives as "member" or "left" already; "unknown" (Telegram would not say
    who this is) is "not found".
    """
    if status == "unknown":
        return Actual.NOT_FOUND
    return Actual(status)


def classify(actual: Actual, access: Access | None, *, now: datetime,
             grace: timedelta = timedelta(0), staff: bool = False) -> Finding | None:
    """The finding for a person standing `actual` in a chat where our record is `access`.

    None means the records agree. Creators and administrators are reported as admins and never
    acted on; so are configured admins (`staff`) who are plain members, whom the sweep never
    removes either. A member in grace may stay (the sweep removes them when grace ends), so only
    members with nothing covering them are "without access"; only running access (trial or
    paid, not grace) makes someone out of the chat a payer who should be let back in.
    """
    status = status_at(access, now=now, grace=grace)
    if actual is Actual.ERROR:
        return Finding.UNCHECKED
    if actual in _STAFF_STATUSES or (staff and actual in _IN_CHAT):
        return Finding.ADMIN
    if actual in _IN_CHAT:
        return None if status in _MAY_STAY else Finding.MEMBER_WITHOUT_ACCESS
    if status not in _RUNNING:
        return None
    if actual is Actual.KICKED:
        return Finding.BANNED_WHILE_COVERED
    assert actual in _OUT_OF_CHAT
    return Finding.PAYER_NOT_IN_CHAT


def fix_action(finding: Finding) -> FixAction:
    """What `/audit fix` does about `finding` (before it re-checks the person's access now)."""
    return FIX_ACTIONS[finding]


def still_wanted(action: FixAction, access: Access | None, *, now: datetime,
                 grace: timedelta = timedelta(0)) -> bool:
    """Whether the fix is still right at `now`: a payment since the audit cancels a removal,
    and an access that ran out since cancels an invite."""
    status = status_at(access, now=now, grace=grace)
    if action is FixAction.REMOVE:
        return status not in _MAY_STAY
    if action is FixAction.INVITE:
        return status in _RUNNING
    return False
