"""Middlewares: inject the bot's dependencies; FSM state where it is needed; the sender's
language; gate on accepted terms; admins only."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot_frontend import queries
from bot_frontend.db import read
from bot_frontend.producer import Tasks
from infra import task_names, texts
from infra.i18n import resolve, use_language
from infra.settings import Settings

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class Dependencies(BaseMiddleware):
    """Hands every handler `settings`, read-only `sessions` and the `tasks` producer."""

    def __init__(self, *, settings: Settings, sessions: sessionmaker[Session],
                 tasks: Tasks) -> None:
        self._deps = {"settings": settings, "sessions": sessions, "tasks": tasks}

    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        data.update(self._deps)
        return await handler(event, data)


class StateWhereNeeded(BaseMiddleware):
    """aiogram's FSM middleware for every update but join requests, which have no conversation.

    Reading FSM state needs Redis. A join request must reach its handler, and through it the
    spool, while Redis (the broker and the FSM storage) is down, or it would be lost.
    """

    def __init__(self, fsm: FSMContextMiddleware) -> None:
        self._fsm = fsm

    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        if isinstance(event, Update) and event.chat_join_request is not None:
            return await handler(event, data)
        return await self._fsm(handler, event, data)


class TermsAccepted(BaseMiddleware):
    """Runs after the filters matched: a user who has not accepted the terms gets only them."""

    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        sessions: sessionmaker[Session] = data["sessions"]
        state = None if user is None else await read(sessions, queries.user_state,
                                                     user_id=user.id)
        if state is not None and state.terms_accepted:
            return await handler(event, data)
        if isinstance(event, Message):
            await event.answer(texts.ACCEPT_TERMS_FIRST)
        return None


def admin_command(*, actor_id: int, text: str, request_key: str) -> dict[str, Any]:
    """The `command` argument of admin tasks: who, what, and a key unique to the message."""
    return {"actor_id": actor_id, "text": text, "request_key": request_key}


def _in_private_chat(event: TelegramObject) -> bool:
    message = event.message if isinstance(event, CallbackQuery) else event
    return isinstance(message, Message) and message.chat.type == "private"


class AdminOnly(BaseMiddleware):
    """Runs after the filters matched an admin command: admins, in a private chat, only.

    Anyone else is refused and audited. In a group even an admin is refused (`/payouts` would
    post wallets for every member to read), and nothing is posted there: a pressed button's
    refusal is an alert only the presser sees.
    """

    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        settings: Settings = data["settings"]
        user = data.get("event_from_user")
        is_admin, private = user is not None and user.id in settings.admins, _in_private_chat(event)
        if is_admin and private:
            return await handler(event, data)
        user_id = user.id if user is not None else 0
        refusal = texts.ADMIN_REFUSED if not is_admin else texts.ADMIN_PRIVATE_ONLY
        if isinstance(event, Message):
            text, key = event.text or "", f"{event.chat.id}:{event.message_id}"
            if private:
                await event.answer(refusal)
        elif isinstance(event, CallbackQuery):
            text, key = event.data or "", f"callback:{event.id}"
            await event.answer(refusal, show_alert=True)
        else:
            return None
        tasks: Tasks = data["tasks"]
        await tasks.send(task_names.ADMIN_AUDIT,
                         admin_command(actor_id=user_id, text=text, request_key=key),
                         user_id, "admin_refused")
        return None


class Language(BaseMiddleware):
    """Every update is answered in its sender's language (infra.i18n.resolve).

    The language chosen with /language is read once per user and kept for `ttl` seconds (a
    primary-key read, in a thread, for a user's first update in that time); the user's own
    choice is remembered at once (`remember`), so the answer to /language is already in it.
    Without a choice, the update's own language_code decides: no read is needed for it.
    """

    MAX_USERS = 50_000

    def __init__(self, *, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic,
                 ) -> None:
        self._ttl, self._clock = ttl, clock
        self._chosen: dict[int, tuple[str | None, float]] = {}

    def remember(self, user_id: int, language: str | None) -> None:
        if len(self._chosen) >= self.MAX_USERS:
            self._chosen.clear()
        self._chosen[user_id] = (language, self._clock() + self._ttl)

    async def chosen(self, sessions: sessionmaker[Session], user_id: int) -> str | None:
        kept = self._chosen.get(user_id)
        if kept is not None and kept[1] > self._clock():
            return kept[0]
        try:
            language = await read(sessions, queries.chosen_language, user_id=user_id)
        except SQLAlchemyError:  # the database is away: Telegram's language_code still serves
            return None
        self.remember(user_id, language)
        return language

    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        # A join request says nothing to anyone here, and must pass while the database is away.
        if user is None or (isinstance(event, Update) and event.chat_join_request is not None):
            return await handler(event, data)
        data["languages"] = self
        chosen = await self.chosen(data["sessions"], user.id)
        with use_language(resolve(chosen=chosen, telegram_code=user.language_code)):
            return await handler(event, data)
