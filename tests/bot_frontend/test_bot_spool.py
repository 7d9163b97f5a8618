"""Join requests while the broker is down: spooled by the bot, sent once it is back, never lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from kombu.exceptions import OperationalError

from bot_frontend.spool import SpoolRelay, TaskSpool
from infra import task_names, texts
from infra.settings import SANDBOX_CHANNEL_ID
from tests.bot_frontend.harness import BotHarness, RecordingProducer, RedisDown

pytestmark = pytest.mark.anyio
ANN = 7501
LINK = "https://t.me/+ann"
JOIN = (task_names.HANDLE_JOIN_REQUEST, [ANN, SANDBOX_CHANNEL_ID, LINK])


async def test_a_join_request_during_a_broker_outage_is_queued_when_it_is_back(
    harness: BotHarness,
) -> None:
    """Redis down (broker and FSM storage): nothing queued, nothing dropped; later it is sent."""
    harness.producer.failure = OperationalError("Error 111 connecting to redis")
    harness.dp.fsm.storage = RedisDown()
    await harness.join(ANN, SANDBOX_CHANNEL_ID, LINK)
    assert harness.tasks == []
    assert await harness.relay.flush() is False  # still down: kept for the next attempt

    harness.producer.failure = None
    assert await harness.relay.flush() is True

    assert harness.tasks == [JOIN]
    assert await harness.relay.flush() is True and harness.tasks == [JOIN]  # sent once


async def test_a_restarted_bot_sends_what_a_crashed_one_spooled(tmp_path: Path) -> None:
    """The spool is a file: a new process's relay sends what the old one could not."""
    path = tmp_path / "spool.db"
    down = RecordingProducer()
    down.failure = OperationalError("connection refused")
    crashed = SpoolRelay(TaskSpool(path), down)
    await crashed.keep(*JOIN, error=down.failure)

    up = RecordingProducer()
    assert await SpoolRelay(TaskSpool(path), up).flush() is True
    assert up.sent == [JOIN]


async def test_the_relay_keeps_trying_with_backoff_until_the_broker_is_back(
    tmp_path: Path,
) -> None:
    """run() retries a refused send with growing pauses and sends it as soon as it can."""
    producer = RecordingProducer()
    producer.failure = OperationalError("connection refused")
    relay = SpoolRelay(TaskSpool(tmp_path / "spool.db"), producer, first_delay=0.01,
                       max_delay=0.05)
    running = asyncio.create_task(relay.run(idle_seconds=0.05))
    try:
        await relay.keep(*JOIN, error=producer.failure)
        await asyncio.sleep(0.1)  # a few refused attempts
        assert producer.sent == []
        producer.failure = None
        async with asyncio.timeout(5):
            while producer.sent != [JOIN]:
                await asyncio.sleep(0.01)
    finally:
        running.cancel()
    assert producer.sent == [JOIN]


async def test_other_tasks_still_tell_the_user_to_try_again(harness: BotHarness) -> None:
    """Only tasks nobody could repeat are spooled: a /start during an outage is answered."""
    harness.producer.failure = OperationalError("connection refused")
    await harness.send(ANN, "/start")
    assert harness.tasks == []
    assert await harness.relay.flush() is True  # nothing was spooled
    assert harness.last_reply() == texts.TRY_AGAIN_LATER
