"""Column types that make time and money exact on every backend.

- `UTCDateTime`: aware UTC datetimes in, aware UTC datetimes out. Naive values are refused on
  write, because a naive value has no defined instant.
- `Money` / `Percent`: a `Decimal` with at most two decimals, stored as an integer number of
  hundredths (cents, basis points). Integers are exact and sum in SQL on SQLite and PostgreSQL
  alike, and SQLite never sees a `Numeric` (which it would store as a float, with a warning).

CHECK constraints on these columns are written in storage units (cents, basis points).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["Money", "Percent", "UTCDateTime"]

_HUNDRED = Decimal(100)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always an aware UTC datetime in Python."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime expects a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime refused (no time zone): {value!r}")
        # Converting to UTC keeps SQLite's text timestamps comparable as strings.
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # SQLite drops the offset on the way in; everything stored there is UTC already.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class _Hundredths(TypeDecorator[Decimal]):
    """A Decimal with at most two decimals, stored as an integer count of hundredths."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        # bool is an int subclass and float is inexact: neither is an amount.
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise TypeError(f"{type(self).__name__} expects a Decimal, got {type(value).__name__}")
        if isinstance(value, Decimal) and not value.is_finite():
            raise ValueError(f"{type(self).__name__} refuses {value!r}")
        hundredths = Decimal(value) * _HUNDRED
        if hundredths != hundredths.to_integral_value():
            raise ValueError(f"{type(self).__name__} keeps at most 2 decimals, got {value}")
        return int(hundredths)

    def process_result_value(self, value: int | None, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        # scaleb keeps the exponent at -2, so 5 dollars reads back as Decimal("5.00").
        return Decimal(int(value)).scaleb(-2)


class Money(_Hundredths):
    """An amount of money (USD) with cent precision, stored as integer cents."""

    cache_ok = True


class Percent(_Hundredths):
    """A percentage with two decimals (12.50 %), stored as integer basis points."""

    cache_ok = True
