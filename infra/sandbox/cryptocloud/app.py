"""The aiohttp application of the stand-in: routes, postback client session, expiry tick."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from infra.sandbox.cryptocloud import api, control, pages, shop
from infra.sandbox.cryptocloud.app_keys import WORLD
from infra.sandbox.cryptocloud.world import CryptoCloudWorld
from infra.sandbox.same_origin import same_origin_control


def create_app(
    world: CryptoCloudWorld, *, tick_seconds: float = 1.0, chat_url: str | None = None,
    on_partial: tuple[str, ...] | None = None,
) -> web.Application:
    """Serve `world`; every `tick_seconds` overdue invoices are canceled even if nobody reads.

    `chat_url` and `on_partial` are the sandbox's courtesies to a person (see `shop`).
    """
    app = web.Application(middlewares=[
        same_origin_control, api.moved, api.authenticate, control.control_errors])
    app[WORLD] = world
    shop.configure(app, chat_url=chat_url, on_partial=on_partial)
    api.register(app.router)
    control.register(app.router)
    pages.register(app.router)
    app.cleanup_ctx.append(_background(tick_seconds))
    return app


def _background(
    tick_seconds: float,
) -> Callable[[web.Application], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def background(app: web.Application) -> AsyncIterator[None]:
        world = app[WORLD]
        async with aiohttp.ClientSession() as session:
            world.postbacks.bind(session)
            tick = asyncio.create_task(_tick(world, tick_seconds))
            try:
                yield
            finally:
                tick.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await tick
                await world.postbacks.unbind()

    return background


async def _tick(world: CryptoCloudWorld, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        world.sweep()
