"""The access lifecycle of one subscriber: paid-through time, trial, grace, stacking, removal.

Access is one number, `paid_through`: a subscriber is in the channel while `now` is before it
(plus an optional grace period). Renewals stack on what is left, a trial is once per Telegram
id for ever, and a removal ends access at once. Every function takes `now`; nothing here reads
a clock.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from models.domain._guards import require_aware, require_non_negative_span, require_whole
from models.domain.refusals import Refusal

_DAY = timedelta(days=1)


class AccessStatus(StrEnum):
    """Where a subscriber stands at a given moment; values are stored in the database."""

    NONE = "none"
    TRIALING = "trialing"
    ACTIVE = "active"
    GRACE = "grace"
    EXPIRED = "expired"
    REMOVED = "removed"


_RUNNING = frozenset({AccessStatus.TRIALING, AccessStatus.ACTIVE})
_COVERED = _RUNNING | {AccessStatus.GRACE}


@dataclass(frozen=True, kw_only=True, slots=True)
class Access:
    """A subscriber's access: paid (or trial) time up to `paid_through`, unless removed."""

    paid_through: datetime | None
    is_trial: bool
    removed_at: datetime | None

    def __post_init__(self) -> None:
        if self.paid_through is not None:
            require_aware(self.paid_through, name="paid_through")
        if self.removed_at is not None:
            require_aware(self.removed_at, name="removed_at")


NO_ACCESS = Access(paid_through=None, is_trial=False, removed_at=None)


def extend(access: Access | None, *, days: int, now: datetime) -> Access:
    """Add paid days on top of what is left (or from now if nothing is): renewals stack.

    Paid time ends a trial's trial status and lifts a removal.
    """
    require_whole(days, name="days", minimum=1)
    require_aware(now, name="now")
    current = access or NO_ACCESS
    start = now if current.paid_through is None else max(current.paid_through, now)
    return Access(paid_through=start + days * _DAY, is_trial=False, removed_at=None)


class TrialRefusal(StrEnum):
    """Why a trial cannot start."""

    DISABLED = "disabled"
    ALREADY_USED = "already_used"
    HAS_ACCESS = "has_access"


class TrialUnavailable(Refusal[TrialRefusal]):
    """A trial was asked for but a trial rule says no."""


def _trial_refusal(*, trial_used_at: datetime | None, days: int) -> TrialRefusal | None:
    """Return why the user-level trial rules refuse a trial, or None if they allow it."""
    require_whole(days, name="days", minimum=0)
    if days == 0:
        return TrialRefusal.DISABLED
    if trial_used_at is not None:
        return TrialRefusal.ALREADY_USED
    return None


def can_start_trial(*, trial_used_at: datetime | None, days: int) -> bool:
    """Tell whether the trial is on and this user has never used it.

    `trial_used_at` lives on the user, not on the access: removing a user does not give the
    trial back, only an admin's `resettrial` (which clears it) does.
    """
    return _trial_refusal(trial_used_at=trial_used_at, days=days) is None


def start_trial(
    *, trial_used_at: datetime | None, days: int, now: datetime, current: Access | None
) -> Access:
    """Return a trial access of `days` from now, or raise TrialUnavailable with the reason.

    The caller must set the user's `trial_used_at` to `now` in the same transaction.
    """
    require_aware(now, name="now")
    refusal = _trial_refusal(trial_used_at=trial_used_at, days=days)
    if refusal is TrialRefusal.DISABLED:
        raise TrialUnavailable(refusal, "free trials are turned off")
    if refusal is TrialRefusal.ALREADY_USED:
        raise TrialUnavailable(refusal, "the free trial was already used")
    # A trial on top of time that already covers now would give nothing, or cut it short.
    if status_at(current, now=now) in _RUNNING:
        raise TrialUnavailable(TrialRefusal.HAS_ACCESS, "access is already paid for")
    return Access(paid_through=now + days * _DAY, is_trial=True, removed_at=None)


def set_days(access: Access | None, *, days: int, now: datetime) -> Access:
    """Set access to end `days` from now, whatever was left (an admin's override).

    `days=0` ends paid time now (grace, if any, still applies) and leaves a removal in place;
    any positive number of days lifts a removal.
    """
    require_whole(days, name="days", minimum=0)
    require_aware(now, name="now")
    current = access or NO_ACCESS
    removed_at = current.removed_at if days == 0 else None
    return Access(paid_through=now + days * _DAY, is_trial=False, removed_at=removed_at)


def remove(access: Access | None, *, now: datetime) -> Access:
    """End access immediately and mark it removed (no grace: the subscriber is out now)."""
    require_aware(now, name="now")
    return replace(access or NO_ACCESS, paid_through=now, removed_at=now)


def status_at(
    access: Access | None, *, now: datetime, grace: timedelta = timedelta(0)
) -> AccessStatus:
    """Return the subscriber's status at `now`, with `grace` after paid time runs out."""
    require_aware(now, name="now")
    require_non_negative_span(grace, name="grace")
    if access is None or access.paid_through is None:
        return AccessStatus.NONE
    # extend() and set_days() clear removed_at, so a set one means "not extended since".
    if access.removed_at is not None:
        return AccessStatus.REMOVED
    if now < access.paid_through:
        return AccessStatus.TRIALING if access.is_trial else AccessStatus.ACTIVE
    if now < access.paid_through + grace:
        return AccessStatus.GRACE
    return AccessStatus.EXPIRED


def is_covered(access: Access | None, *, now: datetime, grace: timedelta) -> bool:
    """Tell whether the subscriber may be in the channel at `now` (trialing, active, grace)."""
    return status_at(access, now=now, grace=grace) in _COVERED


def is_due_for_removal(access: Access | None, *, now: datetime, grace: timedelta) -> bool:
    """Tell whether the subscriber had access, lost it and has not been removed yet."""
    # Only "expired" qualifies: "none" was never let in by us, "removed" is already out.
    return status_at(access, now=now, grace=grace) is AccessStatus.EXPIRED


def days_left(access: Access | None, *, now: datetime) -> int:
    """Return the days of access left, a started day counting as a whole one; 0 when over."""
    require_aware(now, name="now")
    if access is None or access.paid_through is None or access.removed_at is not None:
        return 0
    remaining = access.paid_through - now
    if remaining <= timedelta(0):
        return 0
    return -(-remaining // _DAY)  # ceiling division on exact timedeltas


def reminder_due(*, paid_through: datetime, now: datetime, days_before: int) -> bool:
    """Tell whether `now` is in the renewal-reminder window: the last `days_before` days."""
    require_aware(paid_through, name="paid_through")
    require_aware(now, name="now")
    require_whole(days_before, name="days_before", minimum=0)
    return paid_through - days_before * _DAY <= now < paid_through
