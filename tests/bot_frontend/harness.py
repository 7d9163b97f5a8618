"""Driving the real dispatcher in tests: a recording Bot API session and a recording producer.

`RecordingSession` follows aiogram's own MockedSession: it records each method object and
runs the real `check_response` on a plausible JSON answer, so results are parsed as they would
be from Telegram. `BotHarness` feeds real `Update` objects through `dp.feed_update`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.methods import (
    AnswerCallbackQuery,
    AnswerPreCheckoutQuery,
    EditMessageText,
    GetMe,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import (
    CallbackQuery,
    Chat,
    ChatInviteLink,
    ChatJoinRequest,
    InlineKeyboardMarkup,
    Message,
    PreCheckoutQuery,
    SuccessfulPayment,
    Update,
    User,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from bot_frontend.spool import SpoolRelay

BOT_ID = 42
BOT_USERNAME = "test_paywall_bot"


class RecordingSession(BaseSession):
    """Answers every call with a plausible result and keeps the calls in `requests`."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self._ids = itertools.count(1000)

    async def close(self) -> None:
        pass

    async def make_request(self, bot: Bot, method: TelegramMethod[Any],
                           timeout: int | None = None) -> Any:
        self.requests.append(method)
        content = json.dumps({"ok": True, "result": self._result(method)})
        return self.check_response(bot=bot, method=method, status_code=200,
                                   content=content).result

    async def stream_content(self, url: str, headers: dict[str, Any] | None = None,
                             timeout: int = 30, chunk_size: int = 65536,
                             raise_for_status: bool = True) -> AsyncGenerator[bytes, None]:
        yield b""

    def _result(self, method: TelegramMethod[Any]) -> Any:
        if isinstance(method, GetMe):
            return {"id": BOT_ID, "is_bot": True, "first_name": "Bot", "username": BOT_USERNAME}
        if method.__returning__ is bool:
            return True
        chat_id = getattr(method, "chat_id", None) or 1
        return {"message_id": next(self._ids), "date": int(datetime.now(UTC).timestamp()),
                "chat": {"id": chat_id, "type": "private"}, "text": getattr(method, "text", "")}


class RecordingProducer:
    """Stands in for the Celery app: records `send_task(name, args)` calls."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any]]] = []
        self.failure: Exception | None = None

    def send_task(self, name: str, args: Any = None, **options: Any) -> None:
        if self.failure is not None:
            raise self.failure
        self.sent.append((name, list(args or [])))


class RedisDown(BaseStorage):
    """FSM storage on a Redis that does not answer, as the bot's is when the broker is down.

    Every call raises `failure` (by default redis-py's "connection refused").
    """

    def __init__(self, failure: RedisError | None = None) -> None:
        self.failure = failure or RedisConnectionError(
            "Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    async def _down(self, *args: Any, **kwargs: Any) -> Any:
        raise self.failure

    async def set_state(self, key: StorageKey, state: Any = None) -> None:
        await self._down()

    async def get_state(self, key: StorageKey) -> str | None:
        return await self._down()  # type: ignore[no-any-return]

    async def set_data(self, key: StorageKey, data: Any) -> None:
        await self._down()

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return await self._down()  # type: ignore[no-any-return]

    async def close(self) -> None:
        pass


@dataclass
class BotHarness:
    dp: Dispatcher
    bot: Bot
    session: RecordingSession
    producer: RecordingProducer
    relay: SpoolRelay
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # What the dispatcher returned for the last press (aiogram's UNHANDLED when no handler).
    last_result: Any = None
    # The language_code Telegram reports per user; "en" for anyone not listed.
    language_codes: dict[int, str] = field(default_factory=dict)

    def _user(self, user_id: int) -> User:
        return User(id=user_id, is_bot=False, first_name=f"user{user_id}",
                    username=f"u{user_id}", language_code=self.language_codes.get(user_id, "en"))

    def _message(self, user_id: int, text: str, group: int | None = None) -> Message:
        chat = (Chat(id=user_id, type="private") if group is None
                else Chat(id=group, type="supergroup", title="a group"))
        return Message(message_id=next(self._ids), date=datetime.now(UTC), chat=chat,
                       from_user=self._user(user_id), text=text)

    async def send(self, user_id: int, text: str, *, group: int | None = None) -> None:
        """The user sends `text` to the bot in their private chat (or in the `group` chat)."""
        update = Update(update_id=next(self._update_ids),
                        message=self._message(user_id, text, group))
        await self.dp.feed_update(self.bot, update)

    async def press(self, user_id: int, data: str, *, group: int | None = None) -> str:
        """The user presses an inline button carrying `data` (on a message in `group`, if
        given); returns the callback query id."""
        query_id = f"cq{next(self._ids)}"
        query = CallbackQuery(id=query_id, from_user=self._user(user_id), chat_instance="ci",
                              data=data, message=self._message(user_id, "(keyboard)", group))
        self.last_result = await self.dp.feed_update(
            self.bot, Update(update_id=next(self._update_ids), callback_query=query))
        return query_id

    async def join(self, user_id: int, chat_id: int, link: str | None) -> None:
        """The user asks to join `chat_id` through `link`."""
        invite = None if link is None else ChatInviteLink(
            invite_link=link, creator=self._user(BOT_ID), creates_join_request=True,
            is_primary=False, is_revoked=False)
        request = ChatJoinRequest(chat=Chat(id=chat_id, type="channel"),
                                  from_user=self._user(user_id), user_chat_id=user_id,
                                  date=datetime.now(UTC), invite_link=invite)
        await self.dp.feed_update(self.bot, Update(update_id=next(self._update_ids),
                                                   chat_join_request=request))

    async def pre_checkout(self, user_id: int, payload: str, *, total_amount: int,
                           currency: str = "XTR") -> AnswerPreCheckoutQuery:
        """Telegram asks whether to charge `user_id` for the invoice `payload`; the answer."""
        query = PreCheckoutQuery(id=f"pcq{next(self._ids)}", from_user=self._user(user_id),
                                 currency=currency, total_amount=total_amount,
                                 invoice_payload=payload)
        await self.dp.feed_update(self.bot, Update(update_id=next(self._update_ids),
                                                   pre_checkout_query=query))
        answers = [m for m in self.session.requests if isinstance(m, AnswerPreCheckoutQuery)
                   and m.pre_checkout_query_id == query.id]
        assert len(answers) == 1, "a pre-checkout query is answered exactly once"
        return answers[0]

    async def successful_payment(self, user_id: int, payload: str, *, total_amount: int,
                                 charge_id: str, currency: str = "XTR") -> None:
        """Telegram reports the charge in a service message from the payer."""
        message = self._message(user_id, "").model_copy(update={
            "text": None, "successful_payment": SuccessfulPayment(
                currency=currency, total_amount=total_amount, invoice_payload=payload,
                telegram_payment_charge_id=charge_id, provider_payment_charge_id="")})
        await self.dp.feed_update(self.bot, Update(update_id=next(self._update_ids),
                                                   message=message))

    # What the bot did -------------------------------------------------------------------

    @property
    def tasks(self) -> list[tuple[str, list[Any]]]:
        return self.producer.sent

    def replies(self) -> list[str]:
        """Texts the bot sent or edited, oldest first."""
        return [m.text or "" for m in self.session.requests
                if isinstance(m, SendMessage | EditMessageText)]

    def last_reply(self) -> str:
        return self.replies()[-1]

    def last_markup(self) -> InlineKeyboardMarkup:
        for method in reversed(self.session.requests):
            if isinstance(method, SendMessage | EditMessageText):
                assert isinstance(method.reply_markup, InlineKeyboardMarkup)
                return method.reply_markup
        raise AssertionError("the bot sent no message")

    def buttons(self) -> list[str | None]:
        """Callback data (or URL) of the last keyboard's buttons, row by row."""
        return [b.callback_data or b.url for row in self.last_markup().inline_keyboard
                for b in row]

    def callback_answers(self) -> list[AnswerCallbackQuery]:
        return [m for m in self.session.requests if isinstance(m, AnswerCallbackQuery)]
