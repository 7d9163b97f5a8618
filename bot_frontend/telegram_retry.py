"""The bot's own Bot API calls ride out Telegram's passing failures instead of dropping a reply.

aiogram raises a 429 or a 5xx straight into the handler, so a subscriber who pressed a button
heard nothing and had to press again (the chaos run counted hundreds). A few quick retries, with
Telegram's `retry_after` honoured up to a cap, keep the handler's answer; anything longer than
the cap is raised as before, because a reply minutes late helps nobody and a callback query
expires anyway. getUpdates is left to aiogram's own polling backoff.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetUpdates
from aiogram.methods.base import TelegramType

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import Response, TelegramMethod

ATTEMPTS = 3
BACKOFF_SECONDS = (0.5, 1.0)  # before the second and the third attempt
MAX_RETRY_AFTER_SECONDS = 5.0


class RetryPassingFailures(BaseRequestMiddleware):
    """Retry a call that met a 429 (within the cap), a 5xx or a network error."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if method.__api_method__ == GetUpdates.__api_method__:  # polling has its own backoff
            return await make_request(bot, method)
        for attempt in range(ATTEMPTS):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as flood:
                if attempt == ATTEMPTS - 1 or flood.retry_after > MAX_RETRY_AFTER_SECONDS:
                    raise
                await asyncio.sleep(flood.retry_after)
            except (TelegramServerError, TelegramNetworkError):
                if attempt == ATTEMPTS - 1:
                    raise
                await asyncio.sleep(BACKOFF_SECONDS[attempt])
        raise AssertionError("unreachable: the last attempt returns or raises")


def telegram_session(api_base: str) -> AiohttpSession:
    """The bot's HTTP session to the Bot API at `api_base`, riding out passing failures."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
    session.middleware(RetryPassingFailures())
    return session
