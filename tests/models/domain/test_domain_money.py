"""Tests for models.domain.money: the rounding boundary, commissions and payment assessment."""

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.domain.money import (
    PaymentKind,
    assess_payment,
    commission,
    require_money,
    surplus_days,
    to_money,
)

# Stored amounts: whole cents, written with two decimals as the database returns them.
cents = st.integers(min_value=0, max_value=10**10).map(lambda c: Decimal(c).scaleb(-2))
positive_cents = st.integers(min_value=1, max_value=10**10).map(lambda c: Decimal(c).scaleb(-2))
percents = st.decimals(min_value=0, max_value=100, places=2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.005", "0.01"),
        ("0.004", "0.00"),
        ("2.675", "2.68"),
        ("-2.675", "-2.68"),
        ("-0.004", "0.00"),
        ("1.0049999", "1.00"),
        (" 3.1 ", "3.10"),
        ("10", "10.00"),
        (5, "5.00"),
        (Decimal("1.235"), "1.24"),
        (Decimal("1E+3"), "1000.00"),
    ],
)
def test_to_money_rounds_half_up_to_the_cent(value: Decimal | int | str, expected: str) -> None:
    """to_money rounds half-up to exactly two decimals, with no negative zero."""
    assert str(to_money(value)) == expected


@pytest.mark.parametrize("value", [0.1, 2.675, 1.0, True, None, [1]])
def test_to_money_rejects_floats_and_other_types(value: object) -> None:
    """to_money refuses floats, bools and non-numbers with TypeError."""
    with pytest.raises(TypeError):
        to_money(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value", ["NaN", "sNaN", "inf", "-Infinity", "", "abc", "1,00", Decimal("NaN"), "1e30"]
)
def test_to_money_rejects_non_amounts(value: Decimal | str) -> None:
    """to_money refuses NaN, infinities, garbage and amounts too big to hold to the cent."""
    with pytest.raises(ValueError, match=r"amount|finite"):
        to_money(value)


@given(st.decimals(min_value=-(10**12), max_value=10**12, allow_nan=False, places=6))
def test_to_money_is_idempotent_and_within_half_a_cent(value: Decimal) -> None:
    """Rounding moves an amount by at most half a cent and rounding again changes nothing."""
    rounded = to_money(value)
    assert abs(rounded - value) <= Decimal("0.005")
    assert to_money(rounded) == rounded
    assert rounded.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("value", "message"),
    [(Decimal("1.001"), "whole cents"), (Decimal("Infinity"), "whole cents")],
)
def test_require_money_refuses_unrounded_amounts(value: Decimal, message: str) -> None:
    """A stored-amount parameter refuses a value that was never rounded, instead of rounding it."""
    with pytest.raises(ValueError, match=message):
        require_money(value, name="x")


@pytest.mark.parametrize(
    ("amount", "pct", "expected"),
    [
        ("10.00", 10, "1.00"),
        ("10.00", Decimal("12.5"), "1.25"),
        ("9.99", 15, "1.50"),  # 1.4985 rounds half-up once, not 1.49 after two roundings
        ("0.05", 10, "0.01"),  # 0.005 is the half cent
        ("0.04", 10, "0.00"),
        ("100.00", 0, "0.00"),
        ("100.00", 100, "100.00"),
        ("0.00", 50, "0.00"),
    ],
)
def test_commission_is_pct_of_amount_paid_rounded_once(
    amount: str, pct: Decimal | int, expected: str
) -> None:
    """commission takes pct percent of the amount paid and rounds the product half-up once."""
    assert str(commission(amount_paid_usd=Decimal(amount), pct=pct)) == expected


@pytest.mark.parametrize(
    ("amount", "pct", "error"),
    [
        (Decimal("10.00"), 101, ValueError),
        (Decimal("10.00"), -1, ValueError),
        (Decimal("10.00"), Decimal("NaN"), ValueError),
        (Decimal("10.00"), 10.0, TypeError),
        (Decimal("-1.00"), 10, ValueError),
        (Decimal("10.001"), 10, ValueError),
        (10.0, 10, TypeError),
    ],
)
def test_commission_rejects_bad_inputs(amount: Decimal, pct: Decimal | int, error: type) -> None:
    """commission refuses percentages outside 0-100, floats and unrounded or negative amounts."""
    with pytest.raises(error):
        commission(amount_paid_usd=amount, pct=pct)


@given(amount=cents, pct=percents)
def test_commission_lies_between_zero_and_the_amount(amount: Decimal, pct: Decimal) -> None:
    """A commission is never negative and never more than what was paid."""
    assert Decimal(0) <= commission(amount_paid_usd=amount, pct=pct) <= amount


@pytest.mark.parametrize(
    ("expected", "paid", "kind", "remainder", "surplus"),
    [
        ("10.00", "10.00", PaymentKind.EXACT, "0.00", "0.00"),
        ("10.00", "10", PaymentKind.EXACT, "0.00", "0.00"),
        ("10.00", "9.99", PaymentKind.PARTIAL, "0.01", "0.00"),
        ("10.00", "0.00", PaymentKind.PARTIAL, "10.00", "0.00"),
        ("10.00", "10.01", PaymentKind.OVER, "0.00", "0.01"),
        ("10.00", "25.50", PaymentKind.OVER, "0.00", "15.50"),
    ],
)
def test_assess_payment_table(
    expected: str, paid: str, kind: PaymentKind, remainder: str, surplus: str
) -> None:
    """assess_payment says exact, partial (with what is owed) or over (with what is extra)."""
    result = assess_payment(expected_usd=Decimal(expected), paid_usd=Decimal(paid))
    assert (result.kind, result.remainder_usd, result.surplus_usd) == (
        kind,
        Decimal(remainder),
        Decimal(surplus),
    )


@pytest.mark.parametrize(
    ("expected", "paid"),
    [("0.00", "1.00"), ("-1.00", "1.00"), ("10.00", "-0.01"), ("10.00", "9.999")],
)
def test_assess_payment_rejects_bad_amounts(expected: str, paid: str) -> None:
    """assess_payment refuses a non-positive price, a negative or an unrounded payment."""
    with pytest.raises(ValueError):
        assess_payment(expected_usd=Decimal(expected), paid_usd=Decimal(paid))


@given(expected=positive_cents, paid=cents)
def test_assess_payment_balances(expected: Decimal, paid: Decimal) -> None:
    """paid - expected == surplus - remainder, and only one of them is non-zero unless exact."""
    result = assess_payment(expected_usd=expected, paid_usd=paid)
    assert paid - expected == result.surplus_usd - result.remainder_usd
    assert result.surplus_usd >= 0
    assert result.remainder_usd >= 0
    nonzero = [x for x in (result.remainder_usd, result.surplus_usd) if x]
    assert len(nonzero) == (0 if result.kind is PaymentKind.EXACT else 1)
    assert (result.kind is PaymentKind.EXACT) == (paid == expected)


@pytest.mark.parametrize(
    ("surplus", "price", "days", "expected"),
    [
        ("0.00", "10.00", 30, 0),
        ("0.01", "10.00", 30, 0),  # a crypto rounding overpayment buys nothing
        ("0.33", "10.00", 30, 0),  # 0.99 of a day
        ("0.34", "10.00", 30, 1),  # 1.02 days
        ("3.33", "10.00", 30, 9),  # 9.99 days, floored
        ("5.00", "10.00", 30, 15),
        ("10.00", "10.00", 30, 30),
        ("250.00", "100.00", 365, 912),
    ],
)
def test_surplus_days_are_pro_rata_and_floored(
    surplus: str, price: str, days: int, expected: int
) -> None:
    """An overpayment buys the plan's days pro rata, floored to whole days."""
    assert (
        surplus_days(surplus_usd=Decimal(surplus), plan_price_usd=Decimal(price), plan_days=days)
        == expected
    )


@pytest.mark.parametrize(
    ("surplus", "price", "days"),
    [("-0.01", "10.00", 30), ("1.00", "0.00", 30), ("1.00", "10.00", 0), ("0.001", "10.00", 30)],
)
def test_surplus_days_rejects_bad_inputs(surplus: str, price: str, days: int) -> None:
    """surplus_days refuses a negative surplus, a free plan, a zero-day plan or unrounded money."""
    with pytest.raises(ValueError):
        surplus_days(surplus_usd=Decimal(surplus), plan_price_usd=Decimal(price), plan_days=days)


@given(surplus=cents, price=positive_cents, days=st.integers(min_value=1, max_value=3650))
def test_surplus_days_is_the_floor_of_the_exact_ratio(
    surplus: Decimal, price: Decimal, days: int
) -> None:
    """The days credited are the largest whole number not above surplus / price * days."""
    credited = surplus_days(surplus_usd=surplus, plan_price_usd=price, plan_days=days)
    assert credited * price <= surplus * days < (credited + 1) * price


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: commission(amount_paid_usd=Decimal("1.001"), pct=10), ValueError,
         "^amount_paid_usd must be whole cents"),
        (lambda: commission(amount_paid_usd=Decimal("-1.00"), pct=10), ValueError,
         "^amount_paid_usd must not be negative, got -1.00"),
        (lambda: commission(amount_paid_usd=Decimal("1.00"), pct=True), TypeError,
         "^pct must be a Decimal or int, got bool"),
        (lambda: commission(amount_paid_usd=Decimal("1.00"), pct=12.5),  # type: ignore[arg-type]
         TypeError,
         "^pct must be a Decimal or int, got float"),
        (lambda: commission(amount_paid_usd=Decimal("1.00"), pct=101), ValueError,
         "^pct must be between 0 and 100, got 101"),
        (lambda: surplus_days(surplus_usd=Decimal("0.001"), plan_price_usd=Decimal("10.00"),
                              plan_days=30), ValueError, "^surplus_usd must be whole cents"),
        (lambda: surplus_days(surplus_usd=Decimal("1.00"), plan_price_usd=Decimal("10.001"),
                              plan_days=30), ValueError, "^plan_price_usd must be whole cents"),
        (lambda: surplus_days(surplus_usd=Decimal("1.00"), plan_price_usd=Decimal("10.00"),
                              plan_days=0), ValueError, "^plan_days must be at least 1"),
        (lambda: surplus_days(surplus_usd=Decimal("-1.00"), plan_price_usd=Decimal("10.00"),
                              plan_days=30), ValueError, "^surplus_usd must not be negative"),
        (lambda: surplus_days(surplus_usd=Decimal("1.00"), plan_price_usd=Decimal("0.00"),
                              plan_days=30), ValueError, "^plan_price_usd must be positive"),
        (lambda: to_money(1.1), TypeError,  # type: ignore[arg-type]
         r"^money must be a Decimal, int or str, got float \(a float has already lost"),
        (lambda: require_money(1, name="fee"), TypeError,  # type: ignore[arg-type]
         "^fee must be a Decimal, got int$"),
        (lambda: assess_payment(expected_usd=Decimal("1.001"), paid_usd=Decimal("1.00")),
         ValueError, "^expected_usd must be whole cents"),
        (lambda: assess_payment(expected_usd=Decimal("1.00"), paid_usd=Decimal("1.001")),
         ValueError, "^paid_usd must be whole cents"),
        (lambda: assess_payment(expected_usd=Decimal("0.00"), paid_usd=Decimal("1.00")),
         ValueError, "^expected_usd must be positive, got 0.00"),
        (lambda: assess_payment(expected_usd=Decimal("1.00"), paid_usd=Decimal("-1.00")),
         ValueError, "^paid_usd must not be negative, got -1.00"),
    ],
    ids=["commission-cents", "commission-negative", "pct-bool", "pct-float", "pct-range",
         "surplus-cents", "price-cents", "plan_days", "surplus-negative", "price-zero",
         "to_money-float", "require_money-int", "expected-cents", "paid-cents",
         "expected-zero", "paid-negative"],
)
def test_bad_amounts_are_refused_by_name(
    call: Callable[[], object], error: type[Exception], message: str
) -> None:
    """Bad money input is refused with an error naming the argument and the rule it breaks
    (a bool is never a percentage, though Python counts it as an int)."""
    with pytest.raises(error, match=message):
        call()
