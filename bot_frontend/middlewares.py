"""Middlewares: inject the bot's dependencies; FSM state where it is needed; the sender's
language; gate on accepted terms; staff only, by role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.flags import get_flag
from aiogram.filters import CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User
from sqlalchemy.orm import Session, sessionmaker

from bot_frontend import queries
from bot_frontend.db import read
from bot_frontend.producer import Tasks
from infra import task_names, texts
from infra.i18n import resolve, use_language
from infra.settings import Settings
from models import staff
from models.domain import roles

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
        languages: Language | None = data.get("languages")
        # The read shows the language the user chose: the handler speaks it.
        with (languages.speak(user, state.language) if languages and user and state
              else nullcontext()):
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


# The handler flag naming the admin command a handler belongs to, for the handlers no command
# or button names (a conversation's later steps): `flags={STAFF_ACTION: "broadcast"}`.
STAFF_ACTION = "staff_action"


def staff_action(data: dict[str, Any]) -> str:
    """The admin command or button the matched handler serves, as models/domain/roles.py
    names it: the handler's flag, else the command, else the button's prefix."""
    flagged = get_flag(data, STAFF_ACTION)
    if isinstance(flagged, str):
        return flagged
    command = data.get("command")
    if isinstance(command, CommandObject):
        return command.command
    button = data.get("callback_data")
    if isinstance(button, CallbackData):
        return str(button.__prefix__)
    return ""  # not in the table: the owner's alone


class AdminOnly(BaseMiddleware):
    """Runs after the filters matched an admin command or button: staff whose role allows it
    (models/domain/roles.py), in a private chat, only.

    The role is read here, so only admin commands and buttons pay for the read (an ADMIN_IDS
    owner not even that). Anyone else is refused and audited, the refusal naming the command
    and the role. In a group even an owner is refused (`/payouts` would post wallets for every
    member to read), and nothing is posted there: a pressed button's refusal is an alert only
    the presser sees.
    """

    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        settings: Settings = data["settings"]
        user = data.get("event_from_user")
        user_id = user.id if user is not None else 0
        action, private = staff_action(data), _in_private_chat(event)
        role = (roles.Role.OWNER if user_id in settings.admins else None if user is None
                else await read(data["sessions"], staff.role_of, user_id, owners=settings.admins))
        if roles.allows(role, action) and private:
            return await handler(event, data)
        named = f"/{action}" if isinstance(event, Message) else action
        refusal = (texts.ADMIN_PRIVATE_ONLY if not private else texts.ADMIN_REFUSED
                   if role is None else texts.role_refused(
                       command=named, needed=roles.least_role(action).value, role=role.value))
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
                         user_id, "admin_refused", roles.refusal_details(role, action))
        return None



class Language(BaseMiddleware):
    """Every update is answered in its sender's language (infra.i18n.resolve).

    It makes no read of its own, so a rush of updates pays nothing for languages: the language
    chosen with /language comes with the user row the handlers read anyway
    (`queries.UserState.language`, read by /start, the plan menu and TermsAccepted), which
    `speak` remembers per user. Until a read has shown a user's choice, the update's own
    language_code decides.
    """

    MAX_USERS = 100_000

    def __init__(self) -> None:
        self._chosen: dict[int, str | None] = {}

    def remember(self, user_id: int, language: str | None) -> None:
        if len(self._chosen) >= self.MAX_USERS and user_id not in self._chosen:
            self._chosen.clear()
        self._chosen[user_id] = language

    def speak(self, user: User, chosen: str | None) -> AbstractContextManager[str]:
        """After a read of `user`'s row: remember their choice, and speak it in the block."""
        self.remember(user.id, chosen)
        return use_language(resolve(chosen=chosen, telegram_code=user.language_code))

    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        data["languages"] = self
        if user is None:
            return await handler(event, data)
        with use_language(resolve(chosen=self._chosen.get(user.id),
                                  telegram_code=user.language_code)):
            return await handler(event, data)
