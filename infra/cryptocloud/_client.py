"""`CryptoCloudClient`: the CryptoCloud v2 API over sync httpx, for the Celery workers.

Wire facts it relies on (shared/reference/cryptocloud.md): every call is a JSON POST under
`/v2/` with `Authorization: Token <API KEY>`; answers are `{"status": "success"|"error",
"result": ...}` except auth failures, which may be `{"detail": "..."}`; invoice ids come back as
`INV-XXXXXXXX` and are handed out bare (`models.domain.invoices.normalize_uuid`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
from pydantic import SecretStr

from infra.cryptocloud._errors import (
    CryptoCloudMoved,
    CryptoCloudProtocolError,
    CryptoCloudRejected,
    CryptoCloudUnavailable,
)
from infra.cryptocloud._model import (
    DEFAULT_CURRENCY,
    INFO_BATCH_SIZE,
    CreatedInvoice,
    InvoiceState,
    ShapeError,
    check_amount,
    check_currency,
    check_order_id,
    codes,
    parse_created,
    parse_states,
    time_to_pay,
)
from infra.logging import get_logger
from models.domain.invoices import provider_uuid

_log = get_logger(__name__)

_TRANSIENT_STATUSES = frozenset({408, 429})  # plus every 5xx
# The providers' validate_error texts (reference §3, §4); matched loosely, they are undocumented.
_NOT_FOUND = re.compile(r"not\s+found|does\s+not\s+exist", re.IGNORECASE)
_NOT_CREATED = re.compile(r"not\s+created", re.IGNORECASE)
_NOT_JSON = object()
_MESSAGE_LIMIT = 300


class CryptoCloudClient:
    """The real `PaymentProvider`. Thread-safe; close it (or use `with`) when done."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: SecretStr,
        shop_id: SecretStr,
        timeout: float = 10.0,
        connect_timeout: float = 3.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        for name, secret in (("api_key", api_key), ("shop_id", shop_id)):
            if not isinstance(secret, SecretStr) or not secret.get_secret_value().strip():
                raise ValueError(f"{name} must be a non-empty SecretStr")
        self._api_key, self._shop_id = api_key, shop_id
        self._base_url = str(url).rstrip("/")
        self._http = httpx.Client(
            base_url=self._base_url,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            transport=transport,
            # A redirect is a misconfigured base URL; following it could leak the token elsewhere.
            follow_redirects=False,
            headers={"Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"CryptoCloudClient(base_url={self._base_url!r})"

    def __enter__(self) -> CryptoCloudClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    # --- the three operations of PaymentProvider ---------------------------------------------

    def create_invoice(
        self,
        *,
        order_id: str,
        amount_usd: Decimal,
        ttl: timedelta,
        currency: str = DEFAULT_CURRENCY,
        locale: str | None = None,
    ) -> CreatedInvoice:
        """Open an invoice; a retry after `CryptoCloudUnavailable` may open a second one."""
        body = {
            "shop_id": self._shop_id.get_secret_value(),
            "amount": _json_number(check_amount(amount_usd)),
            "currency": check_currency(currency),
            "order_id": check_order_id(order_id),
            "add_fields": {"time_to_pay": time_to_pay(ttl)},
        }
        result = self._call("invoice/create", body, params={"locale": locale} if locale else None)
        with self._reading("invoice/create"):
            return parse_created(result)

    def invoice_info(self, uuids: Sequence[str]) -> list[InvoiceState]:
        """States of the known invoices among `uuids` (with or without `INV-`), ≤ 100 per call."""
        wanted = codes(uuids)
        states: list[InvoiceState] = []
        for start in range(0, len(wanted), INFO_BATCH_SIZE):
            states += self._info_batch(wanted[start : start + INFO_BATCH_SIZE])
        return states

    def cancel_invoice(self, uuid: str) -> bool:
        """Cancel an unpaid invoice: True once canceled, False when it is no longer `created`."""
        try:
            self._call("invoice/merchant/canceled", {"uuid": provider_uuid(uuid)})
        except CryptoCloudRejected as error:
            if _says(error, _NOT_CREATED):
                return False
            raise
        return True

    def _info_batch(self, batch: list[str]) -> list[InvoiceState]:
        operation = "invoice/merchant/info"
        try:
            result = self._call(operation, {"uuids": [provider_uuid(code) for code in batch]})
        except CryptoCloudRejected as error:
            if not _says(error, _NOT_FOUND):
                raise
            if len(batch) == 1:
                _log.warning("cryptocloud.invoice_unknown", invoice=batch[0])
                return []
            # Whether the API refuses a whole batch for one unknown id is undocumented; halving
            # finds the known ones either way, and costs nothing while every id is known.
            half = len(batch) // 2
            return self._info_batch(batch[:half]) + self._info_batch(batch[half:])
        with self._reading(operation):
            return parse_states(result)

    # --- one HTTP exchange -------------------------------------------------------------------

    def _call(
        self, operation: str, body: Mapping[str, Any], *, params: Mapping[str, str] | None = None
    ) -> Any:
        """POST `body` to /v2/`operation`; return the success envelope's `result` or raise."""
        headers = {"Authorization": f"Token {self._api_key.get_secret_value()}"}
        try:
            response = self._http.post(
                f"/v2/{operation}", json=body, params=params, headers=headers
            )
        except httpx.TimeoutException as exc:
            message = f"CryptoCloud {operation}: timed out ({type(exc).__name__})"
            raise CryptoCloudUnavailable(message, operation=operation) from exc
        except httpx.TransportError as exc:
            message = self._scrub(f"CryptoCloud {operation}: {type(exc).__name__}: {exc}")
            raise CryptoCloudUnavailable(message, operation=operation) from exc
        except httpx.DecodingError as exc:
            message = f"CryptoCloud {operation}: undecodable body ({exc})"
            raise CryptoCloudProtocolError(message, operation=operation) from exc
        return self._result(operation, response)

    def _result(self, operation: str, response: httpx.Response) -> Any:
        status, where = response.status_code, f"CryptoCloud {operation}"
        if 300 <= status < 400:
            raise self._moved(operation, response)
        if status in _TRANSIENT_STATUSES or status >= 500:
            raise CryptoCloudUnavailable(
                f"{where}: answered HTTP {status} {response.reason_phrase}".rstrip(),
                operation=operation,
                retry_after=_retry_after(response),
            )
        body = _json(response)
        if status >= 400 or (isinstance(body, dict) and body.get("status") == "error"):
            details = self._scrub_tree(_refusal(body, response))
            message = self._scrub(f"{where} rejected (HTTP {status}): {_words(details)}")
            raise CryptoCloudRejected(
                message[:_MESSAGE_LIMIT], operation=operation, status_code=status, details=details
            )
        with self._reading(operation):
            if not isinstance(body, dict):
                raise ShapeError("body: expected a JSON object with status and result")
            if body.get("status") != "success":
                raise ShapeError(f"status: expected 'success', got {body.get('status')!r:.40}")
            if "result" not in body:
                raise ShapeError("result: missing from a success answer")
        return body["result"]

    def _moved(self, operation: str, response: httpx.Response) -> CryptoCloudMoved:
        """One line naming where the API went and the setting to change (reference §0)."""
        status = response.status_code
        location = self._scrub(response.headers.get("Location", "").strip())
        if not location:
            return CryptoCloudMoved(
                f"CryptoCloud API at {self._base_url} answered HTTP {status} without a "
                "Location; check CRYPTOCLOUD_API_BASE", operation=operation)
        target = response.request.url.join(location)
        # The paths stay the same on the new host: what precedes /v2/ is the new base.
        path, marker = target.path, "/v2/"
        base_path = path[: path.index(marker)] if marker in path else ""
        new_base = str(target.copy_with(path=base_path or "/", query=None, fragment=None))
        new_base = new_base.rstrip("/")
        return CryptoCloudMoved(
            f"CryptoCloud API at {self._base_url} has moved: HTTP {status} to {target}; "
            f"set CRYPTOCLOUD_API_BASE={new_base} (redirects are not followed, they would "
            "carry the API key)",
            operation=operation, location=str(target), new_base=new_base,
        )

    @contextmanager
    def _reading(self, operation: str) -> Iterator[None]:
        """Turn a parser's ShapeError into CryptoCloudProtocolError for `operation`."""
        try:
            yield
        except ShapeError as exc:
            message = self._scrub(f"CryptoCloud {operation}: unexpected answer: {exc}")
            raise CryptoCloudProtocolError(message, operation=operation) from None

    def _scrub(self, text: str) -> str:
        # The provider's texts are echoed in messages; make sure no credential rides along.
        for secret in (self._api_key, self._shop_id):
            text = text.replace(secret.get_secret_value(), "***")
        return text

    def _scrub_tree(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._scrub(value)
        if isinstance(value, dict):
            return {self._scrub(str(k)): self._scrub_tree(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub_tree(item) for item in value]
        return value


def _json_number(amount: Decimal) -> float:
    """`amount` as the JSON number the API documents; refuses one a float cannot carry exactly."""
    number = float(amount)
    if Decimal(repr(number)) != amount:
        raise ValueError(f"amount_usd {amount} has too many digits to send exactly")
    return number


def _json(response: httpx.Response) -> Any:
    try:
        # Decimal for every JSON number with a fraction: a float never exists on the way in.
        return json.loads(response.content, parse_float=Decimal, parse_constant=_no_constant)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        return _NOT_JSON


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After", "").strip()
    return float(raw) if raw.isdigit() else None


def _refusal(body: Any, response: httpx.Response) -> dict[str, Any]:
    """The provider's error object: the envelope's `result`, `{"detail": ...}` or the raw body."""
    if isinstance(body, dict):
        if body.get("status") == "error" and "result" in body:
            result = body["result"]
            return dict(result) if isinstance(result, dict) else {"error": result}
        return dict(body)
    if body is _NOT_JSON:
        return {"body": response.text[:_MESSAGE_LIMIT]} if response.content else {}
    return {"body": body}


def _words(value: Any) -> str:
    """A one-line rendering of an error object, e.g. `amount: A valid number is required.`"""
    if isinstance(value, dict):
        if "msg" in value:  # FastAPI-style validation items: {"loc": [...], "msg": "..."}
            return str(value["msg"])
        return "; ".join(f"{key}: {_words(item)}" for key, item in value.items()) or "no details"
    if isinstance(value, list):
        return ", ".join(_words(item) for item in value)
    return str(value)


def _says(error: CryptoCloudRejected, pattern: re.Pattern[str]) -> bool:
    """Tell whether the provider refused with a `validate_error` matching `pattern`."""
    message = error.details.get("validate_error")
    return isinstance(message, str) and bool(pattern.search(message))
