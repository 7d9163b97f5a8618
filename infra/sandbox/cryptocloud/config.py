"""How the stand-in behaves: project credentials, postback delivery and the documented UNKNOWNs.

Every choice the reference marks [UNKNOWN] is a field here, so tests (and people) can switch the
stand-in between the plausible behaviours of the real service.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from infra.settings import (
    SANDBOX_CRYPTOCLOUD_API_KEY,
    SANDBOX_CRYPTOCLOUD_SECRET_KEY,
    SANDBOX_CRYPTOCLOUD_SHOP_ID,
)

DEFAULT_NOTIFY_URL = "http://127.0.0.1:8080/cryptocloud_webhook"

PostbackFormat = Literal["form", "json"]
InvoiceInfoFormat = Literal["json", "python"]
IdClaimFormat = Literal["plain", "prefixed", "numeric"]
UnknownUuids = Literal["omit", "error"]
ConfirmedPartialStatus = Literal["partial", "paid"]


@dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    """One project of the stand-in and the knobs of its behaviour; replaced whole, never mutated."""

    api_key: str = SANDBOX_CRYPTOCLOUD_API_KEY
    shop_id: str = SANDBOX_CRYPTOCLOUD_SHOP_ID
    secret_key: str = SANDBOX_CRYPTOCLOUD_SECRET_KEY
    project_id: int = 1
    project_name: str = "Sandbox project"
    success_url: str | None = None
    fail_url: str | None = None
    test_mode: bool = False
    # None: links point at this stand-in's own pay pages (the origin the create call came in on).
    pay_link_base: str | None = None
    default_time_to_pay_minutes: int = 24 * 60
    # The project setting "maximum deviation": an underpayment within it counts as paid.
    partial_tolerance_usd: Decimal = Decimal(0)
    confirmed_partial_status: ConfirmedPartialStatus = "partial"
    unknown_uuids: UnknownUuids = "omit"
    auth_missing_status: int = 403
    auth_unknown_status: int = 401
    # Unkind switches, off by default. merchant/info lags behind the postbacks: for this long
    # after an invoice is confirmed it still shows it as before (created, or partial).
    info_lag_seconds: float = 0.0
    # The API host has moved (CryptoCloud → Trybit, reference §0): every /v2/ call answers
    # `moved_status` with Location = moved_to + the same path.
    moved_to: str | None = None
    moved_status: int = 301
    # Postback delivery.
    notify_url: str | None = DEFAULT_NOTIFY_URL
    postback_format: PostbackFormat = "form"
    invoice_info_format: InvoiceInfoFormat = "json"
    id_claim_format: IdClaimFormat = "plain"
    token_ttl_seconds: int = 300
    retries: int = 0
    retry_backoff_seconds: float = 1.0
    duplicates: int = 1
    delay_seconds: float = 0.0
    drop: bool = False
    timeout_seconds: float = 10.0

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["partial_tolerance_usd"] = str(self.partial_tolerance_usd)
        return data

    def updated(self, changes: Mapping[str, object]) -> SandboxConfig:
        """A copy with `changes` applied; raises ValueError naming the first bad field."""
        clean: dict[str, Any] = {}
        for name, value in changes.items():
            check = _CHECKS.get(name)
            if check is None:
                raise ValueError(f"unknown setting {name!r}")
            try:
                clean[name] = check(value)
            except (TypeError, ValueError, InvalidOperation) as exc:
                raise ValueError(f"{name}: {exc}") from None
        return dataclasses.replace(self, **clean)


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _count(low: int, high: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"expected an integer from {low} to {high}")
        return value

    return check


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal) or value < 0:
        raise ValueError("expected a non-negative number of seconds")
    return float(value)


def _usd(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError("expected a decimal amount (string or number)")
    amount = Decimal(value)
    if not amount.is_finite() or amount < 0:
        raise ValueError("expected a non-negative amount")
    return amount


def _status(*codes: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, bool) or value not in codes:
            raise ValueError(f"expected one of {', '.join(map(str, codes))}")
        return int(value)  # type: ignore[call-overload,unused-ignore]

    return check


def _choice(*options: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return str(value)

    return check


_CHECKS: dict[str, Callable[[object], object]] = {
    "api_key": _text,
    "shop_id": _text,
    "secret_key": _text,
    "project_id": _count(1, 2**31),
    "project_name": _text,
    "success_url": _optional_text,
    "fail_url": _optional_text,
    "test_mode": _flag,
    "pay_link_base": _optional_text,
    "default_time_to_pay_minutes": _count(1, 30 * 24 * 60),
    "partial_tolerance_usd": _usd,
    "confirmed_partial_status": _choice("partial", "paid"),
    "unknown_uuids": _choice("omit", "error"),
    "auth_missing_status": _count(400, 599),
    "auth_unknown_status": _count(400, 599),
    "info_lag_seconds": _seconds,
    "moved_to": _optional_text,
    "moved_status": _status(301, 302, 307, 308),
    "notify_url": _optional_text,
    "postback_format": _choice("form", "json"),
    "invoice_info_format": _choice("json", "python"),
    "id_claim_format": _choice("plain", "prefixed", "numeric"),
    "token_ttl_seconds": _count(1, 86_400),
    "retries": _count(0, 20),
    "retry_backoff_seconds": _seconds,
    "duplicates": _count(1, 20),
    "delay_seconds": _seconds,
    "drop": _flag,
    "timeout_seconds": _seconds,
}
