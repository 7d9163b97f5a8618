"""Admin command arguments: strict parsing (a typo changes nothing), the known-user check."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from aiogram.filters import CommandObject
from aiogram.types import Message
from sqlalchemy.orm import Session, sessionmaker

from bot_frontend import queries
from bot_frontend.db import read
from bot_frontend.middlewares import admin_command
from bot_frontend.producer import Tasks
from infra import texts
from models.domain.plans import MAX_PLAN_DAYS

_WHOLE = re.compile(r"[0-9]{1,19}")
_PCT = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,2})?")
MAX_USER_ID = 2**63 - 1


class BadArguments(ValueError):
    """The arguments do not fit the command's usage line."""


async def refuse_arguments(message: Message, command: CommandObject) -> bool:
    """For a command that takes none: show its usage if any were given; True if it did."""
    if not command.args:
        return False
    await message.answer(texts.usage_without_arguments(command=command.command))
    return True


def words(args: str | None) -> list[str]:
    return (args or "").split()


def user_id(word: str) -> int:
    if not _WHOLE.fullmatch(word) or not 0 < int(word) <= MAX_USER_ID:
        raise BadArguments(word)
    return int(word)


def days(word: str, *, minimum: int) -> int:
    if not _WHOLE.fullmatch(word) or not minimum <= int(word) <= MAX_PLAN_DAYS:
        raise BadArguments(word)
    return int(word)


def pct(word: str) -> Decimal:
    if not _PCT.fullmatch(word) or not 0 < Decimal(word) <= 100:
        raise BadArguments(word)
    return Decimal(word)


def command_of(message: Message) -> dict[str, Any]:
    """The admin task's `command`: the admin, the text, and a key unique to this message."""
    assert message.from_user is not None
    return admin_command(actor_id=message.from_user.id, text=message.text or "",
                         request_key=f"{message.chat.id}:{message.message_id}")


async def known_user(message: Message, sessions: sessionmaker[Session], user_id: int) -> bool:
    """True if the bot knows the user; otherwise say so (checked before any task is sent)."""
    if await read(sessions, queries.user_exists, user_id=user_id):
        return True
    await message.answer(texts.unknown_user(user_id=user_id))
    return False


async def queue(message: Message, tasks: Tasks, name: str, *args: Any) -> None:
    """Send the admin task `name` (the command first, then `args`) and say it is queued."""
    await tasks.send(name, command_of(message), *args)
    await message.answer(texts.ADMIN_QUEUED)
