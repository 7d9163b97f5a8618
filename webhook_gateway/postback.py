"""Reading and verifying a CryptoCloud postback, with no web framework involved.

The only authentication CryptoCloud offers is the `token` field: an HS256 JWT signed with the
project's SECRET KEY, with `id` and `exp` (five minutes) claims (reference cryptocloud.md §5).
The algorithm is pinned and `exp` is required. What `id` holds is undocumented: the docs say the
invoice's id is added, their example shows a number. So (the project's decision, §5) a claim
that reads as an invoice code must name this postback's invoice (a token captured for one
invoice cannot vouch for another); a numeric, absent or otherwise unreadable claim is accepted
and its shape reported, because the worker re-reads `merchant/info` anyway and the body's
`invoice_id` only says which invoice to re-check. `invoice_info` is parsed leniently and only
ever used as a hint.
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
    claim_shape: str = "invoice code"


def parse_fields(content_type: str, body: bytes) -> Mapping[str, Any]:
    """Decode a form-encoded or JSON body into fields; 415 for other types, 400 if malformed."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == JSON:
        try:
            fields = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise PostbackRejected(400, "body is not valid JSON") from None
        except RecursionError:  # 64 KiB of brackets is enough to exhaust the parser's stack
            raise PostbackRejected(400, "JSON body is nested too deeply") from None
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


def claim_shape(claimed: object) -> str:
    """How a token's `id`/`uuid` claim looks, in words safe to log (never its value)."""
    if claimed is None:
        return "absent"
    if isinstance(claimed, bool) or not isinstance(claimed, (str, int, float)):
        return type(claimed).__name__
    if not isinstance(claimed, str):
        return "number"
    try:
        normalize_uuid(claimed)
    except ValueError:
        return "text, not an invoice code"
    return "invoice code"


def verify_token(token: str, *, keys: Sequence[str], leeway: int, invoice_code: str) -> str:
    """Check signature (HS256 only) and expiry, and that an invoice-code claim names this
    invoice; 401 if not. Return the claim's shape (see the module docstring)."""
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
    claimed = claims.get("id") if claims.get("id") is not None else claims.get("uuid")
    shape = claim_shape(claimed)
    if shape == "invoice code" and normalize_uuid(str(claimed)) != invoice_code:
        raise PostbackRejected(401, "token is for another invoice")
    return shape


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
    shape = verify_token(
        _text_field(fields, "token"), keys=keys, leeway=leeway, invoice_code=invoice_code
    )
    order_id = fields.get("order_id")
    return Postback(
        invoice_code=invoice_code,
        reported_status=reported_status(fields),
        order_id=order_id if isinstance(order_id, str) and order_id else None,
        # PostgreSQL text cannot hold NUL; the raw body is kept for people, not parsed again.
        raw_body=body.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
        claim_shape=shape,
    )
