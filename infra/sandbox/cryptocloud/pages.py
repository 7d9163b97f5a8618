"""Pages for people: the hosted pay page of each invoice at `/<code>` and an index at `/`."""

from __future__ import annotations

import html
from importlib.resources import files
from string import Template

from aiohttp import web

from infra.sandbox.cryptocloud import shop
from infra.sandbox.cryptocloud.app_keys import WORLD
from infra.sandbox.cryptocloud.invoices import Invoice
from infra.sandbox.cryptocloud.world import InvoiceNotFound

_ASSETS = files(__package__) / "assets"
_STATIC = {"pay.js": "text/javascript", "style.css": "text/css"}


def _asset(name: str) -> str:
    return (_ASSETS / name).read_text(encoding="utf-8")


def _time_left(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def render_pay_page(invoice: Invoice, *, project: str, seconds_left: int,
                    chat_url: str = "") -> str:
    crypto = invoice.crypto
    values = {
        "lang": invoice.locale,
        "uuid": invoice.uuid,
        "project": project,
        "order_id": invoice.order_id or "—",
        "amount": f"{invoice.amount_in_fiat} {invoice.fiat_currency}",
        "crypto_amount": f"{crypto.from_usd(invoice.amount_usd).normalize():f} "
        f"{crypto.code} ({crypto.network})",
        "status": str(invoice.status),
        "time_left": _time_left(seconds_left) if invoice.is_open else "—",
        "received": str(invoice.received_usd),
        "due": str(invoice.due_usd),
    }
    escaped = {key: html.escape(value) for key, value in values.items()}
    escaped["back"] = (f'<a class="back" data-testid="back-to-chat" href="{html.escape(chat_url)}">'
                       "← Back to the chat</a>" if chat_url else "")
    return Template(_asset("pay.html")).substitute(escaped)


async def pay_page(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    try:
        invoice = world.invoice(request.match_info["code"])
    except InvoiceNotFound:
        raise web.HTTPNotFound(text="No such invoice in this sandbox.") from None
    page = render_pay_page(
        invoice, project=world.config.project_name, seconds_left=invoice.seconds_left(world.now()),
        chat_url=request.app[shop.CHAT_URL],
    )
    return web.Response(text=page, content_type="text/html")


async def index(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    rows = "".join(
        "<tr><td><a href='/{code}'>{uuid}</a></td><td>{status}</td><td>{amount} {fiat}</td>"
        "<td>{order}</td><td>{created}</td></tr>".format(
            code=i.code,
            uuid=i.uuid,
            status=i.status,
            amount=i.amount_in_fiat,
            fiat=i.fiat_currency,
            order=html.escape(i.order_id or "—"),
            created=i.created.strftime("%Y-%m-%d %H:%M:%S UTC"),
        )
        for i in reversed(world.invoices())
    )
    body = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='refresh' content='5'><title>CryptoCloud sandbox</title>"
        "<link rel='stylesheet' href='/_sandbox/style.css'></head><body>"
        "<main class='card wide'><header><span class='brand'>CryptoCloud <em>sandbox</em></span>"
        f"<span class='project'>{html.escape(world.config.project_name)}</span></header>"
        "<p>API base: this address (<code>POST /v2/...</code>). Control API: "
        "<code>/control/invoices</code>, <code>/control/postbacks</code>, "
        "<code>/control/config</code>. Open an invoice to pay it as a customer would.</p>"
        "<table data-testid='invoice-table'><tr><th>Invoice</th><th>Status</th><th>Amount</th>"
        f"<th>Order</th><th>Created</th></tr>{rows}</table></main></body></html>"
    )
    return web.Response(text=body, content_type="text/html")


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _STATIC:
        raise web.HTTPNotFound()
    return web.Response(text=_asset(name), content_type=_STATIC[name])


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/", index)
    router.add_get("/_sandbox/{name}", static)
    router.add_get("/{code:[A-Z0-9]{8}}", pay_page)
