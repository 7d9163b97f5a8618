"""When a task cannot be queued (the broker is down), the user hears so instead of silence."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent
from kombu.exceptions import OperationalError

from infra import texts
from infra.logging import get_logger

log = get_logger("bot_frontend")


async def broker_unavailable(event: ErrorEvent) -> None:
    log.error("task_not_queued", error=str(event.exception))
    update = event.update
    if update.message is not None:
        await update.message.answer(texts.TRY_AGAIN_LATER)
    elif update.callback_query is not None:
        await update.callback_query.answer(texts.TRY_AGAIN_LATER, show_alert=True)


def create_router() -> Router:
    """A fresh router with this module's handlers (a router joins one dispatcher only)."""
    router = Router(name="errors")
    router.errors.register(broker_unavailable, ExceptionTypeFilter(OperationalError))
    return router
