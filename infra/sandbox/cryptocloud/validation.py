"""Validation of API request bodies into typed values, with the API's field → message errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from infra.sandbox.cryptocloud.catalog import CRYPTOS, FIAT_USD_RATES
from infra.sandbox.cryptocloud.wire import parse_day

REQUIRED = "This field is required."
NOT_A_NUMBER = "A valid number is required."
NOT_POSITIVE = "Ensure this value is greater than 0."
MAX_UUIDS = 100
MAX_PAGE = 100
DEFAULT_PAGE = 10
LOCALES = ("en", "ru", "de", "fr", "it", "es", "ch")
MAX_TIME_TO_PAY = timedelta(days=30)  # our bound; the real one is undocumented


class FieldErrors(Exception):
    """Answered as 400 `{"status": "error", "result": errors}`."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True, kw_only=True)
class CreateRequest:
    amount: Decimal
    currency: str
    order_id: str | None
    email: str | None
    time_to_pay: timedelta | None
    available_currencies: tuple[str, ...]
    cryptocurrency: str | None
    locale: str


def body_object(body: object) -> Mapping[str, object]:
    if not isinstance(body, Mapping):
        raise FieldErrors({"validate_error": "Expected a JSON object."})
    return body


def parse_amount(value: object) -> Decimal:
    """A positive finite number, given as a JSON number or a numeric string."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise ValueError(NOT_A_NUMBER)
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueError(NOT_A_NUMBER) from None
    if not amount.is_finite():
        raise ValueError(NOT_A_NUMBER)
    if amount <= 0:
        raise ValueError(NOT_POSITIVE)
    return amount


def parse_create(body: object, *, shop_id: str, locale: str | None) -> CreateRequest:
    data = body_object(body)
    errors: dict[str, str] = {}
    if "shop_id" not in data or data["shop_id"] in (None, ""):
        errors["shop_id"] = REQUIRED
    elif data["shop_id"] != shop_id:
        errors["shop_id"] = "Project with this shop_id not found."
    amount = Decimal(0)
    if data.get("amount") is None:
        errors["amount"] = REQUIRED
    else:
        try:
            amount = parse_amount(data["amount"])
        except ValueError as exc:
            errors["amount"] = str(exc)
    currency = data.get("currency") or "USD"
    if not isinstance(currency, str) or currency not in FIAT_USD_RATES:
        errors["currency"] = f'"{currency}" is not a valid choice.'
    extras = data.get("add_fields") or {}
    if not isinstance(extras, Mapping):
        errors["add_fields"] = "Expected a JSON object."
        extras = {}
    time_to_pay = _time_to_pay(extras.get("time_to_pay"), errors)
    available = _cryptos(extras.get("available_currencies"), "available_currencies", errors)
    chosen = extras.get("cryptocurrency")
    if chosen is not None and chosen not in CRYPTOS:
        errors["cryptocurrency"] = f'"{chosen}" is not a valid choice.'
    if errors:
        raise FieldErrors(errors)
    return CreateRequest(
        amount=amount,
        currency=str(currency),
        order_id=_optional_text(data.get("order_id")),
        email=_optional_text(data.get("email")),
        time_to_pay=time_to_pay,
        available_currencies=available,
        cryptocurrency=str(chosen) if chosen is not None else None,
        locale=locale if locale in LOCALES else "en",
    )


def _optional_text(value: object) -> str | None:
    return None if value in (None, "") else str(value)


def _time_to_pay(value: object, errors: dict[str, str]) -> timedelta | None:
    if value is None:
        return None
    message = 'Expected {"hours": <int ≥ 0>, "minutes": <int 0-59>}, at least 1 minute, ≤ 30 days.'
    if not isinstance(value, Mapping) or not set(value) <= {"hours", "minutes"}:
        errors["time_to_pay"] = message
        return None
    hours, minutes = _natural(value.get("hours", 0)), _natural(value.get("minutes", 0))
    if hours is None or minutes is None:
        errors["time_to_pay"] = message
        return None
    lifetime = timedelta(hours=hours, minutes=minutes)
    if minutes > 59 or not timedelta(minutes=1) <= lifetime <= MAX_TIME_TO_PAY:
        errors["time_to_pay"] = message
        return None
    return lifetime


def _natural(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _cryptos(value: object, name: str, errors: dict[str, str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value or any(code not in CRYPTOS for code in value):
        errors[name] = f"Expected a non-empty list of: {', '.join(CRYPTOS)}."
        return ()
    return tuple(value)


def parse_uuids(body: object) -> list[str]:
    uuids = body_object(body).get("uuids")
    if not isinstance(uuids, list) or not uuids or not all(isinstance(u, str) for u in uuids):
        raise FieldErrors({"validate_error": "uuids is required"})
    if len(uuids) > MAX_UUIDS:
        raise FieldErrors({"validate_error": f"Maximum {MAX_UUIDS} uuids per request"})
    return uuids


def parse_uuid(body: object) -> str:
    uuid = body_object(body).get("uuid")
    if not isinstance(uuid, str) or not uuid.strip():
        raise FieldErrors({"validate_error": "uuid is required"})
    return uuid


def parse_period(data: Mapping[str, object]) -> tuple[date, date]:
    errors: dict[str, str] = {}
    days: dict[str, date] = {}
    for name in ("start", "end"):
        value = data.get(name)
        if value is None:
            errors[name] = REQUIRED
            continue
        try:
            days[name] = parse_day(str(value))
        except ValueError:
            errors[name] = "Date has wrong format. Use one of these formats instead: DD.MM.YYYY."
    if errors:
        raise FieldErrors(errors)
    if days["end"] < days["start"]:
        raise FieldErrors({"validate_error": "end must be greater than or equal to start"})
    return days["start"], days["end"]


def parse_page(data: Mapping[str, object]) -> tuple[int, int]:
    errors: dict[str, str] = {}
    offset, limit = data.get("offset", 0), data.get("limit", DEFAULT_PAGE)
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        errors["offset"] = "Ensure this value is greater than or equal to 0."
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        errors["limit"] = f"Ensure this value is between 1 and {MAX_PAGE}."
    if errors:
        raise FieldErrors(errors)
    assert isinstance(offset, int) and isinstance(limit, int)
    return offset, limit
