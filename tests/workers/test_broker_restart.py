"""A real worker, busy with late-acknowledged messages in hand, survives Redis restarts (item 8).

Redis (append-only, like production) is stopped and started again under a worker process with
two children and more queued messages than it can hold. Before the fix the worker ended with
"Unrecoverable error: AttributeError('NoneType' object has no attribute 'hostname')" (the
mechanism is pinned in-process by tests/infra/test_broker_connection_loss.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from infra.celery_config import create_celery
from infra.embedded_redis import EmbeddedRedis
from infra.migrate import migrate_and_seed
from infra.settings import load_settings
from tests.fixtures.processes import ChildProcess, child_env, worker_command
from tests.fixtures.waiting import eventually

pytestmark = [pytest.mark.redis, pytest.mark.slow]
MESSAGES = 40
RESTARTS = 3




def keys_with(marks: Path, prefix: str) -> list[str]:
    return [path.name.split("-")[1] for path in marks.glob(f"{prefix}-*")]


def expire_stranded(client: Any) -> int:
    """Age every unacknowledged message past the visibility timeout, as time would."""
    tags = client.zrange("unacked_index", 0, -1)
    if tags:
        client.zadd("unacked_index", dict.fromkeys(tags, 0))
    return len(tags)


def test_a_busy_worker_survives_redis_restarts_and_every_message_takes_effect_once(
        restartable_redis: EmbeddedRedis, tmp_path: Path) -> None:
    """Three restarts under load: the worker lives on, each message's effect lands once."""
    database = f"sqlite:///{tmp_path / 'app.db'}"
    migrate_and_seed(load_settings(_env_file=None, database_url=database))
    env = child_env(DATABASE_URL=database, REDIS_URL=restartable_redis.url)
    # As production runs it (Procfile, systemd): gossip, mingle and heartbeat on.
    command = [part for part in worker_command(concurrency=2, queues="default")
               if not part.startswith("--without-")]
    command += ["--include", "tests.workers.poison_tasks"]
    worker = ChildProcess(command, env, tmp_path / "worker.log")
    producer = create_celery(load_settings(_env_file=None, database_url=database,
                                           redis_url=restartable_redis.url), main="producer")
    marks = tmp_path / "marks"
    marks.mkdir()
    client: Any = redis.Redis.from_url(restartable_redis.url)
    try:
        worker.start()
        for key in range(MESSAGES):
            producer.send_task("tests.poison.slow", args=[str(marks), str(key), 0.3])
        for restart in range(RESTARTS):
            # Restart while both children run a task and more messages wait.
            started = 4 * (restart + 1)
            eventually(lambda: len(keys_with(marks, "run")) >= started,  # noqa: B023
                       timeout=60, what="the worker to be busy")
            restartable_redis.stop()
            restartable_redis.start()
        # Messages the worker held when Redis went away are kept in Redis's unacked set;
        # they come back when their visibility timeout ends, which the test brings forward.
        eventually(lambda: client.llen("default") == 0 and expire_stranded(client) == 0
                   and len(set(keys_with(marks, "done"))) == MESSAGES,
                   timeout=120, what="every message to take effect")
        assert worker.process is not None and worker.process.poll() is None, worker.log()
    finally:
        producer.close()
        client.close()
        worker.stop()
    assert "Unrecoverable error" not in worker.log()
    assert sorted(keys_with(marks, "done"), key=int) == [str(key) for key in range(MESSAGES)]
    # A message whose task finished just as Redis went away may run again (its ack was lost);
    # its effect is applied once all the same.
    assert len(keys_with(marks, "again")) <= RESTARTS * 2
