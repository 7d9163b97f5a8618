"""The stand-in's own control API under /control/: what tests and the pay page use to act as the
payer, the merchant's dashboard or time. Not part of CryptoCloud; plain JSON, no auth.

Errors: `{"error": "<message>"}` with 400 (bad input), 404 (unknown invoice), 409 (wrong state).
Money goes out as decimal strings and comes in as strings or numbers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from infra.sandbox.cryptocloud import shop
from infra.sandbox.cryptocloud.app_keys import WORLD
from infra.sandbox.cryptocloud.invoices import TransitionRefused
from infra.sandbox.cryptocloud.shapes import control_summary
from infra.sandbox.cryptocloud.validation import parse_amount
from infra.sandbox.cryptocloud.wire import loads, timestamp
from infra.sandbox.cryptocloud.world import CryptoCloudWorld, InvoiceNotFound, PayMode

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PAY_MODES: tuple[PayMode, ...] = ("full", "part", "over")


def _error(message: str, status: int) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def control_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map the world's refusals to HTTP answers on /control/ paths."""
    if not request.path.startswith("/control/"):
        return await handler(request)
    try:
        return await handler(request)
    except InvoiceNotFound as exc:
        return _error(f"no invoice {exc}", 404)
    except TransitionRefused as exc:
        return _error(str(exc), 409)
    except ValueError as exc:
        return _error(str(exc), 400)


async def _body(request: web.Request) -> Mapping[str, Any]:
    text = await request.text()
    data = loads(text) if text.strip() else {}
    if not isinstance(data, Mapping):
        raise ValueError("expected a JSON object")
    return data


def _summary(world: CryptoCloudWorld, uuid: str) -> web.Response:
    return web.json_response(control_summary(world.invoice(uuid), world.now()))


async def get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[WORLD].config.to_json())


async def set_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[WORLD].configure(await _body(request)).to_json())


async def list_invoices(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    now = world.now()
    return web.json_response({"invoices": [control_summary(i, now) for i in world.invoices()]})


async def get_invoice(request: web.Request) -> web.Response:
    return _summary(request.app[WORLD], request.match_info["uuid"])


async def pay(request: web.Request) -> web.Response:
    world, uuid = request.app[WORLD], request.match_info["uuid"]
    data = await _body(request)
    mode = data.get("mode")
    if mode is not None and mode not in PAY_MODES:
        raise ValueError(f"mode must be one of {', '.join(PAY_MODES)}")
    raw = data.get("amount")
    amount = None if raw in (None, "") else parse_amount(raw)
    world.pay(uuid, amount, mode=mode)
    shop.after_payment(request.app, world.invoice(uuid))
    return _summary(world, uuid)


async def confirm(request: web.Request) -> web.Response:
    world, uuid = request.app[WORLD], request.match_info["uuid"]
    world.confirm_partial(uuid)
    return _summary(world, uuid)


async def expire(request: web.Request) -> web.Response:
    world, uuid = request.app[WORLD], request.match_info["uuid"]
    world.expire_now(uuid)
    return _summary(world, uuid)


async def resend(request: web.Request) -> web.Response:
    return web.json_response(
        {"postback_id": request.app[WORLD].resend_postback(request.match_info["uuid"])}
    )


async def postbacks(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    wanted = request.query.get("invoice")
    deliveries = [
        d.to_json()
        for d in world.deliveries
        if wanted is None or d.invoice_uuid.removeprefix("INV-") == wanted.removeprefix("INV-")
    ]
    return web.json_response({"deliveries": deliveries, "pending": world.postbacks.pending})


async def reset(request: web.Request) -> web.Response:
    request.app[WORLD].reset()
    return web.json_response({"status": "ok"})


def _clock(world: CryptoCloudWorld) -> web.Response:
    return web.json_response(
        {
            "now": timestamp(world.now()),
            "offset_seconds": world.clock.offset.total_seconds(),
        }
    )


async def get_clock(request: web.Request) -> web.Response:
    return _clock(request.app[WORLD])


async def set_clock(request: web.Request) -> web.Response:
    """`{"advance_seconds": n}` moves time forward (or back); `{"offset_seconds": n}` sets it."""
    world, data = request.app[WORLD], await _body(request)
    offset = world.clock.offset
    if "offset_seconds" in data:
        offset = timedelta(seconds=_seconds(data["offset_seconds"]))
    if "advance_seconds" in data:
        offset += timedelta(seconds=_seconds(data["advance_seconds"]))
    world.set_clock_offset(offset)
    return _clock(world)


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("seconds must be a number")
    return float(value)


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/control/config", get_config)
    router.add_post("/control/config", set_config)
    router.add_get("/control/invoices", list_invoices)
    router.add_get("/control/invoices/{uuid}", get_invoice)
    router.add_post("/control/invoices/{uuid}/pay", pay)
    router.add_post("/control/invoices/{uuid}/confirm", confirm)
    router.add_post("/control/invoices/{uuid}/expire", expire)
    router.add_post("/control/invoices/{uuid}/resend", resend)
    router.add_get("/control/postbacks", postbacks)
    router.add_post("/control/reset", reset)
    router.add_get("/control/clock", get_clock)
    router.add_post("/control/clock", set_clock)
