"""Money: the one place where amounts are rounded, and the arithmetic of payments.

The rounding rule: amounts are exact `Decimal`s everywhere (never `float`) and are rounded
half-up (`ROUND_HALF_UP`) to the cent exactly once, by `to_money`, when a computed or received
amount becomes a stored amount. Every other function here takes stored amounts (already whole
cents, see `require_money`) and either computes exactly or rounds through `to_money` once.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from models.domain._guards import require_whole

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def to_money(value: Decimal | int | str) -> Decimal:
    """Quantize `value` to the cent, half-up: the single rounding boundary.

    Raises TypeError for floats (already inexact) and other types, ValueError for NaN,
    infinities, unparsable strings and amounts too large to hold to the cent.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(
            f"money must be a Decimal, int or str, got {type(value).__name__}"
            " (a float has already lost the exact amount)"
        )
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not an amount of money: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"money must be finite, got {value!r}")
    try:
        rounded = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise ValueError(f"amount too large to hold to the cent: {value!r}") from None
    # abs() turns a rounded-away negative ("-0.001" -> "-0.00") into a plain 0.00.
    return abs(rounded) if rounded.is_zero() else rounded


def require_money(value: Decimal, *, name: str) -> Decimal:
    """Return `value` if it is a stored amount (a finite Decimal of whole cents), else raise.

    Functions taking stored amounts refuse unrounded ones instead of rounding them silently,
    so an amount is never rounded twice.
    """
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite() or to_money(value) != value:
        raise ValueError(f"{name} must be whole cents (pass it through to_money), got {value}")
    return value


def commission(*, amount_paid_usd: Decimal, pct: Decimal | int) -> Decimal:
    """Return the referral commission: `pct` percent of the amount actually paid, rounded once."""
    require_money(amount_paid_usd, name="amount_paid_usd")
    if amount_paid_usd < 0:
        raise ValueError(f"amount_paid_usd must not be negative, got {amount_paid_usd}")
    if isinstance(pct, bool) or not isinstance(pct, Decimal | int):
        raise TypeError(f"pct must be a Decimal or int, got {type(pct).__name__}")
    if not Decimal(pct).is_finite() or not 0 <= pct <= 100:
        raise ValueError(f"pct must be between 0 and 100, got {pct}")
    # Multiply before dividing: amount * pct is exact, and / 100 only shifts the exponent.
    return to_money(amount_paid_usd * pct / 100)


class PaymentKind(StrEnum):
    """How a received amount compares with the invoiced one."""

    EXACT = "exact"
    PARTIAL = "partial"
    OVER = "over"


@dataclass(frozen=True, kw_only=True, slots=True)
class PaymentAssessment:
    """The verdict on a payment: what is still owed, or what was paid on top."""

    kind: PaymentKind
    remainder_usd: Decimal
    surplus_usd: Decimal


def assess_payment(*, expected_usd: Decimal, paid_usd: Decimal) -> PaymentAssessment:
    """Compare the amount paid with the amount expected (both stored amounts)."""
    require_money(expected_usd, name="expected_usd")
    require_money(paid_usd, name="paid_usd")
    if expected_usd <= 0:
        raise ValueError(f"expected_usd must be positive, got {expected_usd}")
    if paid_usd < 0:
        raise ValueError(f"paid_usd must not be negative, got {paid_usd}")
    if paid_usd < expected_usd:
        return PaymentAssessment(
            kind=PaymentKind.PARTIAL, remainder_usd=expected_usd - paid_usd, surplus_usd=ZERO
        )
    if paid_usd > expected_usd:
        return PaymentAssessment(
            kind=PaymentKind.OVER, remainder_usd=ZERO, surplus_usd=paid_usd - expected_usd
        )
    return PaymentAssessment(kind=PaymentKind.EXACT, remainder_usd=ZERO, surplus_usd=ZERO)


def surplus_days(*, surplus_usd: Decimal, plan_price_usd: Decimal, plan_days: int) -> int:
    """Return the whole extra days an overpayment buys, pro rata to the plan, floored.

    An overpayment is credited as time, not as a balance: there is nothing to reconcile or
    refund later, and the subscriber sees it in /myplan. Flooring means the tiny overpayments
    that crypto rounding produces buy 0 days rather than a fraction nobody can use.
    """
    require_money(surplus_usd, name="surplus_usd")
    require_money(plan_price_usd, name="plan_price_usd")
    require_whole(plan_days, name="plan_days", minimum=1)
    if surplus_usd < 0:
        raise ValueError(f"surplus_usd must not be negative, got {surplus_usd}")
    if plan_price_usd <= 0:
        raise ValueError(f"plan_price_usd must be positive, got {plan_price_usd}")
    # Multiply first so the division is the only inexact step, and // floors non-negatives.
    return int((surplus_usd * plan_days) // plan_price_usd)
