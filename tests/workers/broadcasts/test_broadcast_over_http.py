"""A broadcast through the real Telegram gateway against the stand-in with its faults on:
Telegram's own 429, 5xx and refusals, classified as in production."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.sandbox.telegram.people import add_started_users
from models.schema import Broadcast, BroadcastRecipient, User
from tests.workers.harness import Pipeline, make_pipeline, over_http

ADMIN = 100
LATE, FLAKY, BLOCKED, GONE, STRANGER, FINE = 811, 812, 813, 814, 815, 816
TEXT = "Sale ends tonight"


@pytest.fixture
def ctx(db_url: str, engine: Any, session_factory: sessionmaker[Session],
        telegram_sandbox: Any, redis_url: str) -> Iterator[Pipeline]:
    pipeline = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine,
                             admin_ids=str(ADMIN))
    pipeline.send_later = lambda name, *args, countdown: pipeline.queued.append(  # type: ignore[method-assign]
        (name, args))
    with over_http(pipeline, api_base=telegram_sandbox.base_url, redis_url=redis_url):
        yield pipeline


@pytest.mark.redis
def test_telegrams_answers_decide_each_recipient(ctx: Pipeline, telegram_sandbox: Any,
                                                 telegram_faults: Any) -> None:
    """429 and 500 are retried and end sent; blocked, deactivated and never-seen users end
    blocked (and marked); the others get exactly one message."""
    people = [LATE, FLAKY, BLOCKED, GONE, STRANGER, FINE]
    add_started_users(telegram_sandbox.world, [p for p in people if p != STRANGER])
    now = datetime.now(UTC)
    with ctx.sessions.begin() as session:
        session.execute(insert(User), [{"id": p, "first_name": f"u{p}", "created_at": now}
                                       for p in people])
    telegram_faults.fail("sendMessage", "retry_after", user_id=LATE, times=1, retry_after=1)
    telegram_faults.fail("sendMessage", "server_error", user_id=FLAKY, times=1)
    telegram_faults.fail("sendMessage", "bot_blocked", user_id=BLOCKED)
    telegram_faults.fail("sendMessage", "user_deactivated", user_id=GONE)

    ctx.queued.append((task_names.BROADCAST_START, (
        {"actor_id": ADMIN, "text": "/broadcast", "request_key": "http"},
        {"segment": "all", "days": None, "text": TEXT, "photo": None, "buttons": []})))
    ctx.drain(limit=200)

    with ctx.sessions() as session:
        outcome = dict(session.execute(select(BroadcastRecipient.user_id,
                                              BroadcastRecipient.status)).all())
        marked = set(session.scalars(select(User.id).where(User.blocked_bot_at.is_not(None))))
        status = session.scalar(select(Broadcast.status))
    assert outcome == {LATE: "sent", FLAKY: "sent", BLOCKED: "blocked", GONE: "blocked",
                       STRANGER: "blocked", FINE: "sent"}
    assert marked == {BLOCKED, GONE, STRANGER}
    assert status == "done"
    world = telegram_sandbox.world
    for person in (LATE, FLAKY, FINE):
        chat = world.private_chat(world.default_bot.id, person)
        assert [m.text for m in chat.messages if m.from_bot] == [TEXT]
