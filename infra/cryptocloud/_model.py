"""What the client returns and takes: result types, the `PaymentProvider` port, argument checks.

Also the parsing of the provider's invoice objects into results. Parsers raise `ShapeError`
naming the field; the client turns it into `CryptoCloudProtocolError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from urllib.parse import urlsplit

from models.domain.invoices import InvoiceStatus, normalize_uuid
from models.domain.money import require_money

INFO_BATCH_SIZE = 100  # the documented maximum of ids per merchant/info call
DEFAULT_CURRENCY = "USD"  # the API's default when `currency` is left out of create


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatedInvoice:
    """A new invoice: `uuid` is the bare code (no `INV-`), `link` the page the payer opens."""

    uuid: str
    link: str
    amount_usd: Decimal
    status: InvoiceStatus
    expires_at: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class InvoiceState:
    """An invoice as the provider sees it now; `paid_usd` is what actually arrived, in USD."""

    uuid: str
    status: InvoiceStatus
    order_id: str | None
    amount_usd: Decimal
    paid_usd: Decimal
    currency: str  # the invoice's fiat currency, e.g. "USD" (not the coin paid with)
    expires_at: datetime | None
    test_mode: bool


class PaymentProvider(Protocol):
    """The port use cases depend on: the real client or `infra.cryptocloud.fake`'s fake."""

    def create_invoice(
        self,
        *,
        order_id: str,
        amount_usd: Decimal,
        ttl: timedelta,
        currency: str = DEFAULT_CURRENCY,
        locale: str | None = None,
    ) -> CreatedInvoice:
        """Open an invoice for `amount_usd` (in `currency`) payable for `ttl`."""
        ...

    def invoice_info(self, uuids: Sequence[str]) -> list[InvoiceState]:
        """Current state of the known invoices among `uuids` (unknown ones are left out)."""
        ...

    def cancel_invoice(self, uuid: str) -> bool:
        """Cancel an unpaid invoice; False when it is no longer `created`."""
        ...


# --- checks of what callers pass (shared with the fake, so both refuse the same mistakes) ----


def check_order_id(order_id: str) -> str:
    """Return `order_id` if it is a non-empty string, else raise."""
    if not isinstance(order_id, str) or not order_id.strip():
        raise ValueError(f"order_id must be a non-empty string, got {order_id!r}")
    return order_id


def check_amount(amount: Decimal) -> Decimal:
    """Return `amount` if it is a positive amount of whole cents, else raise."""
    require_money(amount, name="amount_usd")
    if amount <= 0:
        raise ValueError(f"amount_usd must be positive, got {amount}")
    return amount


def check_currency(currency: str) -> str:
    """Return `currency` if it looks like a fiat code (three capital letters), else raise."""
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise ValueError(f"currency must be a code like USD, got {currency!r}")
    return currency


def time_to_pay(ttl: timedelta) -> dict[str, int]:
    """Return `add_fields.time_to_pay` for `ttl`, a positive whole number of minutes."""
    if not isinstance(ttl, timedelta):
        raise TypeError(f"ttl must be a timedelta, got {type(ttl).__name__}")
    minutes, rest = divmod(ttl, timedelta(minutes=1))
    if rest or minutes < 1:
        raise ValueError(f"ttl must be a positive whole number of minutes, got {ttl}")
    hours, minutes = divmod(minutes, 60)
    return {"hours": hours, "minutes": minutes}


def codes(uuids: Sequence[str]) -> list[str]:
    """Return the normalised codes of `uuids`, each once, in the order given."""
    if isinstance(uuids, str):
        raise TypeError("uuids must be a sequence of ids, not one string")
    return list(dict.fromkeys(normalize_uuid(uuid) for uuid in uuids))


# --- parsing of the provider's invoice objects -----------------------------------------------


class ShapeError(ValueError):
    """A field of a response is missing or malformed; the message names it."""


def parse_created(result: object) -> CreatedInvoice:
    """Read the `result` of invoice/create."""
    fields = _Fields(result, where="result")
    return CreatedInvoice(
        uuid=fields.code("uuid"),
        link=fields.link("link"),
        amount_usd=fields.money("amount_usd"),
        status=fields.status("status"),
        expires_at=fields.moment("expiry_date"),
        created_at=fields.moment("created"),
    )


def parse_states(result: object) -> list[InvoiceState]:
    """Read the `result` of merchant/info: always a list of invoice objects."""
    if not isinstance(result, list):
        raise ShapeError(f"result: expected a list of invoices, got {_kind(result)}")
    return [_parse_state(item, where=f"result[{index}]") for index, item in enumerate(result)]


def _parse_state(item: object, *, where: str) -> InvoiceState:
    fields = _Fields(item, where=where)
    paid = fields.optional_money("amount_paid_usd")
    if paid is None:
        paid = fields.optional_money("received_usd")
    currency = fields.optional_text("fiat_currency")
    return InvoiceState(
        uuid=fields.code("uuid"),
        status=fields.status("status"),
        order_id=fields.optional_text("order_id"),
        amount_usd=fields.money("amount_usd"),
        paid_usd=Decimal(0) if paid is None else paid,
        # The docs' info example has no fiat_currency; ours are created in USD unless asked.
        currency=currency or DEFAULT_CURRENCY,
        expires_at=fields.optional_moment("expiry_date"),
        test_mode=fields.flag("test_mode"),
    )


class _Fields:
    """Typed reads from one JSON object; every failure names `where.field`."""

    def __init__(self, data: object, *, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ShapeError(f"{where}: expected an object, got {_kind(data)}")
        self._data: Mapping[str, Any] = data
        self._where = where

    def _fail(self, name: str, expected: str) -> ShapeError:
        value = self._data.get(name)
        got = "nothing" if value is None else f"{_kind(value)} {_snippet(value)}"
        return ShapeError(f"{self._where}.{name}: expected {expected}, got {got}")

    def _required(self, name: str, expected: str) -> Any:
        if self._data.get(name) is None:
            raise self._fail(name, expected)
        return self._data[name]

    def code(self, name: str) -> str:
        raw = self._required(name, "an invoice id")
        if isinstance(raw, str):
            with suppress(ValueError):
                return normalize_uuid(raw)
        raise self._fail(name, "an invoice id (INV- + letters or digits)")

    def status(self, name: str) -> InvoiceStatus:
        raw = self._required(name, "an invoice status")
        if isinstance(raw, str):
            with suppress(ValueError):
                return InvoiceStatus(raw.strip().lower())
        raise self._fail(name, f"one of {', '.join(InvoiceStatus)}")

    def money(self, name: str) -> Decimal:
        amount = self.optional_money(name)
        if amount is None:
            raise self._fail(name, "an amount")
        return amount

    def optional_money(self, name: str) -> Decimal | None:
        raw = self._data.get(name)
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
            raise self._fail(name, "an amount")
        try:
            # str() first: a float becomes its shortest literal, not its binary expansion.
            amount = Decimal(str(raw).strip())
        except InvalidOperation:
            raise self._fail(name, "an amount") from None
        if not amount.is_finite() or amount < 0:
            raise self._fail(name, "a non-negative amount")
        return amount

    def moment(self, name: str) -> datetime:
        moment = self.optional_moment(name)
        if moment is None:
            raise self._fail(name, "a UTC timestamp")
        return moment

    def optional_moment(self, name: str) -> datetime | None:
        raw = self._data.get(name)
        if raw is None:
            return None
        if isinstance(raw, str):
            with suppress(ValueError):
                # The API writes UTC as `YYYY-MM-DD HH:MM:SS.ffffff`, without an offset.
                moment = datetime.fromisoformat(raw.strip())
                return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        raise self._fail(name, "a timestamp like 2024-08-22 11:49:59.756692")

    def optional_text(self, name: str) -> str | None:
        raw = self._data.get(name)
        if raw is None or raw == "":
            return None
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise self._fail(name, "a string")
        return str(raw)

    def link(self, name: str) -> str:
        raw = self._required(name, "an http(s) URL")
        parts = urlsplit(raw) if isinstance(raw, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise self._fail(name, "an http(s) URL")
        return str(raw)

    def flag(self, name: str) -> bool:
        raw = self._data.get(name)
        if raw is None:
            return False
        if not isinstance(raw, bool):
            raise self._fail(name, "true or false")
        return raw


_KINDS = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}


def _kind(value: object) -> str:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return "a number"
    return _KINDS.get(type(value), type(value).__name__)


def _snippet(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
