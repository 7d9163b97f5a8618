"""Bot API methods about the bot itself and how it receives updates: getMe, getUpdates, webhooks."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit

from infra.sandbox.telegram import errors, serialize
from infra.sandbox.telegram.errors import bad_request, conflict
from infra.sandbox.telegram.methods.registry import Described, MethodCall, long_method, method
from infra.sandbox.telegram.params import Params
from infra.sandbox.telegram.records import WebhookConfig
from infra.sandbox.telegram.updates import UpdateQueue

LONG_POLL_MAX_TIMEOUT = 50  # Client.cpp
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_INT32 = 2**31


@method("getMe")
def get_me(call: MethodCall) -> object:
    return serialize.me(call.bot)


@long_method("getUpdates")
async def get_updates(call: MethodCall) -> object:
    params, queue = call.params, call.bot.updates
    offset = params.integer("offset", minimum=-_INT32, maximum=_INT32 - 1)
    limit = params.integer("limit", default=100, minimum=1, maximum=100)
    timeout = params.integer("timeout", minimum=0, maximum=LONG_POLL_MAX_TIMEOUT)
    with call.world.lock:
        if call.bot.webhook is not None:
            raise conflict(errors.WEBHOOK_ACTIVE)
        _set_allowed_updates(params, queue)
        # The newest request wins; an older one still waiting is answered with 409.
        ticket = queue.start_poll()
        queue.confirm(offset)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if not queue.is_current_poll(ticket):
            raise conflict(errors.TERMINATED_BY_OTHER_POLL)
        if call.bot.webhook is not None:
            raise conflict(errors.WEBHOOK_ACTIVE)
        updates = queue.peek(limit)
        remaining = deadline - loop.time()
        if updates or remaining <= 0 or call.closing():
            return updates
        await queue.wait(remaining)


@method("setWebhook")
def set_webhook(call: MethodCall) -> object:
    params, bot = call.params, call.bot
    url = params.text("url").strip()
    if not url:
        return _delete_webhook(call)
    parts = urlsplit(url)
    # Telegram demands HTTPS on ports 443/80/88/8443; the sandbox also takes local plain HTTP.
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise bad_request("bad webhook: HTTPS url must be provided for webhook")
    secret = params.text("secret_token")
    if secret and not _SECRET_TOKEN.fullmatch(secret):
        raise bad_request("secret token contains unallowed characters")
    config = WebhookConfig(
        url=url, secret_token=secret or None,
        max_connections=params.integer("max_connections", default=40, minimum=1, maximum=100),
        ip_address=params.text("ip_address") or None,
    )
    _set_allowed_updates(params, bot.updates)
    if params.boolean("drop_pending_updates"):
        bot.updates.clear()
    old = bot.webhook
    if old is not None and (old.url, old.secret_token, old.max_connections, old.ip_address) == (
        config.url, config.secret_token, config.max_connections, config.ip_address,
    ):
        return Described(True, "Webhook is already set")
    bot.webhook = config
    call.world.touch()
    call.world.notify_webhook_changed()
    bot.updates.wake_all()  # a waiting getUpdates now ends with 409
    return Described(True, "Webhook was set")


@method("deleteWebhook")
def delete_webhook(call: MethodCall) -> object:
    return _delete_webhook(call)


@method("getWebhookInfo")
def get_webhook_info(call: MethodCall) -> object:
    return serialize.webhook_info(call.bot)


def _delete_webhook(call: MethodCall) -> Described:
    bot = call.bot
    if call.params.boolean("drop_pending_updates"):
        bot.updates.clear()
    if bot.webhook is None:
        return Described(True, "Webhook is already deleted")
    bot.webhook = None
    call.world.touch()
    call.world.notify_webhook_changed()
    return Described(True, "Webhook was deleted")


def _set_allowed_updates(params: Params, queue: UpdateQueue) -> None:
    """allowed_updates is sticky: only a call that passes it changes it."""
    if not params.is_set("allowed_updates"):
        return
    kinds = params.json_value("allowed_updates", what="allowed updates")
    if not isinstance(kinds, list) or not all(isinstance(kind, str) for kind in kinds):
        raise bad_request("can't parse allowed updates JSON object")
    queue.set_allowed_updates(kinds)
