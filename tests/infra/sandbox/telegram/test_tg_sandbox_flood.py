"""Flood limits of the Telegram stand-in (infra/sandbox/telegram/flood.py)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from aiogram.exceptions import TelegramRetryAfter
from tg_sandbox_support import bot_on, subscriber

from infra.sandbox.telegram import TelegramSandbox
from infra.sandbox.telegram.flood import FloodControl, FloodLimits


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_disabled_flood_control_admits_everything() -> None:
    """With the limits off (the default) no message is ever refused."""
    flood = FloodControl()
    assert all(flood.admit(bot_id=1, chat_id=5) is None for _ in range(100))


def test_per_chat_bucket_allows_a_burst_then_one_per_second() -> None:
    """A private chat takes a small burst, then is refused with retry_after until it refills."""
    clock = FakeClock()
    flood = FloodControl(enabled=True, clock=clock)
    assert [flood.admit(bot_id=1, chat_id=5) for _ in range(3)] == [None, None, None]
    assert flood.admit(bot_id=1, chat_id=5) == 1
    assert flood.admit(bot_id=1, chat_id=6) is None  # other chats are unaffected
    clock.now += 1.0
    assert flood.admit(bot_id=1, chat_id=5) is None


def test_global_bucket_caps_messages_per_second() -> None:
    """About 30 messages per second overall, whatever the chats."""
    flood = FloodControl(enabled=True, clock=FakeClock())
    results = [flood.admit(bot_id=1, chat_id=chat) for chat in range(1, 32)]
    assert results[:30] == [None] * 30
    assert results[30] == 1


def test_group_bucket_caps_messages_per_minute() -> None:
    """Channels and groups (negative ids) take 20 messages a minute; retry_after says when."""
    clock = FakeClock()
    limits = FloodLimits(per_chat_burst=100, per_chat_per_second=100)
    flood = FloodControl(enabled=True, limits=limits, clock=clock)
    assert [flood.admit(bot_id=1, chat_id=-100) for _ in range(20)] == [None] * 20
    assert flood.admit(bot_id=1, chat_id=-100) == 3  # one token per 3 s
    clock.now += 3.0
    assert flood.admit(bot_id=1, chat_id=-100) is None


def test_refused_messages_consume_nothing() -> None:
    """A 429 does not eat tokens from the other buckets."""
    clock = FakeClock()
    flood = FloodControl(enabled=True, limits=FloodLimits(global_per_second=4), clock=clock)
    for _ in range(3):
        flood.admit(bot_id=1, chat_id=5)
    assert flood.admit(bot_id=1, chat_id=5) == 1
    assert flood.admit(bot_id=1, chat_id=6) is None  # the global bucket still had its 4th token


def test_bursts_through_the_bot_api_get_retry_after(telegram_sandbox: TelegramSandbox) -> None:
    """With flood limits switched on, a burst to one chat ends in TelegramRetryAfter."""
    subscriber(telegram_sandbox, 5)
    response = httpx.post(f"{telegram_sandbox.base_url}/control/flood", json={"enabled": True})
    assert response.json()["result"]["enabled"] is True

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            for n in range(3):
                await bot.send_message(5, f"news {n}")
            with pytest.raises(TelegramRetryAfter) as caught:
                await bot.send_message(5, "one too many")
            assert caught.value.retry_after == 1

    asyncio.run(scenario())
    refused = telegram_sandbox.world.calls[-1]
    assert (refused.status, refused.description) == (429, "Too Many Requests: retry after 1")
