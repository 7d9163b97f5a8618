"""`create_app(world)`: the aiohttp app serving the Bot API, the control API and the page."""

from __future__ import annotations

import threading

from aiohttp import web

from infra.sandbox.same_origin import same_origin_control
from infra.sandbox.telegram import bot_api, control, operator_actions, page, world_reset
from infra.sandbox.telegram.bot_api import CLOSING, WORLD
from infra.sandbox.telegram.operator_actions import OperatorAction
from infra.sandbox.telegram.params import MAX_UPLOAD_BYTES
from infra.sandbox.telegram.persistence import WorldFile
from infra.sandbox.telegram.webhook import WebhookDeliveries
from infra.sandbox.telegram.world import TelegramWorld


def create_app(
    world: TelegramWorld, *, actions: list[OperatorAction] | None = None,
    world_file: WorldFile | None = None, on_reset: tuple[str, ...] | None = None,
) -> web.Application:
    """The stand-in; with `world_file` the world is saved there (load it before calling)."""
    app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024,
                          middlewares=[same_origin_control])
    app[WORLD] = world
    app[CLOSING] = threading.Event()
    bot_api.add_routes(app)
    control.add_routes(app)
    page.add_routes(app)
    operator_actions.add_routes(app, actions or [])
    world_reset.add_routes(app, on_reset)
    app.cleanup_ctx.append(WebhookDeliveries(world).run)
    if world_file is not None:
        app.cleanup_ctx.append(world_file.keeper(world))
    app.on_shutdown.append(_end_long_polls)
    return app


async def _end_long_polls(app: web.Application) -> None:
    """Waiting getUpdates calls answer at once, so shutdown does not wait out their timeouts."""
    app[CLOSING].set()
    world = app[WORLD]
    with world.lock:
        queues = [bot.updates for bot in world.bots.values()]
    for queue in queues:
        queue.wake_all()
