"""Receiving updates from the stand-in (methods/polling.py, webhook.py): long polling through a real
aiogram Dispatcher, getUpdates semantics and conflicts, webhook delivery."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from aiogram import Dispatcher, Router
from aiogram.exceptions import TelegramConflictError
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup
from aiohttp import web
from tg_sandbox_support import bot_on, subscriber, wait_until

from infra.sandbox.server import BackgroundServer
from infra.sandbox.telegram import TelegramSandbox, people
from infra.settings import SANDBOX_CHANNEL_ID

PAY = InlineKeyboardMarkup(
    inline_keyboard=[[InlineKeyboardButton(text="Pay", callback_data="pay")]],
)


def test_dispatcher_long_polling_delivers_a_pressed_button(
    telegram_sandbox: TelegramSandbox,
) -> None:
    """A button pressed through the control API reaches an aiogram callback_query handler."""
    subscriber(telegram_sandbox, 5)
    router = Router()
    received: list[str | None] = []

    @router.callback_query()
    async def on_press(query: CallbackQuery) -> None:
        received.append(query.data)
        await query.answer("Opening the invoice")

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            sent = await bot.send_message(5, "Choose a plan", reply_markup=PAY)
            dispatcher = Dispatcher()
            dispatcher.include_router(router)
            polling = asyncio.create_task(dispatcher.start_polling(
                bot, handle_signals=False, close_bot_session=False, polling_timeout=1,
            ))
            await asyncio.sleep(0.2)
            await asyncio.to_thread(httpx_post, telegram_sandbox,
                                    "/control/users/5/callbacks",
                                    {"message_id": sent.message_id, "data": "pay"})
            for _ in range(200):
                if received:
                    break
                await asyncio.sleep(0.02)
            await dispatcher.stop_polling()
            await polling

    asyncio.run(scenario())
    assert received == ["pay"]
    query = next(iter(telegram_sandbox.world.callback_queries.values()))
    wait_until(lambda: query.answered, what="the callback answer")
    assert query.answer_text == "Opening the invoice"


def test_offset_confirms_and_limit_caps(telegram_sandbox: TelegramSandbox) -> None:
    """offset confirms everything below it; limit caps one answer; ids keep their order."""
    subscriber(telegram_sandbox, 5)
    for text in ("one", "two", "three"):
        people.send_text(telegram_sandbox.world, user_id=5, text=text)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            first = await bot.get_updates(limit=2)
            assert [u.message.text for u in first if u.message] == ["one", "two"]
            rest = await bot.get_updates(offset=first[-1].update_id + 1)
            assert [u.message.text for u in rest if u.message] == ["three"]
            assert await bot.get_updates(offset=rest[-1].update_id + 1) == []

    asyncio.run(scenario())


def test_long_poll_waits_for_timeout_or_the_next_update(telegram_sandbox: TelegramSandbox) -> None:
    """timeout holds an empty getUpdates open; a new update ends it early."""
    subscriber(telegram_sandbox, 5)

    async def scenario() -> tuple[float, float]:
        async with bot_on(telegram_sandbox) as bot:
            started = time.monotonic()
            assert await bot.get_updates(timeout=1) == []
            empty = time.monotonic() - started
            threading.Timer(0.2, people.send_text,
                            kwargs={"world": telegram_sandbox.world, "user_id": 5,
                                    "text": "hi"}).start()
            started = time.monotonic()
            updates = await bot.get_updates(timeout=10)
            assert [u.message.text for u in updates if u.message] == ["hi"]
            return empty, time.monotonic() - started

    empty, woken = asyncio.run(scenario())
    assert 0.9 <= empty < 3
    assert woken < 3


def test_chat_member_updates_need_allowed_updates(telegram_sandbox: TelegramSandbox) -> None:
    """chat_member is off by default and sticky once asked for; the update names the link."""
    world = telegram_sandbox.world
    for user_id in (5, 6):
        subscriber(telegram_sandbox, user_id)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            link = await bot.create_chat_invite_link(SANDBOX_CHANNEL_ID)
            people.open_invite_link(world, user_id=5, invite_link=link.invite_link)
            assert await bot.get_updates() == []
            await bot.get_updates(allowed_updates=["chat_member", "message"])
            people.open_invite_link(world, user_id=6, invite_link=link.invite_link)
            updates = await bot.get_updates()  # no allowed_updates: the filter sticks
            assert len(updates) == 1 and updates[0].chat_member is not None
            change = updates[0].chat_member
            assert (change.old_chat_member.status, change.new_chat_member.status) == (
                "left", "member",
            )
            assert change.invite_link is not None
            assert change.invite_link.invite_link == link.invite_link

    asyncio.run(scenario())


def test_join_requests_and_blocks_are_updates(telegram_sandbox: TelegramSandbox) -> None:
    """A join request carries its invite link; blocking the bot is a my_chat_member update."""
    world = telegram_sandbox.world
    subscriber(telegram_sandbox, 5)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            link = await bot.create_chat_invite_link(SANDBOX_CHANNEL_ID,
                                                     creates_join_request=True)
            people.open_invite_link(world, user_id=5, invite_link=link.invite_link)
            people.set_blocked(world, user_id=5, blocked=True)
            request, blocked = await bot.get_updates()
            assert request.chat_join_request is not None
            assert request.chat_join_request.user_chat_id == 5
            assert request.chat_join_request.invite_link is not None
            assert request.chat_join_request.invite_link.invite_link == link.invite_link
            assert blocked.my_chat_member is not None
            assert blocked.my_chat_member.new_chat_member.status == "kicked"

    asyncio.run(scenario())


def test_get_updates_conflicts_with_a_webhook(telegram_sandbox: TelegramSandbox) -> None:
    """While a webhook is set getUpdates is 409; deleteWebhook makes polling possible again."""
    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            await bot.set_webhook("http://127.0.0.1:9/never")
            with pytest.raises(TelegramConflictError, match="webhook is active"):
                await bot.get_updates()
            await bot.delete_webhook()
            assert await bot.get_updates() == []

    asyncio.run(scenario())


def test_a_second_poller_terminates_the_first(telegram_sandbox: TelegramSandbox) -> None:
    """Two pollers: the waiting one gets 409 "terminated by other getUpdates request"."""
    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as first, bot_on(telegram_sandbox) as second:
            waiting = asyncio.create_task(first.get_updates(timeout=10))
            await asyncio.sleep(0.2)
            assert await second.get_updates() == []
            with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
                await waiting

    asyncio.run(scenario())


class HookReceiver:
    """A local webhook endpoint that records requests and answers scripted statuses."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[tuple[dict[str, object], str | None]] = []
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self.server = BackgroundServer(app)

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append(
            (await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token")),
        )
        return web.json_response({}, status=self.statuses.pop(0) if self.statuses else 200)


def test_webhook_delivery_with_secret_and_retries(telegram_sandbox: TelegramSandbox) -> None:
    """Updates are POSTed with the secret header; a failure is retried and shown in the info."""
    receiver = HookReceiver()
    receiver.statuses = [500]
    subscriber(telegram_sandbox, 5)
    with receiver.server:
        url = f"{receiver.server.base_url}/hook"

        async def configure() -> None:
            async with bot_on(telegram_sandbox) as bot:
                assert await bot.set_webhook(url, secret_token="s3cret_token")

        asyncio.run(configure())
        people.send_text(telegram_sandbox.world, user_id=5, text="/myplan")
        wait_until(lambda: len(receiver.received) >= 2, what="the retried delivery")

        async def inspect() -> None:
            async with bot_on(telegram_sandbox) as bot:
                info = await bot.get_webhook_info()
                assert (info.url, info.pending_update_count) == (url, 0)
                assert info.last_error_message == (
                    "Wrong response from the webhook: 500 Internal Server Error"
                )
                assert info.last_error_date is not None

        asyncio.run(inspect())
    first, second = receiver.received[:2]
    assert first == second
    body, secret = first
    assert secret == "s3cret_token"
    message = body["message"]
    assert isinstance(message, dict) and message["text"] == "/myplan"


def httpx_post(sandbox: TelegramSandbox, path: str, body: dict[str, object]) -> None:
    httpx.post(f"{sandbox.base_url}{path}", json=body).raise_for_status()
