"""`history <user_id>` and `status`: what happened to a user, and how the machinery is doing."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import func, select

from infra.ops.tools import OK, REFUSED, UNAVAILABLE, OpsError, Tools
from infra.redact import redact_url
from models import inbox
from models.schema import AccessHistory, DeadLetter, Invoice, PaymentEvent, TelegramEffect
from workers.observability import queue_depths, unacked_messages
from workers.payments.service import OPEN_STATUSES


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def _history_line(entry: AccessHistory) -> str:
    parts = [f"{entry.created_at:%Y-%m-%d %H:%M:%S}", entry.action, f"by {entry.source}"]
    if entry.actor_id is not None:
        parts.append(f"actor {entry.actor_id}")
    if entry.chat_id is not None:
        parts.append(f"chat {entry.chat_id}")
    if entry.invoice_id is not None:
        parts.append(f"invoice #{entry.invoice_id}")
    if entry.paid_through_before or entry.paid_through_after:
        parts.append(f"paid through {_when(entry.paid_through_before)} → "
                     f"{_when(entry.paid_through_after)}")
    if entry.command:
        parts.append(f"command {entry.command!r}")
    if entry.details:
        details = json.loads(entry.details)
        parts.append(" ".join(f"{key}={value}" for key, value in details.items()))
    return "  ".join(parts)


def history(tools: Tools, *, user_id: int) -> int:
    with tools.sessions() as session:
        entries = session.scalars(
            select(AccessHistory).where(AccessHistory.user_id == user_id)
            .order_by(AccessHistory.created_at.desc(), AccessHistory.id.desc())
        ).all()
    if not entries:
        raise OpsError(f"no access history for user {user_id}", code=REFUSED)
    for entry in entries:
        tools.say(_history_line(entry))
    return OK


def status(tools: Tools) -> int:
    def count(model: Any, *where: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    with tools.sessions() as session:
        tools.say(f"open invoices: {count(Invoice, Invoice.status.in_(OPEN_STATUSES))}")
        open_events = PaymentEvent.processed_at.is_(None)
        given_up = count(PaymentEvent, open_events,
                         PaymentEvent.attempts >= inbox.MAX_EVENT_ATTEMPTS)
        tools.say(f"unprocessed payment events: {count(PaymentEvent, open_events)} "
                  f"(given up: {given_up}, see recheck-invoice)")
        tools.say("pending Telegram effects: "
                  f"{count(TelegramEffect, TelegramEffect.status == 'pending')}")
        tools.say(f"dead letters waiting: {count(DeadLetter, DeadLetter.replayed_at.is_(None))}"
                  f" (of {count(DeadLetter)})")
    try:
        depths = queue_depths(tools.redis)
        unacked = unacked_messages(tools.redis)
    except RedisError as error:
        raise OpsError(f"queues: Redis at {redact_url(tools.settings.broker_url)} does not answer "
                       f"({type(error).__name__})", code=UNAVAILABLE) from None
    tools.say("queues: " + ", ".join(f"{name} {depth}" for name, depth in depths.items())
              + f"; unacknowledged {unacked}")
    return OK
