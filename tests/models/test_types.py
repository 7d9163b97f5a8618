"""Column types: UTCDateTime keeps instants aware and UTC, Money and Percent keep cents exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from models.schema import Invoice, Plan, Referrer, User
from models.types import Money, Percent, UTCDateTime

MOSCOW = timezone(timedelta(hours=3))
_DIALECT = sqlite.dialect()


def _seed_user_and_plan(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        session.add(User(id=1))
        session.add(Plan(id=1, code="month", title="Month", days=30, price_usd=Decimal("10")))


def test_utc_datetime_refuses_naive_values() -> None:
    """A naive datetime names no instant, so binding one raises ValueError."""
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2030, 1, 1), _DIALECT)  # noqa: DTZ001


def test_utc_datetime_treats_naive_results_as_utc() -> None:
    """SQLite hands back naive values; they are read as the UTC they were stored in."""
    value = UTCDateTime().process_result_value(datetime(2030, 1, 1, 12), _DIALECT)  # noqa: DTZ001
    assert value == datetime(2030, 1, 1, 12, tzinfo=UTC)
    assert value is not None and value.tzinfo is UTC


def test_utc_datetime_round_trips_as_aware_utc(session_factory: sessionmaker[Session]) -> None:
    """A datetime in any zone is stored as its UTC instant and read back aware, in UTC."""
    moment = datetime(2030, 6, 1, 15, 30, 45, 123456, tzinfo=MOSCOW)
    with session_factory.begin() as session:
        session.add(User(id=1, created_at=moment))

    with session_factory() as session:
        stored = session.get_one(User, 1).created_at

    assert stored == moment
    assert stored.tzinfo is UTC
    assert stored.hour == 12


def test_utc_datetime_compares_instants_in_sql(session_factory: sessionmaker[Session]) -> None:
    """SQL comparisons order instants, whatever zone the bound value was written in."""
    with session_factory.begin() as session:
        session.add(User(id=1, created_at=datetime(2030, 1, 1, 12, tzinfo=UTC)))

    just_before = datetime(2030, 1, 1, 14, 59, tzinfo=MOSCOW)  # 11:59 UTC
    with session_factory() as session:
        later = session.scalars(select(User.id).where(User.created_at > just_before)).all()
    assert later == [1]


def test_naive_datetime_is_refused_on_write(session_factory: sessionmaker[Session]) -> None:
    """Writing a naive datetime fails before it reaches the database."""
    with session_factory() as session, pytest.raises(StatementError) as raised:
        session.add(User(id=1, created_at=datetime(2030, 1, 1)))  # noqa: DTZ001
        session.flush()
    assert isinstance(raised.value.orig, ValueError)


@pytest.mark.parametrize(
    ("value", "cents"),
    [(Decimal("12.34"), 1234), (Decimal("5"), 500), (7, 700), (Decimal("0.10"), 10)],
)
def test_money_binds_integer_cents(value: Decimal | int, cents: int) -> None:
    """Amounts are stored as whole cents."""
    assert Money().process_bind_param(value, _DIALECT) == cents


@pytest.mark.parametrize("value", [Decimal("1.005"), Decimal("0.001")])
def test_money_refuses_sub_cent_values(value: Decimal) -> None:
    """An amount with a third decimal would be rounded silently, so it is refused."""
    with pytest.raises(ValueError, match="2 decimals"):
        Money().process_bind_param(value, _DIALECT)


@pytest.mark.parametrize("value", [1.5, "1.50", True])
def test_money_refuses_non_decimals(value: object) -> None:
    """Floats, strings and booleans are not amounts."""
    with pytest.raises(TypeError):
        Money().process_bind_param(value, _DIALECT)


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity")])
def test_money_refuses_non_finite_values(value: Decimal) -> None:
    """NaN and infinities are not amounts."""
    with pytest.raises(ValueError, match="refuses"):
        Money().process_bind_param(value, _DIALECT)


def test_money_round_trips_exact_decimals(session_factory: sessionmaker[Session]) -> None:
    """Amounts read back as the same Decimal with two places, and SQL sums them exactly."""
    _seed_user_and_plan(session_factory)
    amounts = [Decimal("0.10"), Decimal("0.20"), Decimal("92233720368547.75")]
    with session_factory.begin() as session:
        for number, amount in enumerate(amounts):
            session.add(Invoice(order_id=f"o-{number}", user_id=1, plan_id=1, amount_usd=amount))

    with session_factory() as session:
        stored = session.scalars(select(Invoice.amount_usd).order_by(Invoice.id)).all()
        total = session.scalar(select(func.sum(Invoice.amount_usd)))
        price = session.get_one(Plan, 1).price_usd

    assert stored == amounts
    assert [str(amount) for amount in stored] == ["0.10", "0.20", "92233720368547.75"]
    assert total == Decimal("92233720368548.05")
    assert str(price) == "10.00"


def test_percent_round_trips_two_decimals(session_factory: sessionmaker[Session]) -> None:
    """A commission rate such as 12.5 % reads back as Decimal("12.50")."""
    with session_factory.begin() as session:
        session.add(User(id=1))
        session.flush()
        session.add(Referrer(user_id=1, pct=Decimal("12.5")))

    with session_factory() as session:
        pct = session.get_one(Referrer, 1).pct
    assert pct == Decimal("12.5")
    assert str(pct) == "12.50"
    assert Percent().process_bind_param(Decimal("12.5"), _DIALECT) == 1250
