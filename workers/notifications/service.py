"""Sending a message the outbox holds: text plus optional URL or callback buttons."""

from __future__ import annotations

from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from infra.telegram import Lane
from models.outbox import Effect
from workers.context import WorkerContext


def keyboard(payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    """Inline keyboard from the rows of `buttons` in an effect payload ({text, url or data})."""
    rows: list[list[InlineKeyboardButton]] = []
    for row in payload.get("buttons", []):
        rows.append([
            InlineKeyboardButton(text=b["text"], url=b.get("url"), callback_data=b.get("data"))
            for b in row
        ])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def send_message(
    ctx: WorkerContext, effect: Effect, *, lane: Lane = Lane.INTERACTIVE
) -> dict[str, Any]:
    payload = effect.payload
    message = ctx.telegram.send_message(
        chat_id=payload["chat_id"], text=payload["text"], reply_markup=keyboard(payload),
        lane=lane,
    )
    return {"message_id": message.message_id}


def send_bulk_message(ctx: WorkerContext, effect: Effect) -> dict[str, Any]:
    """A message of a wave: it takes the send budget only where no one waits for it."""
    return send_message(ctx, effect, lane=Lane.BULK)
