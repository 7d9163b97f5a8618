"""Helpers shared by the Telegram stand-in's tests: a real aiogram Bot on it, people, waiting."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from infra.sandbox.telegram import TelegramSandbox, people


@asynccontextmanager
async def bot_on(sandbox: TelegramSandbox, *, token: str | None = None) -> AsyncIterator[Bot]:
    """An aiogram Bot talking to the stand-in exactly as production talks to api.telegram.org."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(sandbox.base_url))
    async with Bot(token or sandbox.token, session=session) as bot:
        yield bot


def subscriber(
    sandbox: TelegramSandbox, user_id: int, name: str = "Ann", *, started: bool = True,
) -> int:
    """Create a person; `started` means they pressed START (their /start is then confirmed)."""
    people.create_user(sandbox.world, user_id=user_id, first_name=name)
    if started:
        people.send_text(sandbox.world, user_id=user_id, text="/start")
        sandbox.world.default_bot.updates.clear()
    return user_id


def wait_until(condition: Callable[[], bool], *, timeout: float = 5.0, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)
