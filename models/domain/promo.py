"""Promo and gift codes: what a code is, who may redeem it, and the price it leaves.

A code is a percent or a fixed USD discount on some plans (all plans when none are named), or
a gift of N days of paid access. Limits: total uses, a last valid day (inclusive, UTC), new
subscribers only (users who never paid). The database counts uses under a lock; these rules
say what the counts mean. Every function takes `now`; nothing here reads a clock.

When a discount use counts: a use is *reserved* when the code is redeemed (the database takes
it with a conditional update, so racing redeemers never pass the limit) and confirmed by the
payment of an invoice that carries it. A reservation that no payment confirmed gives its use
back once RESERVATION_HOLD has passed and no invoice carrying it can still be paid (open, or
canceled less than the late-payment window ago): an abandoned invoice never burns a use for
ever, and money that can still arrive always finds its use kept.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from models.domain._guards import require_aware, require_whole
from models.domain.money import CENT, require_money, to_money
from models.domain.plans import MAX_PLAN_DAYS
from models.domain.refusals import Refusal

# Letters, digits, _ and -: what a Telegram deep link (`/start promo_<CODE>`) can carry.
CODE_PATTERN = re.compile(r"[A-Z0-9_-]{3,32}")
# How long a redeemed discount waits for a checkout before its use may go back to the pool.
RESERVATION_HOLD = timedelta(hours=48)
# A discount never takes a price below one cent: an invoice must be for something (a free
# period is a gift code).
MIN_PRICE = CENT
MAX_USES = 1_000_000
MAX_AMOUNT_OFF = Decimal("100000.00")

_PERCENT = re.compile(r"([0-9]{1,2}(?:\.[0-9]{1,2})?)%")
_AMOUNT = re.compile(r"([0-9]{1,6}(?:\.[0-9]{1,2})?)usd")
_DAYS = re.compile(r"([0-9]{1,5})d")
_USES = re.compile(r"[0-9]{1,7}")
_PLAN_CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class PromoKind(StrEnum):
    """What a code gives; values are stored in the database."""

    PERCENT = "percent"
    AMOUNT = "amount"
    GIFT = "gift"


class RedemptionStatus(StrEnum):
    """Where one user's redemption of one code stands; values are stored in the database."""

    RESERVED = "reserved"  # a discount waiting for its payment (holds a use)
    USED = "used"  # paid with the discount, or the gift granted
    RELEASED = "released"  # a reservation that lapsed unpaid; its use went back


@dataclass(frozen=True, kw_only=True, slots=True)
class Offer:
    """The benefit of a code: exactly one of `percent_off`, `amount_off`, `gift_days`."""

    kind: PromoKind
    percent_off: Decimal | None = None
    amount_off: Decimal | None = None
    gift_days: int | None = None

    def __post_init__(self) -> None:
        if self.kind is PromoKind.PERCENT:
            ok = (self.percent_off is not None and 0 < self.percent_off < 100
                  and self.amount_off is None and self.gift_days is None)
        elif self.kind is PromoKind.AMOUNT:
            ok = (self.amount_off is not None and self.amount_off > 0
                  and self.percent_off is None and self.gift_days is None)
            if ok and self.amount_off is not None:
                require_money(self.amount_off, name="amount_off")
        else:
            ok = (self.gift_days is not None and self.percent_off is None
                  and self.amount_off is None)
            if ok and self.gift_days is not None:
                require_whole(self.gift_days, name="gift_days", minimum=1)
        if not ok:
            raise ValueError(f"an offer of kind {self.kind} needs exactly its own value: {self}")

    @property
    def is_gift(self) -> bool:
        return self.kind is PromoKind.GIFT


@dataclass(frozen=True, kw_only=True, slots=True)
class Promo:
    """A code as the rules see it: its offer, its limits and its state."""

    code: str
    offer: Offer
    max_uses: int | None = None
    uses: int = 0
    # The first moment the code is no longer valid (the day after the last valid day, 00:00 UTC).
    ends_at: datetime | None = None
    # Plan codes it discounts; None: every plan. (Gifts name no plans.)
    plans: frozenset[str] | None = None
    new_only: bool = False
    active: bool = True
    deleted: bool = False

    def __post_init__(self) -> None:
        if self.ends_at is not None:
            require_aware(self.ends_at, name="ends_at")


# Admin arguments --------------------------------------------------------------------------


class ArgumentProblem(StrEnum):
    """Which part of `/promo_add` is wrong (infra/texts.py says what is expected)."""

    MISSING = "missing"
    CODE = "code"
    OFFER = "offer"
    USES = "uses"
    UNTIL = "until"
    UNTIL_PAST = "until_past"
    PLANS = "plans"
    PLANS_ON_GIFT = "plans_on_gift"
    REPEATED = "repeated"
    UNKNOWN = "unknown"


class BadPromoArguments(Refusal[ArgumentProblem]):
    """`/promo_add` arguments that do not fit; `word` is the offending argument."""

    def __init__(self, reason: ArgumentProblem, word: str) -> None:
        super().__init__(reason, f"{reason.value}: {word!r}")
        self.word = word


@dataclass(frozen=True, kw_only=True, slots=True)
class PromoSpec:
    """A new code as an admin asked for it, checked."""

    code: str
    offer: Offer
    max_uses: int | None
    until: date | None
    plans: tuple[str, ...] | None
    new_only: bool

    @property
    def ends_at(self) -> datetime | None:
        return ends_at(self.until)


def normalize_code(raw: str) -> str:
    """The stored spelling of a code (upper case), or ValueError if it cannot be a code."""
    code = raw.strip()
    # ASCII first: "ß".upper() is "SS", which would sneak a non-code past the pattern.
    code = code.upper() if code.isascii() else code
    if not CODE_PATTERN.fullmatch(code):
        raise ValueError(f"not a promo code (3-32 letters, digits, _ or -): {raw!r}")
    return code


def ends_at(until: date | None) -> datetime | None:
    """The first invalid moment of a code valid through `until` (inclusive, UTC)."""
    if until is None:
        return None
    return datetime(until.year, until.month, until.day, tzinfo=UTC) + timedelta(days=1)


def last_valid_day(ends: datetime | None) -> date | None:
    """The inverse of `ends_at`: the last day a code is valid."""
    return None if ends is None else (ends.astimezone(UTC) - timedelta(days=1)).date()


def parse_offer(word: str) -> Offer:
    """`20%`, `2.50usd` or `7d`; ValueError otherwise."""
    lowered = word.lower()
    if match := _PERCENT.fullmatch(lowered):
        pct = Decimal(match.group(1))
        if 0 < pct < 100:
            return Offer(kind=PromoKind.PERCENT, percent_off=pct.quantize(CENT))
    elif match := _AMOUNT.fullmatch(lowered):
        amount = Decimal(match.group(1)).quantize(CENT)
        if 0 < amount <= MAX_AMOUNT_OFF:
            return Offer(kind=PromoKind.AMOUNT, amount_off=amount)
    elif match := _DAYS.fullmatch(lowered):
        days = int(match.group(1))
        if 1 <= days <= MAX_PLAN_DAYS:
            return Offer(kind=PromoKind.GIFT, gift_days=days)
    raise ValueError(word)


def _parse_date(word: str) -> date:
    if not _DATE.fullmatch(word):
        raise ValueError(word)
    return date.fromisoformat(word)


def _options(words: list[str]) -> dict[str, str]:
    """`key=value` options (and the flag new_only), each known and given once."""
    options: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        key = key.lower()
        if (key, sep) == ("new_only", ""):
            value = "yes"
        elif not sep or key not in ("uses", "until", "plans"):
            raise BadPromoArguments(ArgumentProblem.UNKNOWN, word)
        if key in options:
            raise BadPromoArguments(ArgumentProblem.REPEATED, word)
        options[key] = value
    return options


def _uses(word: str | None) -> int | None:
    if word is None:
        return None
    if not _USES.fullmatch(word) or not 1 <= int(word) <= MAX_USES:
        raise BadPromoArguments(ArgumentProblem.USES, word)
    return int(word)


def _until(word: str | None, *, now: datetime) -> date | None:
    if word is None:
        return None
    try:
        until = _parse_date(word)
    except ValueError:
        raise BadPromoArguments(ArgumentProblem.UNTIL, word) from None
    if until < now.astimezone(UTC).date():
        raise BadPromoArguments(ArgumentProblem.UNTIL_PAST, word)
    return until


def _plans(word: str | None, *, offer: Offer) -> tuple[str, ...] | None:
    if word is None:
        return None
    names = word.split(",")
    if not all(_PLAN_CODE.fullmatch(name) for name in names):
        raise BadPromoArguments(ArgumentProblem.PLANS, word)
    if offer.is_gift:
        raise BadPromoArguments(ArgumentProblem.PLANS_ON_GIFT, word)
    return tuple(dict.fromkeys(names))  # in the admin's order, once each


def parse_promo_add(args: str | None, *, now: datetime) -> PromoSpec:
    """Parse `<CODE> <pct>%|<amount>usd|<days>d [uses=<n>] [until=YYYY-MM-DD] [plans=a,b]
    [new_only]`, or raise BadPromoArguments naming the first argument that does not fit."""
    require_aware(now, name="now")
    words = (args or "").split()
    if len(words) < 2:
        raise BadPromoArguments(ArgumentProblem.MISSING, " ".join(words))
    try:
        code = normalize_code(words[0])
    except ValueError:
        raise BadPromoArguments(ArgumentProblem.CODE, words[0]) from None
    try:
        offer = parse_offer(words[1])
    except (ValueError, InvalidOperation):
        raise BadPromoArguments(ArgumentProblem.OFFER, words[1]) from None
    options = _options(words[2:])
    return PromoSpec(code=code, offer=offer, max_uses=_uses(options.get("uses")),
                     until=_until(options.get("until"), now=now),
                     plans=_plans(options.get("plans"), offer=offer),
                     new_only="new_only" in options)


def unknown_plans(spec: PromoSpec, *, plans_on_sale: frozenset[str]) -> list[str]:
    """The plan codes `spec` names that are not on sale (a typo must not create a dead code)."""
    return [name for name in spec.plans or () if name not in plans_on_sale]


# Redemption -------------------------------------------------------------------------------


class RedeemRefusal(StrEnum):
    """Why a user cannot redeem a code (each has its own message in infra/texts.py)."""

    UNKNOWN = "unknown"
    PAUSED = "paused"
    EXPIRED = "expired"
    USED_UP = "used_up"
    NEW_ONLY = "new_only"
    ALREADY_USED = "already_used"


class RedeemRefused(Refusal[RedeemRefusal]):
    """A code rule said no to this user."""


def has_room(*, uses: int, max_uses: int | None) -> bool:
    """Whether one more use fits under the limit (reserved and used uses both count)."""
    return max_uses is None or uses < max_uses


def is_valid(promo: Promo, *, now: datetime) -> bool:
    """Whether the code is on: not deleted, not paused, its last day not past."""
    require_aware(now, name="now")
    return (not promo.deleted and promo.active
            and (promo.ends_at is None or now < promo.ends_at))


def check_redeem(promo: Promo | None, *, now: datetime, has_paid: bool,
                 previous: RedemptionStatus | None) -> None:
    """Raise RedeemRefused unless this user may redeem `promo` now.

    `previous` is this user's earlier redemption of the code: a used one is final (once per
    user), a reservation still held is not refused (redeeming twice is harmless, the caller
    keeps the first), a released one may be redeemed again. The use limit is checked by the
    caller's conditional update, not here: only the database sees racing redeemers.
    """
    require_aware(now, name="now")
    if promo is None or promo.deleted:
        raise RedeemRefused(RedeemRefusal.UNKNOWN, "no such code")
    if previous is RedemptionStatus.USED:
        raise RedeemRefused(RedeemRefusal.ALREADY_USED, f"{promo.code} was already used")
    if not promo.active:
        raise RedeemRefused(RedeemRefusal.PAUSED, f"{promo.code} is paused")
    if promo.ends_at is not None and now >= promo.ends_at:
        raise RedeemRefused(RedeemRefusal.EXPIRED, f"{promo.code} ended {promo.ends_at}")
    if promo.new_only and has_paid:
        raise RedeemRefused(RedeemRefusal.NEW_ONLY, f"{promo.code} is for new subscribers")


def applies_to_plan(promo: Promo, plan_code: str) -> bool:
    """Whether the code discounts this plan (a gift discounts nothing)."""
    return not promo.offer.is_gift and (promo.plans is None or plan_code in promo.plans)


def reservation_live(*, reserved_at: datetime, now: datetime) -> bool:
    """Whether a reservation still applies to new checkouts."""
    return now < require_aware(reserved_at, name="reserved_at") + RESERVATION_HOLD


def discount_at_checkout(promo: Promo, *, plan_code: str, reserved_at: datetime,
                         now: datetime, has_paid: bool) -> bool:
    """Whether a reserved discount goes on an invoice for `plan_code` opened now.

    The code must still be on (a paused, deleted or ended code stops at once: that is how an
    admin stops a leaked code), the reservation still held, the plan one it discounts, and a
    new-subscribers code still before the user's first payment.
    """
    return (is_valid(promo, now=now) and reservation_live(reserved_at=reserved_at, now=now)
            and applies_to_plan(promo, plan_code) and not (promo.new_only and has_paid))


def discounted_price(price: Decimal, offer: Offer) -> Decimal:
    """The price after the discount, rounded half-up to the cent once, never below MIN_PRICE.

    Percent: price × (100 − pct) / 100, then rounded; fixed: price − amount (both whole cents,
    so exact). A gift is not a discount: the price stays.
    """
    require_money(price, name="price")
    if price <= 0:
        raise ValueError(f"price must be positive, got {price}")
    if offer.kind is PromoKind.PERCENT:
        assert offer.percent_off is not None
        # Multiply before dividing: price * (100 - pct) is exact, / 100 only shifts.
        after = to_money(price * (100 - offer.percent_off) / 100)
    elif offer.kind is PromoKind.AMOUNT:
        assert offer.amount_off is not None
        after = price - offer.amount_off
    else:
        return price
    return max(after, MIN_PRICE)


@dataclass(frozen=True, kw_only=True, slots=True)
class Held:
    """A discount a user holds: their redemption, its code, when it was reserved."""

    redemption_id: int
    promo: Promo
    reserved_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class PricedDiscount:
    """The discount an invoice for a plan would carry now, and the price it leaves."""

    held: Held
    price: Decimal


def best_discount(held: Iterable[Held], *, plan_code: str, price: Decimal, now: datetime,
                  has_paid: bool) -> PricedDiscount | None:
    """The held discount that leaves the lowest price for this plan (the oldest on a tie),
    or None: the full price. The plan menu and the checkout both ask this, so the price shown
    is the price invoiced."""
    best: PricedDiscount | None = None
    for item in sorted(held, key=lambda item: item.redemption_id):
        if not discount_at_checkout(item.promo, plan_code=plan_code,
                                    reserved_at=item.reserved_at, now=now, has_paid=has_paid):
            continue
        after = discounted_price(price, item.promo.offer)
        if best is None or after < best.price:
            best = PricedDiscount(held=item, price=after)
    return best
