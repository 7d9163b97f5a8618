"""What the bot does per update, which decides how many updates a second it handles in a rush."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy.orm import Session, sessionmaker

from bot_frontend.app import FSM_REDIS_CONNECTIONS, fsm_storage
from infra import task_names
from infra.settings import Settings, load_settings
from tests.bot_frontend.conftest import add_user
from tests.bot_frontend.harness import BotHarness

pytestmark = pytest.mark.anyio
ANN = 601


async def test_start_and_a_plan_tap_each_read_the_database_once(
    harness: BotHarness, session_factory: sessionmaker[Session], reads: list[int],
) -> None:
    """/start (user, trial, plans) and a plan tap (open invoice, access) are one read each:
    every read is a trip to a worker thread, which a rush of updates queues behind."""
    add_user(session_factory, ANN, username=f"u{ANN}", language_code="en")
    reads.clear()
    await harness.send(ANN, "/start")
    assert len(reads) == 1
    assert "plan:month" in harness.buttons()
    await harness.press(ANN, "plan:month")
    assert len(reads) == 2
    # A returning user's unchanged profile is not sent again: the tap's checkout is the task.
    assert [name for name, _ in harness.tasks] == [task_names.CHECKOUT]


def connected(client: redis.Redis) -> int:
    info: dict[str, Any] = client.info("clients")  # type: ignore[assignment]
    return int(info["connected_clients"])


async def test_the_fsm_storage_shares_a_few_redis_connections_under_a_rush(
    redis_url: str, redis_client: redis.Redis,
) -> None:
    """200 updates reading their conversation state at once open at most
    FSM_REDIS_CONNECTIONS connections to Redis (the default pool opened one per update)."""
    settings: Settings = load_settings(_env_file=None, redis_url=redis_url)
    storage = fsm_storage(settings)
    before = connected(redis_client)
    try:
        states = await asyncio.gather(*(
            storage.get_state(StorageKey(bot_id=1, chat_id=user, user_id=user))
            for user in range(200)))
        opened = connected(redis_client) - before
    finally:
        await storage.close()
    assert states == [None] * 200
    assert 0 < opened <= FSM_REDIS_CONNECTIONS
