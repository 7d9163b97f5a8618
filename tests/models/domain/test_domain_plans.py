"""Tests for models.domain.plans: parsing the operator's PLANS setting."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.domain.plans import PlanSpec, StoredPlan, catalog_changes, parse_plans


def plan(code: str, days: int, price: str, title: str) -> PlanSpec:
    """Build the PlanSpec a test expects."""
    return PlanSpec(code=code, days=days, price_usd=Decimal(price), title=title)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "month:30:10.00:1 month,year:365:100:1 year",
            (plan("month", 30, "10.00", "1 month"), plan("year", 365, "100.00", "1 year")),
        ),
        ("week:7:2.5", (plan("week", 7, "2.50", "7 days"),)),
        ("day:1:0.99", (plan("day", 1, "0.99", "1 day"),)),
        ("m_1-x:3650:10.000", (plan("m_1-x", 3650, "10.00", "3650 days"),)),
        ("vip:30:50:VIP: all access", (plan("vip", 30, "50.00", "VIP: all access"),)),
        ("m:30:10:", (plan("m", 30, "10.00", "30 days"),)),  # an empty title is the default
        (" month : 30 : 10 : Monthly ", (plan("month", 30, "10.00", "Monthly"),)),
        ("b:2:2,a:1:1", (plan("b", 2, "2.00", "2 days"), plan("a", 1, "1.00", "1 day"))),
    ],
)
def test_parse_plans_accepts(text: str, expected: tuple[PlanSpec, ...]) -> None:
    """Good PLANS settings parse to plans in the order given, prices held to the cent."""
    parsed = parse_plans(text)
    assert parsed == expected
    assert [str(p.price_usd) for p in parsed] == [str(p.price_usd) for p in expected]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no plans given: expected code:days:price_usd[:title], comma-separated"),
        ("  ", "no plans given: expected code:days:price_usd[:title], comma-separated"),
        ("month:30:10,", "entry #2 is empty: remove the stray comma"),
        (",month:30:10", "entry #1 is empty: remove the stray comma"),
        ("month:30", "entry 'month:30': expected code:days:price_usd[:title], got 2 field(s)"),
        ("month", "entry 'month': expected code:days:price_usd[:title], got 1 field(s)"),
        ("month:x:10", "entry 'month:x:10': days must be a whole number, got 'x'"),
        ("month:30.5:10", "entry 'month:30.5:10': days must be a whole number, got '30.5'"),
        ("month:-1:10", "entry 'month:-1:10': days must be a whole number, got '-1'"),
        ("month:٣٠:10", "entry 'month:٣٠:10': days must be a whole number, got '٣٠'"),
        ("month:0:10", "entry 'month:0:10': days must be 1 to 3650, got 0"),
        ("month:3651:10", "entry 'month:3651:10': days must be 1 to 3650, got 3651"),
        (
            "Month:30:10",
            "entry 'Month:30:10': code must be 1-32 characters of a-z 0-9 _ -, got 'Month'",
        ),
        (":30:10", "entry ':30:10': code must be 1-32 characters of a-z 0-9 _ -, got ''"),
        (
            "a" * 33 + ":30:10",
            f"entry '{'a' * 33}:30:10': code must be 1-32 characters of a-z 0-9 _ -,"
            f" got '{'a' * 33}'",
        ),
        ("month:30:abc", "entry 'month:30:abc': price_usd must be a number like 10.00, got 'abc'"),
        ("month:30:", "entry 'month:30:': price_usd must be a number like 10.00, got ''"),
        ("month:30:1e2", "entry 'month:30:1e2': price_usd must be a number like 10.00, got '1e2'"),
        ("month:30:$10", "entry 'month:30:$10': price_usd must be a number like 10.00, got '$10'"),
        ("month:30:NaN", "entry 'month:30:NaN': price_usd must be a number like 10.00, got 'NaN'"),
        ("month:30:0", "entry 'month:30:0': price_usd must be above 0, got '0'"),
        ("month:30:0.00", "entry 'month:30:0.00': price_usd must be above 0, got '0.00'"),
        (
            "month:30:9.999",
            "entry 'month:30:9.999': price_usd must have at most 2 decimals, got '9.999'",
        ),
        (
            "month:30:10,month:31:11",
            "entry 'month:31:11': duplicate code 'month', codes must be unique",
        ),
    ],
)
def test_parse_plans_rejects_with_one_precise_line(text: str, message: str) -> None:
    """A bad PLANS setting raises ValueError naming the bad entry and what is wrong with it."""
    with pytest.raises(ValueError) as error:
        parse_plans(text)
    assert str(error.value) == message


codes = st.from_regex(r"[a-z0-9_-]{1,32}", fullmatch=True)
specs = st.builds(
    PlanSpec,
    code=codes,
    days=st.integers(min_value=1, max_value=3650),
    price_usd=st.integers(min_value=1, max_value=10**8).map(lambda c: Decimal(c).scaleb(-2)),
    title=st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters=",", exclude_categories=["C"]),
        min_size=1,
        max_size=40,
    ).filter(lambda t: t.strip() == t),
)


@given(st.lists(specs, min_size=1, max_size=6, unique_by=lambda p: p.code))
def test_parse_plans_round_trips(plans: list[PlanSpec]) -> None:
    """Writing plans in the setting format and parsing them back gives the same plans."""
    text = ",".join(f"{p.code}:{p.days}:{p.price_usd}:{p.title}" for p in plans)
    assert parse_plans(text) == tuple(plans)


def stored(spec: PlanSpec, *, active: bool = True, chats: frozenset[int] = frozenset({-1})
           ) -> StoredPlan:
    return StoredPlan(code=spec.code, days=spec.days, price_usd=spec.price_usd,
                      title=spec.title, active=active, chats=chats)


@given(st.lists(specs, min_size=1, max_size=6, unique_by=lambda p: p.code))
def test_a_catalogue_that_says_what_the_settings_say_has_no_changes(
        plans: list[PlanSpec]) -> None:
    """Stored exactly as wanted, on sale, granting the channel: nothing to do."""
    assert catalog_changes([stored(p) for p in plans], tuple(plans), -1) == []


def test_each_difference_is_one_line() -> None:
    """A dropped plan, one back on sale, a moved channel: each said on its own line."""
    month = PlanSpec(code="month", days=30, price_usd=Decimal("10.00"), title="1 month")
    year = PlanSpec(code="year", days=365, price_usd=Decimal("99.00"), title="1 year")
    lines = catalog_changes([stored(month, active=False, chats=frozenset({-2})), stored(year)],
                            (month,), -1)
    assert lines == ["plan 'month': back on sale", "plan 'month': grants chat -1 (was -2)",
                     "plan 'year': off sale (not in PLANS)"]
    assert catalog_changes([stored(year, active=False)], (month,), -1) == [
        "plan 'month': new (30 days, $10.00, '1 month')"]
