"""/stats [YYYY-MM-DD]: the admin's figures and chart, computed by a worker.

The date is checked here (a precise message for each way it can be wrong); the report itself
reads the whole history, so it is the task's, never the bot's.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot_frontend import admin_args
from bot_frontend.middlewares import AdminOnly
from bot_frontend.producer import Tasks
from infra import task_names, texts
from models.domain import stats as rules

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _refusal(words: list[str], *, now: datetime) -> str | None:
    """Why these arguments are not a day to report on, or None if they are (or are none)."""
    if len(words) > 1:
        return texts.USAGE_STATS
    if not words:
        return None
    (word,) = words
    if not _DATE.fullmatch(word):
        return texts.stats_not_a_date(word=word)
    try:
        rules.as_of_date(date.fromisoformat(word), now=now)
    except rules.BadStatsDate:
        return texts.stats_future_date(word=word, today=now.date().isoformat())
    except ValueError as error:
        return texts.stats_invalid_date(word=word, error=str(error))
    return None


async def stats(message: Message, command: CommandObject, tasks: Tasks) -> None:
    words = admin_args.words(command.args)
    refusal = _refusal(words, now=datetime.now(UTC))
    if refusal is not None:
        await message.answer(refusal)
        return
    await admin_args.queue(message, tasks, task_names.ADMIN_STATS, words[0] if words else None)


def create_router() -> Router:
    """A fresh router with this module's handler (a router joins one dispatcher only)."""
    router = Router(name="admin_stats")
    router.message.middleware(AdminOnly())
    router.message.register(stats, Command("stats"))
    return router
