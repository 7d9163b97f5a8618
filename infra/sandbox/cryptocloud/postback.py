"""What one postback looks like on the wire: fields, the JWT `token`, form or JSON encoding.

Reference §5: `invoice_id` without `INV-`, `status` always "success", `token` = HS256 JWT over
{"id", "exp"} signed with the project's SECRET KEY and valid 5 minutes, fresh on every send.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from infra.sandbox.cryptocloud.config import SandboxConfig
from infra.sandbox.cryptocloud.invoices import Invoice
from infra.sandbox.cryptocloud.shapes import invoice_details
from infra.sandbox.cryptocloud.wire import plain

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class PostbackBody:
    content_type: str
    body: str


def token_id(invoice: Invoice, config: SandboxConfig) -> str | int:
    """The `id` claim: its real format is undocumented, so each plausible one is selectable."""
    if config.id_claim_format == "numeric":
        return invoice.number
    return invoice.uuid if config.id_claim_format == "prefixed" else invoice.code


def make_token(invoice: Invoice, config: SandboxConfig, now: datetime) -> str:
    expires = now + timedelta(seconds=config.token_ttl_seconds)
    claims = {"id": token_id(invoice, config), "exp": int(expires.timestamp())}
    return hs256_jwt(claims, config.secret_key)


def hs256_jwt(claims: dict[str, Any], key: str) -> str:
    """A compact HS256 JWT. Minted by hand rather than with PyJWT, which warns about keys
    shorter than 32 bytes: the stand-in must sign with whatever SECRET KEY it is given, and a
    warning raised in the server's thread would break test runs that treat warnings as errors."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = part(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(key.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{part(signature)}"


def render(invoice: Invoice, config: SandboxConfig, now: datetime) -> PostbackBody:
    """The request body of one send; a new token each time, as the docs describe."""
    info = plain(invoice_details(invoice, config))
    fields: dict[str, Any] = {
        "status": "success",
        "invoice_id": invoice.code,
        "amount_crypto": plain(invoice.crypto.from_usd(invoice.received_usd)),
        "currency": invoice.crypto.fullcode,
        "order_id": invoice.order_id,
        "token": make_token(invoice, config, now),
        "invoice_info": info,
    }
    if config.postback_format == "json":
        return PostbackBody(JSON_CONTENT_TYPE, json.dumps(fields))
    # A form cannot nest: invoice_info is flattened into one string, whose exact serialization
    # is undocumented (JSON, or a Python dict repr like the docs' `b"token"` hints).
    as_json = config.invoice_info_format == "json"
    fields["invoice_info"] = json.dumps(info) if as_json else repr(info)
    form = {key: str(value) for key, value in fields.items() if value is not None}
    return PostbackBody(FORM_CONTENT_TYPE, urlencode(form))
