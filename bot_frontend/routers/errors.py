"""When Redis is out of reach, the user hears so instead of silence.

Redis carries both the broker (a task cannot be queued: kombu's OperationalError) and the FSM
storage (state cannot be read before any handler runs: redis-py's own errors). Either way the
update cannot be served now, and asking again in a minute is the honest answer.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from infra import texts
from infra.i18n import resolve, use_language
from infra.logging import get_logger

log = get_logger("bot_frontend")


async def redis_unavailable(event: ErrorEvent) -> None:
    failure = event.exception
    log.error("redis_unavailable", error=str(failure), error_type=type(failure).__name__,
              task_not_queued=isinstance(failure, OperationalError))
    update = event.update
    # The failure may come before the Language middleware ran: Telegram's language_code serves.
    sender = (update.message or update.callback_query)
    code = sender.from_user.language_code if sender and sender.from_user else None
    with use_language(resolve(chosen=None, telegram_code=code)):
        if update.message is not None:
            await update.message.answer(texts.TRY_AGAIN_LATER)
        elif update.callback_query is not None:
            await update.callback_query.answer(texts.TRY_AGAIN_LATER, show_alert=True)


def create_router() -> Router:
    """A fresh router with this module's handlers (a router joins one dispatcher only)."""
    router = Router(name="errors")
    router.errors.register(redis_unavailable, ExceptionTypeFilter(OperationalError, RedisError))
    return router
