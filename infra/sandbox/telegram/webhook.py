"""Webhook delivery: while a bot has a webhook, its updates are POSTed to it one by one.

Each update goes as JSON with `X-Telegram-Bot-Api-Secret-Token` when a secret is set. Anything but
2xx is retried after `world.webhook_retry_delay` and shows in getWebhookInfo's last_error_*.
Runs on the server's event loop; the world may change from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from infra.sandbox.telegram.records import WebhookConfig
from infra.sandbox.telegram.world import TelegramWorld

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name, not a secret
DELIVERY_TIMEOUT = aiohttp.ClientTimeout(total=10)


class WebhookDeliveries:
    """One delivery task per bot with a webhook; restarted whenever its config is replaced."""

    def __init__(self, world: TelegramWorld) -> None:
        self._world = world
        self._tasks: dict[str, tuple[WebhookConfig, asyncio.Task[None]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None

    async def run(self, app: web.Application) -> AsyncIterator[None]:
        """An aiohttp cleanup context: start with the app, stop every delivery with it."""
        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession(timeout=DELIVERY_TIMEOUT)
        self._world.add_webhook_listener(self._on_change)
        self._sync()
        yield
        self._world.remove_webhook_listener(self._on_change)
        tasks = [task for _, task in self._tasks.values()]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._session.close()

    def _on_change(self) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to deliver
                self._loop.call_soon_threadsafe(self._sync)

    def _sync(self) -> None:
        assert self._loop is not None
        with self._world.lock:
            wanted = {
                bot.token: bot.webhook for bot in self._world.bots.values() if bot.webhook
            }
        for token, (config, task) in list(self._tasks.items()):
            if wanted.get(token) is not config:
                task.cancel()
                del self._tasks[token]
        for token, config in wanted.items():
            if token not in self._tasks:
                task = self._loop.create_task(self._deliver(token, config))
                self._tasks[token] = (config, task)

    async def _deliver(self, token: str, config: WebhookConfig) -> None:
        world = self._world
        while True:
            with world.lock:
                bot = world.bots.get(token)
                if bot is None or bot.webhook is not config:
                    return
            pending = bot.updates.peek(1)
            if not pending:
                await bot.updates.wait(30)
                continue
            update = pending[0]
            error = await self._post(config, update)
            if error is None:
                update_id = update["update_id"]
                assert isinstance(update_id, int)
                bot.updates.confirm(update_id + 1)
                continue
            with world.lock:
                config.last_error_date, config.last_error_message = world.now(), error
                world.touch()
            await asyncio.sleep(world.webhook_retry_delay)

    async def _post(self, config: WebhookConfig, update: dict[str, object]) -> str | None:
        """Deliver one update; None on success, else the last_error_message Telegram shows."""
        assert self._session is not None
        headers = {SECRET_HEADER: config.secret_token} if config.secret_token else {}
        try:
            async with self._session.post(config.url, json=update, headers=headers) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return None
                return f"Wrong response from the webhook: {response.status} {response.reason}"
        except TimeoutError:
            return "Read timeout expired"
        except aiohttp.ClientConnectorError:
            return "Connection refused"
        except aiohttp.ClientError as error:
            return f"Connection error: {type(error).__name__}"
