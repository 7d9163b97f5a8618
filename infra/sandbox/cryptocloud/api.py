"""The CryptoCloud v2 HTTP API (all POST, JSON bodies, `Authorization: Token <API KEY>`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from infra.sandbox.cryptocloud.app_keys import WORLD
from infra.sandbox.cryptocloud.invoices import InvoiceStatus, TransitionRefused
from infra.sandbox.cryptocloud.shapes import created_invoice, invoice_details
from infra.sandbox.cryptocloud.validation import (
    FieldErrors,
    body_object,
    parse_create,
    parse_page,
    parse_period,
    parse_uuid,
    parse_uuids,
)
from infra.sandbox.cryptocloud.wire import detail, failure, loads, success
from infra.sandbox.cryptocloud.world import InvoiceNotFound

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Token auth on /v2/ paths; the other routes (pay pages, control) are the stand-in's own."""
    if not request.path.startswith("/v2/"):
        return await handler(request)
    config = request.app[WORLD].config
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    refused = config.auth_missing_status
    if not key:
        return detail("Authentication credentials were not provided.", status=refused)
    if scheme != "Token" or not key.strip() or " " in key.strip():
        return detail("Invalid token header.", status=refused)
    if key.strip() != config.api_key:
        return failure(
            {"authorization": "Unauthorized request."}, status=config.auth_unknown_status
        )
    try:
        return await handler(request)
    except FieldErrors as exc:
        return failure(exc.errors)


@web.middleware
async def moved(request: web.Request, handler: Handler) -> web.StreamResponse:
    """With `moved_to` set, the API answers every /v2/ call with a redirect there (§0)."""
    target = request.app[WORLD].config.moved_to
    if target is None or not request.path.startswith("/v2/"):
        return await handler(request)
    location = target.rstrip("/") + request.path_qs
    return web.Response(status=request.app[WORLD].config.moved_status,
                        headers={"Location": location})


async def _body(request: web.Request, *, optional: bool = False) -> Any:
    text = await request.text()
    if optional and not text.strip():
        return {}
    try:
        return loads(text)
    except ValueError:
        raise FieldErrors({"validate_error": "Invalid JSON body."}) from None


async def create(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    parsed = parse_create(
        await _body(request), shop_id=world.config.shop_id, locale=request.query.get("locale")
    )
    invoice = world.create_invoice(parsed, link_base=str(request.url.origin()))
    return success(created_invoice(invoice, world.config))


async def info(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    found, missing = world.info(parse_uuids(await _body(request)))
    if missing and world.config.unknown_uuids == "error":
        return failure({"validate_error": f"Invoices not found: {', '.join(missing)}"})
    return success([invoice_details(invoice, world.config) for invoice in found])


async def cancel(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    try:
        world.cancel(parse_uuid(await _body(request)))
    except InvoiceNotFound:
        return failure({"validate_error": "Invoice not found"})
    except TransitionRefused:
        return failure({"validate_error": "Invoice is not created"})
    return success(["ok"])


async def invoice_list(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    data = body_object(await _body(request))
    start, end = parse_period(data)
    offset, limit = parse_page(data)
    invoices = world.created_between(start, end)
    page = invoices[offset : offset + limit]
    return success([invoice_details(i, world.config) for i in page], all_count=len(invoices))


async def balance(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    await _body(request, optional=True)
    return success(
        [
            {
                "currency": b.crypto.balance_object(),
                "balance_crypto": b.amount,
                "balance_usd": b.amount_usd,
                "available_balance": b.amount,
                "available_balance_usd": b.amount_usd,
            }
            for b in world.balances()
        ]
    )


async def statistics(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    start, end = parse_period(body_object(await _body(request)))
    invoices = world.created_between(start, end)
    buckets = ["all", *(str(status) for status in InvoiceStatus)]
    count = dict.fromkeys(buckets, 0)
    amount = dict.fromkeys(buckets, Decimal("0.00"))
    for invoice in invoices:
        for bucket in ("all", str(invoice.status)):
            count[bucket] += 1
            amount[bucket] += invoice.amount_usd
    return success({"count": count, "amount": amount})


def register(router: web.UrlDispatcher) -> None:
    router.add_post("/v2/invoice/create", create)
    router.add_post("/v2/invoice/merchant/info", info)
    router.add_post("/v2/invoice/merchant/canceled", cancel)
    router.add_post("/v2/invoice/merchant/list", invoice_list)
    router.add_post("/v2/merchant/wallet/balance/all", balance)
    router.add_post("/v2/invoice/merchant/statistics", statistics)
