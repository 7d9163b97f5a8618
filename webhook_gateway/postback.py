"""Reading and verifying a CryptoCloud postback, with no web framework involved.

The only authentication CryptoCloud offers is the `token` field: an HS256 JWT signed with the
project's SECRET KEY, with `id` (the invoice) and `exp` (five minutes) claims
(../shared/reference/cryptocloud.md §5). The algorithm is pinned, `exp` is required, and the
token must name the invoice the postback is about, so a token captured for one invoice cannot
vouch for another. `invoice_info` is parsed leniently and only ever used as a hint: money and
status are re-read from the API by the worker.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import jwt

from models.domain.invoices import InvoiceStatus, normalize_uuid

MAX_BODY_BYTES = 64 * 1024
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class PostbackRejected(Exception):
    """The postback is refused; `status` is the HTTP answer, `reason` a short log-safe phrase."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Postback:
    """A verified postback: which invoice, what the sender claims happened, the raw body."""

    invoice_code: str
    reported_status: str
    order_id: str | None
    raw_body: str


def parse_fields(content_type: str, body: bytes) -> Mapping[str, Any]:
    """Decode a form-encoded or JSON body into fields; 415 for other types, 400 if malformed."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == JSON:
        try:
            fields = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise PostbackRejected(400, "body is not valid JSON") from None
        if not isinstance(fields, dict):
            raise PostbackRejected(400, "JSON body is not an object")
        return fields
    if media_type == FORM:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise PostbackRejected(400, "form body is not UTF-8") from None
        return dict(parse_qsl(text, keep_blank_values=True))
    raise PostbackRejected(415, f"unsupported content type {media_type or 'none'!r}")


def _text_field(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value.strip():
        raise PostbackRejected(400, f"field {name!r} is missing or not text")
    return value.strip()


def _invoice_info(raw: object) -> Mapping[str, Any]:
    """`invoice_info` as a mapping if it can be read at all; its format is undocumented."""
    if isinstance(raw, Mapping):
        return raw
    if isinstance(raw, str):
        for parse in (json.loads, ast.literal_eval):
            try:
                value = parse(raw)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            if isinstance(value, Mapping):
                return value
    return {}


def reported_status(fields: Mapping[str, Any]) -> str:
    """The invoice status the sender reports; top-level `status` is always just "success"."""
    status = _invoice_info(fields.get("invoice_info")).get("status")
    if isinstance(status, str) and status in set(InvoiceStatus):
        return status
    return "success"


def verify_token(token: str, *, keys: Sequence[str], leeway: int, invoice_code: str) -> None:
    """Check signature (HS256 only), expiry and that the token names this invoice; 401 if not."""
    claims: dict[str, Any] | None = None
    for key in keys:
        try:
            claims = jwt.decode(
                token, key, algorithms=["HS256"], options={"require": ["exp"]}, leeway=leeway
            )
            break
        except jwt.ExpiredSignatureError:
            raise PostbackRejected(401, "token expired") from None
        except jwt.InvalidSignatureError:
            continue  # maybe signed with the other key during a rotation
        except jwt.InvalidTokenError as error:
            raise PostbackRejected(401, f"token invalid: {type(error).__name__}") from None
    if claims is None:
        raise PostbackRejected(401, "token signature does not match the secret key")
    claimed = claims.get("id", claims.get("uuid"))
    try:
        matches = normalize_uuid(str(claimed)) == invoice_code
    except ValueError:
        matches = False
    if not matches:
        raise PostbackRejected(401, "token is for another invoice")


def read_postback(
    *, content_type: str, body: bytes, keys: Sequence[str], leeway: int
) -> Postback:
    """Parse and verify one postback body, or raise PostbackRejected with the HTTP answer."""
    if len(body) > MAX_BODY_BYTES:
        raise PostbackRejected(413, "body over 64 KiB")
    fields = parse_fields(content_type, body)
    try:
        invoice_code = normalize_uuid(_text_field(fields, "invoice_id"))
    except ValueError:
        raise PostbackRejected(400, "field 'invoice_id' is not an invoice id") from None
    verify_token(
        _text_field(fields, "token"), keys=keys, leeway=leeway, invoice_code=invoice_code
    )
    order_id = fields.get("order_id")
    return Postback(
        invoice_code=invoice_code,
        reported_status=reported_status(fields),
        order_id=order_id if isinstance(order_id, str) and order_id else None,
        raw_body=body.decode("utf-8", errors="replace"),
    )
