"""Promo code rules: parsing /promo_add, the price after a discount, who may redeem, when."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.domain import promo as rules
from models.domain.promo import (
    ArgumentProblem,
    BadPromoArguments,
    Held,
    Offer,
    Promo,
    PromoKind,
    RedeemRefusal,
    RedeemRefused,
    RedemptionStatus,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TEN = Decimal("10.00")
PERCENT_20 = Offer(kind=PromoKind.PERCENT, percent_off=Decimal("20.00"))
TWO_FIFTY = Offer(kind=PromoKind.AMOUNT, amount_off=Decimal("2.50"))
GIFT_7 = Offer(kind=PromoKind.GIFT, gift_days=7)


def promo(offer: Offer = PERCENT_20, **values: object) -> Promo:
    return Promo(code="SPRING", offer=offer, **values)  # type: ignore[arg-type]


# Parsing /promo_add --------------------------------------------------------------------------

def test_a_full_command_parses_into_its_parts() -> None:
    """Every option is read: code upper-cased, offer, uses, last day, plans in order, new_only."""
    spec = rules.parse_promo_add("spring 20% uses=5 until=2026-12-31 plans=year,month,year "
                                 "new_only", now=NOW)
    assert spec == rules.PromoSpec(code="SPRING", offer=PERCENT_20, max_uses=5,
                                   until=date(2026, 12, 31), plans=("year", "month"),
                                   new_only=True)
    assert spec.ends_at == datetime(2027, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("word", "offer"), [
    ("20%", PERCENT_20), ("12.5%", Offer(kind=PromoKind.PERCENT, percent_off=Decimal("12.50"))),
    ("2.50usd", TWO_FIFTY), ("2.5USD", TWO_FIFTY),
    ("7d", GIFT_7), ("3650d", Offer(kind=PromoKind.GIFT, gift_days=3650)),
])
def test_the_three_kinds_of_offer(word: str, offer: Offer) -> None:
    """A percent, a USD amount and a number of days are the three offers."""
    assert rules.parse_offer(word) == offer


@pytest.mark.parametrize(("args", "problem", "word"), [
    (None, ArgumentProblem.MISSING, ""),
    ("SPRING", ArgumentProblem.MISSING, "SPRING"),
    ("S 20%", ArgumentProblem.CODE, "S"),
    ("SPRÍNG 20%", ArgumentProblem.CODE, "SPRÍNG"),
    ("A" * 33 + " 20%", ArgumentProblem.CODE, "A" * 33),
    ("SPRING 0%", ArgumentProblem.OFFER, "0%"),
    ("SPRING 100%", ArgumentProblem.OFFER, "100%"),
    ("SPRING 20.555%", ArgumentProblem.OFFER, "20.555%"),
    ("SPRING 0usd", ArgumentProblem.OFFER, "0usd"),
    ("SPRING 0d", ArgumentProblem.OFFER, "0d"),
    ("SPRING 3651d", ArgumentProblem.OFFER, "3651d"),
    ("SPRING 20", ArgumentProblem.OFFER, "20"),
    ("SPRING 20% uses=0", ArgumentProblem.USES, "0"),
    ("SPRING 20% uses=x", ArgumentProblem.USES, "x"),
    ("SPRING 20% until=31.12.2026", ArgumentProblem.UNTIL, "31.12.2026"),
    ("SPRING 20% until=2026-02-30", ArgumentProblem.UNTIL, "2026-02-30"),
    ("SPRING 20% until=2026-11-30", ArgumentProblem.UNTIL_PAST, "2026-11-30"),
    ("SPRING 20% plans=month,", ArgumentProblem.PLANS, "month,"),
    ("SPRING 7d plans=month", ArgumentProblem.PLANS_ON_GIFT, "month"),
    ("SPRING 20% uses=1 uses=2", ArgumentProblem.REPEATED, "uses=2"),
    ("SPRING 20% limit=3", ArgumentProblem.UNKNOWN, "limit=3"),
    ("SPRING 20% new", ArgumentProblem.UNKNOWN, "new"),
])
def test_a_bad_argument_is_named(args: str | None, problem: ArgumentProblem, word: str) -> None:
    """Each argument that does not fit is refused with its own reason and the word itself."""
    with pytest.raises(BadPromoArguments) as refused:
        rules.parse_promo_add(args, now=NOW)
    assert (refused.value.reason, refused.value.word) == (problem, word)


def test_today_is_a_valid_last_day() -> None:
    """until= is inclusive: today (UTC) is accepted, and the code ends at tomorrow's midnight."""
    spec = rules.parse_promo_add("SPRING 20% until=2026-12-01", now=NOW)
    assert spec.ends_at == datetime(2026, 12, 2, tzinfo=UTC)
    assert rules.last_valid_day(spec.ends_at) == date(2026, 12, 1)


def test_unknown_plans_are_found() -> None:
    """A plan name that is not on sale is reported, so a typo creates no dead code."""
    spec = rules.parse_promo_add("SPRING 20% plans=month,yaer", now=NOW)
    assert rules.unknown_plans(spec, plans_on_sale=frozenset({"month", "year"})) == ["yaer"]


# Prices ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("price", "offer", "after"), [
    (TEN, PERCENT_20, Decimal("8.00")),
    (Decimal("9.99"), Offer(kind=PromoKind.PERCENT, percent_off=Decimal("33.33")),
     Decimal("6.66")),  # 6.660333 → 6.66
    (Decimal("0.05"), Offer(kind=PromoKind.PERCENT, percent_off=Decimal("50")),
     Decimal("0.03")),  # 0.025 → half-up 0.03
    (TEN, TWO_FIFTY, Decimal("7.50")),
    (Decimal("2.00"), TWO_FIFTY, rules.MIN_PRICE),
    (TEN, GIFT_7, TEN),
])
def test_discounted_price(price: Decimal, offer: Offer, after: Decimal) -> None:
    """The price after a discount is rounded half-up to the cent, never below one cent."""
    assert rules.discounted_price(price, offer) == after


cents = st.integers(min_value=1, max_value=10**8).map(lambda c: Decimal(c).scaleb(-2))
percents = st.integers(min_value=1, max_value=9999).map(lambda bp: Decimal(bp).scaleb(-2))


@given(price=cents, pct=percents)
def test_a_percent_discount_is_exact_to_the_cent(price: Decimal, pct: Decimal) -> None:
    """For every price and percent the result is whole cents, within half a cent of the exact
    value (or the floor), and never more than the price."""
    after = rules.discounted_price(price, Offer(kind=PromoKind.PERCENT, percent_off=pct))
    exact = price * (100 - pct) / 100
    assert after == after.quantize(Decimal("0.01"))
    assert after == rules.MIN_PRICE or abs(after - exact) <= Decimal("0.005")
    assert rules.MIN_PRICE <= after <= price


@given(price=cents, amount=cents)
def test_a_fixed_discount_takes_the_amount_off(price: Decimal, amount: Decimal) -> None:
    """A fixed discount takes exactly its amount off, down to one cent at most."""
    after = rules.discounted_price(price, Offer(kind=PromoKind.AMOUNT, amount_off=amount))
    assert after == max(price - amount, rules.MIN_PRICE)


def test_an_unrounded_price_is_refused() -> None:
    """Prices are stored amounts: one not in whole cents is a caller's bug."""
    with pytest.raises(ValueError, match="whole cents"):
        rules.discounted_price(Decimal("9.999"), PERCENT_20)


def test_an_offer_needs_its_own_value_only() -> None:
    """An offer carrying another kind's value (or none) cannot be built."""
    with pytest.raises(ValueError, match="exactly its own value"):
        Offer(kind=PromoKind.PERCENT, percent_off=Decimal(10), gift_days=3)
    with pytest.raises(ValueError, match="exactly its own value"):
        Offer(kind=PromoKind.GIFT)


# Redeeming -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "has_paid", "previous", "reason"), [
    (None, False, None, RedeemRefusal.UNKNOWN),
    (promo(deleted=True), False, None, RedeemRefusal.UNKNOWN),
    (promo(), False, RedemptionStatus.USED, RedeemRefusal.ALREADY_USED),
    (promo(active=False), False, None, RedeemRefusal.PAUSED),
    (promo(ends_at=NOW), False, None, RedeemRefusal.EXPIRED),
    (promo(new_only=True), True, None, RedeemRefusal.NEW_ONLY),
])
def test_who_may_not_redeem(code: Promo | None, has_paid: bool,
                            previous: RedemptionStatus | None, reason: RedeemRefusal) -> None:
    """Unknown, deleted, already used, paused, past its last day, not new: each its reason."""
    with pytest.raises(RedeemRefused) as refused:
        rules.check_redeem(code, now=NOW, has_paid=has_paid, previous=previous)
    assert refused.value.reason is reason


@pytest.mark.parametrize("previous", [None, RedemptionStatus.RESERVED,
                                      RedemptionStatus.RELEASED])
def test_who_may_redeem(previous: RedemptionStatus | None) -> None:
    """A new user, one holding the reservation, or one whose reservation lapsed may redeem."""
    rules.check_redeem(promo(new_only=True, ends_at=NOW + timedelta(seconds=1)), now=NOW,
                       has_paid=False, previous=previous)


def test_room_under_the_limit() -> None:
    """Uses taken (reserved or used) count against the limit; no limit means always room."""
    assert rules.has_room(uses=4, max_uses=5)
    assert not rules.has_room(uses=5, max_uses=5)
    assert rules.has_room(uses=10**6, max_uses=None)


# At checkout -------------------------------------------------------------------------------

def held(redemption_id: int, code: Promo, *, ago: timedelta = timedelta(0)) -> Held:
    return Held(redemption_id=redemption_id, promo=code, reserved_at=NOW - ago)


def test_a_discount_applies_to_its_plans_only() -> None:
    """A code naming plans discounts those, a code naming none discounts all, a gift none."""
    only_year = promo(plans=frozenset({"year"}))
    assert rules.applies_to_plan(only_year, "year")
    assert not rules.applies_to_plan(only_year, "month")
    assert rules.applies_to_plan(promo(), "month")
    assert not rules.applies_to_plan(promo(GIFT_7), "month")


@pytest.mark.parametrize(("code", "ago", "has_paid"), [
    (promo(active=False), timedelta(0), False),
    (promo(deleted=True), timedelta(0), False),
    (promo(ends_at=NOW), timedelta(0), False),
    (promo(), rules.RESERVATION_HOLD, False),
    (promo(new_only=True), timedelta(0), True),
])
def test_when_a_held_discount_stops_applying(code: Promo, ago: timedelta,
                                             has_paid: bool) -> None:
    """Paused, deleted, past its last day, a reservation past its hold, a new-only code after
    a payment: the next invoice is at the full price."""
    assert rules.best_discount([held(1, code, ago=ago)], plan_code="month", price=TEN, now=NOW,
                               has_paid=has_paid) is None


def test_the_best_held_discount_wins() -> None:
    """Holding several codes, the invoice carries the one that leaves the lowest price."""
    best = rules.best_discount(
        [held(1, promo(TWO_FIFTY)),
         held(2, promo(Offer(kind=PromoKind.PERCENT, percent_off=Decimal(30)))),
         held(3, promo(Offer(kind=PromoKind.PERCENT, percent_off=Decimal(50)),
                       plans=frozenset({"year"})))],
        plan_code="month", price=TEN, now=NOW, has_paid=False)
    assert best is not None
    assert (best.held.redemption_id, best.price) == (2, Decimal("7.00"))


def test_equal_discounts_pick_the_oldest() -> None:
    """Two discounts leaving the same price: the older redemption is used."""
    best = rules.best_discount([held(7, promo()), held(3, promo())], plan_code="month",
                               price=TEN, now=NOW, has_paid=False)
    assert best is not None and best.held.redemption_id == 3


def test_codes_are_normalised() -> None:
    """Codes are case-insensitive (stored upper case) and only of the deep-link alphabet."""
    assert rules.normalize_code(" spring-26_x ") == "SPRING-26_X"
    for bad in ("ab", "with space", "ß" * 4, "a" * 33, "semi;colon"):
        with pytest.raises(ValueError, match="not a promo code"):
            rules.normalize_code(bad)


def test_naive_times_are_refused() -> None:
    """The rules take aware UTC times only."""
    with pytest.raises(ValueError, match="timezone-aware"):
        rules.check_redeem(promo(), now=datetime(2026, 12, 1), has_paid=False,  # noqa: DTZ001
                           previous=None)
