"""Argument guards shared by the domain modules.

A caller's mistake (a naive datetime, a negative day count) fails loudly at the boundary with a
`ValueError` or `TypeError` rather than turning into a wrong expiry date later.
"""

from datetime import datetime, timedelta


def require_aware(value: datetime, *, name: str) -> datetime:
    """Return `value` if it carries a UTC offset, else raise ValueError."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value


def require_whole(value: int, *, name: str, minimum: int) -> int:
    """Return `value` if it is an int (not a bool) of at least `minimum`, else raise."""
    # bool is an int subclass; `days=True` is always a bug, never "one day".
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def require_non_negative_span(value: timedelta, *, name: str) -> timedelta:
    """Return `value` if it is a timedelta of zero or more, else raise."""
    if not isinstance(value, timedelta):
        raise TypeError(f"{name} must be a timedelta, got {type(value).__name__}")
    if value < timedelta(0):
        raise ValueError(f"{name} must not be negative, got {value}")
    return value
