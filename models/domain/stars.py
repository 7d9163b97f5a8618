"""Telegram Stars: what a Star is worth in the USD ledger, whether a checkout may be charged,
and what a refund takes back.

Telegram gives Stars no fiat value (reference telegram.md, "One-time Star payments"): the
ledger stays in USD, and a Stars payment is valued at the operator's STARS_USD_RATE, rounded
to the cent once, here. Every function takes `now`; nothing here reads a clock.
"""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from models.domain._guards import require_aware, require_whole
from models.domain.access import NO_ACCESS, Access, remove
from models.domain.money import CENT, to_money

CURRENCY = "XTR"
# Telegram's bounds on one Stars invoice, and on the payload that comes back with the payment.
MAX_STARS = 10000
MAX_PAYLOAD_BYTES = 128
_DAY = timedelta(days=1)


def value_usd(*, stars: int, usd_per_star: Decimal) -> Decimal:
    """The USD value of `stars` at `usd_per_star`, rounded half-up to the cent, at least a cent.

    At least a cent because an invoice's amount is above zero: a price of 1 Star at a rate
    under half a cent still counts as a payment in the ledger.
    """
    require_whole(stars, name="stars", minimum=1)
    if not usd_per_star > 0:
        raise ValueError(f"usd_per_star must be above 0, got {usd_per_star}")
    return max(to_money(stars * usd_per_star), CENT)


def payment_seal(*, key: bytes, user_id: int, charge_id: str, payload: str, currency: str,
                 total_amount: int) -> str:
    """The bot's seal on a payment it received from Telegram (HMAC-SHA256 under the bot token).

    A Stars charge cannot be checked with Telegram afterwards as a CryptoCloud invoice can, so
    the worker trusts a payment task only with this seal: whatever can publish to the broker
    without the bot token cannot forge one.
    """
    message = "\n".join((str(user_id), charge_id, payload, currency, str(total_amount)))
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def seal_holds(seal: object, *, key: bytes, user_id: int, charge_id: str, payload: str,
               currency: str, total_amount: int) -> bool:
    """Whether `seal` is the bot's seal on these payment fields (see `payment_seal`)."""
    expected = payment_seal(key=key, user_id=user_id, charge_id=charge_id, payload=payload,
                            currency=currency, total_amount=total_amount)
    return isinstance(seal, str) and hmac.compare_digest(seal, expected)


class CheckoutRefusal(StrEnum):
    """Why a pre-checkout query is answered "no"; the bot shows the user a text for each."""

    UNKNOWN_INVOICE = "unknown_invoice"
    NOT_YOURS = "not_yours"
    NOT_OPEN = "not_open"
    EXPIRED = "expired"
    PLAN_GONE = "plan_gone"
    PRICE_CHANGED = "price_changed"


@dataclass(frozen=True, kw_only=True, slots=True)
class InvoiceFacts:
    """What the database says about the invoice a pre-checkout query names."""

    user_id: int
    method: str
    status: str
    amount_stars: int | None
    expires_at: datetime | None
    plan_on_sale: bool


def checkout_refusal(  # noqa: PLR0911 (one answer per rule)
    invoice: InvoiceFacts | None, *, payer_id: int, currency: str, total_amount: int,
    now: datetime,
) -> CheckoutRefusal | None:
    """Why Telegram must not charge this pre-checkout query, or None when it may.

    Charged only for an open Stars invoice of this payer, not expired, whose plan is still on
    sale, at exactly the amount and currency we invoiced: a payment we would then refuse to
    honour is worse than a payment refused before it is made.
    """
    require_aware(now, name="now")
    if invoice is None or invoice.method != "stars":
        return CheckoutRefusal.UNKNOWN_INVOICE
    if invoice.user_id != payer_id:
        return CheckoutRefusal.NOT_YOURS
    if invoice.status != "created":
        return CheckoutRefusal.NOT_OPEN
    if invoice.expires_at is not None and invoice.expires_at <= now:
        return CheckoutRefusal.EXPIRED
    if not invoice.plan_on_sale:
        return CheckoutRefusal.PLAN_GONE
    if currency != CURRENCY or invoice.amount_stars != total_amount:
        return CheckoutRefusal.PRICE_CHANGED
    return None


def take_back(access: Access | None, *, days: int, now: datetime) -> Access:
    """Access after a refund takes back the `days` a payment added.

    The end moves `days` earlier; if that leaves no time from `now` on, the subscriber is
    removed now (a refund leaves no grace: the money went back).
    """
    require_whole(days, name="days", minimum=1)
    require_aware(now, name="now")
    current = access or NO_ACCESS
    if current.paid_through is None:
        return current
    earlier = current.paid_through - days * _DAY
    if earlier <= now:
        return remove(current, now=now)
    return Access(paid_through=earlier, is_trial=current.is_trial,
                  removed_at=current.removed_at)
