"""The bot's own calls ride out a 429 or a 5xx against the Telegram stand-in with faults on."""

from __future__ import annotations

import time

import httpx
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter, TelegramServerError

from bot_frontend.telegram_retry import telegram_session
from infra.sandbox.telegram import TelegramSandbox, people
from tests.fixtures.sandboxes import TelegramFaults

pytestmark = pytest.mark.anyio
ANN = 5001


def send_calls(sandbox: TelegramSandbox) -> int:
    answer = httpx.get(f"{sandbox.base_url}/control/calls", params={"method": "sendMessage"},
                       timeout=5).json()
    return len(answer["result"])


@pytest.fixture
def ann(telegram_sandbox: TelegramSandbox) -> int:
    people.create_user(telegram_sandbox.world, user_id=ANN, first_name="Ann")
    people.send_text(telegram_sandbox.world, user_id=ANN, text="/start")
    return ANN


@pytest.mark.parametrize("failure", ["server_error", "retry_after"])
async def test_a_reply_that_meets_a_passing_failure_is_still_delivered(
    telegram_sandbox: TelegramSandbox, telegram_faults: TelegramFaults, ann: int, failure: str,
) -> None:
    """Two 5xx (or 429s with retry_after 1 s) in a row: the third attempt delivers, once."""
    telegram_faults.fail("sendMessage", failure, user_id=ann, times=2, retry_after=1)
    async with Bot(telegram_sandbox.token,
                   session=telegram_session(telegram_sandbox.base_url)) as bot:
        sent = await bot.send_message(ann, "hello")
    assert sent.text == "hello"
    assert send_calls(telegram_sandbox) == 3


async def test_a_long_flood_wait_or_a_lasting_outage_is_raised_not_waited_out(
    telegram_sandbox: TelegramSandbox, telegram_faults: TelegramFaults, ann: int,
) -> None:
    """retry_after above the cap is raised at once; a 5xx on every attempt is raised after
    three tries."""
    telegram_faults.fail("sendMessage", "retry_after", user_id=ann, times=1, retry_after=60)
    async with Bot(telegram_sandbox.token,
                   session=telegram_session(telegram_sandbox.base_url)) as bot:
        started = time.monotonic()
        with pytest.raises(TelegramRetryAfter):
            await bot.send_message(ann, "hello")
        assert time.monotonic() - started < 5
        telegram_faults.clear()
        telegram_faults.fail("sendMessage", "server_error", user_id=ann)
        with pytest.raises(TelegramServerError):
            await bot.send_message(ann, "hello")
    assert send_calls(telegram_sandbox) == 1 + 3
