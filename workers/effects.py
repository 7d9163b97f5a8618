"""Running one outbox effect with the failure policy every Telegram side effect shares.

Transient failures (429, 5xx, network) retry with `retry_after` or backoff; a user who blocked
the bot is recorded on the user and the effect fails without retrying; any other refusal is
recorded and never retried. A finished effect is never performed again.

A task claims its effect before performing it, for EFFECT_RELAY_AFTER_SECONDS, and renews the
claim while it works (a retry holds it through its countdown too): another copy of the message
finds it held and leaves it, however slow Telegram is, and if the holder dies the claim runs
out and the relay hands the effect to a new task (payments.relay_inbox), long before Redis
would give the dead worker's message back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Task
from redis.exceptions import RedisError
from sqlalchemy import update

from infra.celery_config import MAX_COUNTDOWN
from infra.logging import get_logger
from infra.telegram import TelegramBlocked, TelegramPermanent, TelegramTransient, retry_countdown
from models.outbox import Effect, claim_effect, finish_effect, load_effect, note_attempt
from models.schema import User
from workers.context import WorkerContext, context

log = get_logger("workers.effects")
EFFECT_MAX_RETRIES = 12  # then the effect stays pending and the relay tries again later

Perform = Callable[[WorkerContext, Effect], dict[str, Any]]


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _claim_renewed(ctx: WorkerContext, effect_id: int, *, owner: str,
                   lease: timedelta) -> Iterator[None]:
    """Keep the claim alive while the block runs: renewed every third of the lease.

    The renewals stop with the block, or with the process: a dead worker's claim runs out.
    """
    done = threading.Event()

    def renew() -> None:
        while not done.wait(lease.total_seconds() / 3):
            with ctx.sessions.begin() as session:
                claim_effect(session, effect_id, owner=owner, now=_now(), lease=lease)

    renewer = threading.Thread(target=renew, name=f"claim-{effect_id}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        done.set()
        renewer.join()


def run_effect(task: Task, effect_id: int, perform: Perform) -> str:
    """Perform the pending effect `effect_id` once; return what became of it."""
    ctx = context()
    with ctx.sessions.begin() as session:
        effect = load_effect(session, effect_id)
    if effect is None or effect.status != "pending":
        return "already finished"
    owner = str(task.request.id)
    lease = timedelta(seconds=ctx.settings.effect_relay_after_seconds)
    with ctx.sessions.begin() as session:
        if not claim_effect(session, effect_id, owner=owner, now=_now(), lease=lease):
            return "held by another task"
    bound = log.bind(effect_id=effect_id, effect=effect.key)
    try:
        with _claim_renewed(ctx, effect_id, owner=owner, lease=lease):
            result = perform(ctx, effect)
    except (TelegramTransient, RedisError) as error:
        # The send budget lives in Redis: a Redis hiccup is as transient as a 429.
        failure = error if isinstance(error, TelegramTransient) else TelegramTransient(
            description=f"send budget unavailable: {type(error).__name__}")
        countdown = retry_countdown(failure, task.request.retries, cap=MAX_COUNTDOWN)
        with ctx.sessions.begin() as session:
            note_attempt(session, effect_id, error=str(failure), now=_now())
            # The retry (same task id) holds it through its countdown, then for a lease.
            claim_effect(session, effect_id, owner=owner, now=_now(),
                         lease=lease + timedelta(seconds=countdown))
        bound.warning("effect_retry", countdown=round(countdown, 2), error=str(failure))
        raise task.retry(countdown=countdown, max_retries=EFFECT_MAX_RETRIES) from None
    except TelegramBlocked as blocked:
        with ctx.sessions.begin() as session:
            finish_effect(session, effect_id, status="failed", now=_now(), error=str(blocked))
            if effect.chat_id is not None and effect.chat_id > 0:
                session.execute(
                    update(User)
                    .where(User.id == effect.chat_id, User.blocked_bot_at.is_(None))
                    .values(blocked_bot_at=_now())
                )
        bound.info("effect_user_unreachable", error=str(blocked))
        return "blocked"
    except TelegramPermanent as refused:
        with ctx.sessions.begin() as session:
            finish_effect(session, effect_id, status="failed", now=_now(), error=str(refused))
        bound.error("effect_refused", error=str(refused))
        return "failed"
    with ctx.sessions.begin() as session:
        finish_effect(session, effect_id, status="done", now=_now(), result=result)
    return "done"
