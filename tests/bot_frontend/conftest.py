"""Fixtures for handler tests: the real dispatcher on a migrated database, fakes at the edges."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from aiogram import Bot
from aiogram.fsm.storage.redis import RedisStorage
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import Pool

from bot_frontend.app import build_dispatcher
from bot_frontend.db import read_only_sessions
from bot_frontend.spool import SpoolRelay, TaskSpool
from infra.migrate import seed_plans
from infra.settings import Settings, load_settings
from models.schema import User
from tests.bot_frontend.harness import BotHarness, RecordingProducer, RecordingSession

ADMIN = 100


@pytest.fixture
def anyio_backend() -> str:
    """aiogram runs on asyncio."""
    return "asyncio"


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Sandbox settings on this test's database, with one admin and a 3-day trial."""
    return load_settings(_env_file=None, database_url=db_url, admin_ids=str(ADMIN), trial_days=3)


@pytest.fixture
async def harness(settings: Settings, session_factory: sessionmaker[Session],
                  tmp_path: Path) -> AsyncIterator[BotHarness]:
    """The bot's real dispatcher with RedisStorage on fakeredis and the default plan seeded.

    Its spool of refused tasks is a file under tmp_path, relayed with quick backoffs.
    """
    with session_factory.begin() as session:
        seed_plans(session, settings)
    storage = RedisStorage(redis=fakeredis.FakeAsyncRedis())
    sessions = read_only_sessions(settings.database_url)
    producer = RecordingProducer()
    relay = SpoolRelay(TaskSpool(tmp_path / "bot_spool.db"), producer, first_delay=0.01)
    dp = build_dispatcher(settings=settings, sessions=sessions, producer=producer,
                          storage=storage, relay=relay)
    recording = RecordingSession()
    bot = Bot("42:TEST", session=recording)
    try:
        yield BotHarness(dp=dp, bot=bot, session=recording, producer=producer, relay=relay)
    finally:
        await storage.close()
        sessions.kw["bind"].dispose()


def add_user(sessions: sessionmaker[Session], user_id: int, *, accepted: bool = True,
             **values: Any) -> None:
    """A user the bot has met; `accepted` says whether they accepted the terms."""
    now = datetime.now(UTC)
    with sessions.begin() as session:
        session.add(User(id=user_id, first_name=f"user{user_id}", created_at=now,
                         terms_accepted_at=now if accepted else None, **values))


@pytest.fixture
def reads() -> Iterator[list[int]]:
    """Every database connection checked out while the test runs (one per read)."""
    checked_out: list[int] = []

    def count(*_: Any) -> None:
        checked_out.append(1)

    event.listen(Pool, "checkout", count)
    try:
        yield checked_out
    finally:
        event.remove(Pool, "checkout", count)
