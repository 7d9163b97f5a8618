"""The Bot API over HTTP: `{base}/bot{token}/{method}` and file downloads under `{base}/file/`.

Owns the envelope (`{"ok": …}`, HTTP status equal to `error_code`), the order of checks
(token, method, injected faults, then the method itself) and the call log.
"""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from infra.sandbox.telegram import methods
from infra.sandbox.telegram.errors import BotApiError, invalid_token, method_not_found
from infra.sandbox.telegram.methods import Described, MethodCall
from infra.sandbox.telegram.params import Params
from infra.sandbox.telegram.world import TelegramWorld

WORLD = web.AppKey("telegram_world", TelegramWorld)
CLOSING = web.AppKey("telegram_closing", threading.Event)


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", "/bot{token}/{method}", handle_call)
    app.router.add_get("/file/bot{token}/{file_path:.+}", handle_file)


async def handle_call(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    requested = request.match_info["method"]
    name = methods.canonical_name(requested) or requested
    params = Params()
    bot_id: int | None = None
    try:
        with world.lock:
            bot = world.bots.get(request.match_info["token"])
        if bot is None:
            raise invalid_token()
        bot_id = bot.id
        params = await Params.from_request(request)
        if methods.canonical_name(requested) is None:
            raise method_not_found()
        decision = world.faults.decide(name, **_targets(params))
        if decision.latency_seconds:
            await asyncio.sleep(decision.latency_seconds)
        if decision.error is not None:
            raise decision.error
        closing = request.app[CLOSING]
        outcome = await methods.invoke(
            name, MethodCall(world=world, bot=bot, params=params, closing=closing.is_set),
        )
    except BotApiError as error:
        world.record_call(method=name, bot_id=bot_id, params=params.for_log(),
                          status=error.status, description=error.description)
        return web.json_response(error.body(), status=error.status)
    body: dict[str, object] = {"ok": True}
    if isinstance(outcome, Described):
        body["result"], body["description"] = outcome.result, outcome.description
    else:
        body["result"] = outcome
    world.record_call(method=name, bot_id=bot_id, params=params.for_log(), status=200,
                      description=None)
    return web.json_response(body)


def _targets(params: Params) -> dict[str, int | None]:
    """Whom a call is about, for fault rules narrowed to one user or chat."""
    chat_id = params.int64("chat_id")
    user_id = params.int64("user_id")
    if user_id is None and chat_id is not None and chat_id > 0:
        user_id = chat_id  # a private chat's id is its user's id
    return {"user_id": user_id, "chat_id": chat_id}


async def handle_file(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    with world.lock:
        if request.match_info["token"] not in world.bots:
            error = invalid_token()
            return web.json_response(error.body(), status=error.status)
        path = request.match_info["file_path"]
        stored = next((f for f in world.files.values() if f.file_path == path), None)
    if stored is None:
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found: file not found"},
            status=404,
        )
    return web.Response(body=stored.data, content_type=stored.mime_type)
