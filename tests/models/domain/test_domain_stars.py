"""Tests for models.domain.stars and the Stars price in PLANS: value, checkout, refund rules."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.domain.access import Access, AccessStatus, status_at
from models.domain.plans import PlanSpec, StoredPlan, catalog_changes, parse_plans
from models.domain.stars import (
    CheckoutRefusal,
    InvoiceFacts,
    checkout_refusal,
    payment_seal,
    seal_holds,
    take_back,
    value_usd,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_a_stars_price_after_a_slash_sells_the_plan_for_stars() -> None:
    """`price_usd/stars` adds a Stars price; without it the plan is sold in USD only."""
    assert parse_plans("month:30:10.00/500:1 month,year:365:100") == (
        PlanSpec(code="month", days=30, price_usd=Decimal("10.00"), title="1 month",
                 price_stars=500),
        PlanSpec(code="year", days=365, price_usd=Decimal("100.00"), title="365 days"),
    )


@pytest.mark.parametrize("stars", ["0", "10001", "1.5", "", "-3", "x"])
def test_a_bad_stars_price_is_one_precise_line(stars: str) -> None:
    """A Stars price outside 1-10000 whole Stars stops start-up naming the entry."""
    with pytest.raises(ValueError) as error:
        parse_plans(f"month:30:10/{stars}")
    assert str(error.value) == (
        f"entry 'month:30:10/{stars}': the Stars price after '/' must be a whole number of "
        f"Stars from 1 to 10000, got {stars!r}")


def test_a_changed_stars_price_is_a_catalogue_change() -> None:
    """The catalogue check sees a Stars price added, changed or removed."""
    spec = PlanSpec(code="m", days=30, price_usd=Decimal("10.00"), title="t", price_stars=500)
    stored = StoredPlan(code="m", days=30, price_usd=Decimal("10.00"), title="t", active=True,
                        chats=frozenset({-1}), price_stars=None)
    assert catalog_changes([stored], (spec,), -1) == ["plan 'm': price_stars None -> 500"]
    assert catalog_changes([], (spec,), -1) == ["plan 'm': new (30 days, $10.00 or 500 Stars, 't')"]


@pytest.mark.parametrize(("stars", "rate", "usd"), [
    (500, "0.013", "6.50"), (1, "0.013", "0.01"), (1, "0.001", "0.01"), (3, "0.005", "0.02"),
    (10000, "0.013", "130.00"),
])
def test_stars_are_valued_at_the_rate_to_the_cent(stars: int, rate: str, usd: str) -> None:
    """The ledger value is stars × rate, rounded half-up to the cent, never below a cent."""
    assert value_usd(stars=stars, usd_per_star=Decimal(rate)) == Decimal(usd)


def facts(**changes: object) -> InvoiceFacts:
    values: dict[str, object] = {"user_id": 7, "method": "stars", "status": "created",
                                 "amount_stars": 500, "expires_at": NOW + DAY,
                                 "plan_on_sale": True}
    values.update(changes)
    return InvoiceFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("invoice", "payer", "currency", "amount", "refusal"), [
    (facts(), 7, "XTR", 500, None),
    (None, 7, "XTR", 500, CheckoutRefusal.UNKNOWN_INVOICE),
    (facts(method="cryptocloud"), 7, "XTR", 500, CheckoutRefusal.UNKNOWN_INVOICE),
    (facts(), 8, "XTR", 500, CheckoutRefusal.NOT_YOURS),
    (facts(status="paid"), 7, "XTR", 500, CheckoutRefusal.NOT_OPEN),
    (facts(expires_at=NOW), 7, "XTR", 500, CheckoutRefusal.EXPIRED),
    (facts(plan_on_sale=False), 7, "XTR", 500, CheckoutRefusal.PLAN_GONE),
    (facts(), 7, "XTR", 499, CheckoutRefusal.PRICE_CHANGED),
    (facts(), 7, "USD", 500, CheckoutRefusal.PRICE_CHANGED),
])
def test_checkout_is_charged_only_when_it_can_be_honoured(
    invoice: InvoiceFacts | None, payer: int, currency: str, amount: int,
    refusal: CheckoutRefusal | None,
) -> None:
    """Only an open, unexpired Stars invoice of the payer, on sale, at its exact price, is ok."""
    assert checkout_refusal(invoice, payer_id=payer, currency=currency, total_amount=amount,
                            now=NOW) is refusal


def test_a_refund_moves_the_end_back_by_the_days_paid() -> None:
    """40 days left, a 30-day payment refunded: 10 days left, still active."""
    after = take_back(Access(paid_through=NOW + 40 * DAY, is_trial=False, removed_at=None),
                      days=30, now=NOW)
    assert after.paid_through == NOW + 10 * DAY
    assert status_at(after, now=NOW) is AccessStatus.ACTIVE


@given(left=st.integers(min_value=0, max_value=30 * 24 * 60))
def test_a_refund_that_leaves_no_time_removes_now(left: int) -> None:
    """Whatever was left up to the payment's 30 days: removed now, no grace."""
    after = take_back(Access(paid_through=NOW + timedelta(minutes=left), is_trial=False,
                             removed_at=None), days=30, now=NOW)
    assert (after.paid_through, after.removed_at) == (NOW, NOW)
    assert status_at(after, now=NOW, grace=timedelta(days=3)) is AccessStatus.REMOVED


def test_the_seal_covers_every_field_and_the_key() -> None:
    """A seal holds for the fields and key it was made with; any change breaks it."""
    fields = {"user_id": 7, "charge_id": "stx1", "payload": "xtr_7", "currency": "XTR",
              "total_amount": 500}
    seal = payment_seal(key=b"k", **fields)  # type: ignore[arg-type]
    assert seal_holds(seal, key=b"k", **fields)  # type: ignore[arg-type]
    assert not seal_holds(seal, key=b"other", **fields)  # type: ignore[arg-type]
    assert not seal_holds(None, key=b"k", **fields)  # type: ignore[arg-type]
    for name, changed in (("user_id", 8), ("charge_id", "stx2"), ("payload", "xtr_8"),
                          ("currency", "USD"), ("total_amount", 1)):
        assert not seal_holds(seal, key=b"k", **{**fields, name: changed})  # type: ignore[arg-type]
