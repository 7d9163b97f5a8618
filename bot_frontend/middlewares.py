"""Middlewares: inject the bot's dependencies; FSM state where it is needed; gate on accepted
terms; admins only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update
from sqlalchemy.orm import Session, sessionmaker

from bot_frontend import queries
from bot_frontend.db import read
from bot_frontend.producer import Tasks
from infra import task_names, texts
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
    """aiogram's FSM middleware for every update but those with no conversation that must be
    served while Redis is down: join requests and Stars payments.

    Reading FSM state needs Redis. A join request and a `successful_payment` must reach their
    handler, and through it the spool, while Redis (the broker and the FSM storage) is down, or
    they would be lost; a pre-checkout query must be answered within 10 seconds regardless.
    """

    def __init__(self, fsm: FSMContextMiddleware) -> None:
        self._fsm = fsm

    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        if isinstance(event, Update) and (
                event.chat_join_request is not None or event.pre_checkout_query is not None
                or (event.message is not None and event.message.successful_payment is not None)):
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
