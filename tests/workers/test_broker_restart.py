"""A real worker holding a late-acknowledged message survives Redis restarts (issue 10, item 8).

Redis (append-only, like production) goes away under a worker process with two children while
one child runs a task and the consumer waits for more, the usual state of a worker in service:
its task channel is then in the middle of a BRPOP and holds the running task's message. Redis
stays down until the worker has failed to reconnect once, so the consumer tears its connection
down while Redis is unreachable. Before infra/broker_patch.py the worker then ended with
"Unrecoverable error: AttributeError('NoneType' object has no attribute 'hostname')" (the
mechanism is pinned in-process by tests/infra/test_broker_connection_loss.py). A worker whose
children are all busy is not at risk (no BRPOP is outstanding), so a backlog would hide the bug.
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
RESTARTS = 3
# Long enough that the task is still running while Redis is down and the worker reconnects.
HELD_SECONDS = 3.0
LOST = "Connection to broker lost"
RECONNECT_FAILED = "Cannot connect to"


def keys_with(marks: Path, prefix: str) -> list[str]:
    return [path.name.split("-")[1] for path in marks.glob(f"{prefix}-*")]


def expire_stranded(client: Any) -> int:
    """Age every unacknowledged message past the visibility timeout, as time would."""
    tags = client.zrange("unacked_index", 0, -1)
    if tags:
        client.zadd("unacked_index", dict.fromkeys(tags, 0))
    return len(tags)


def alive(worker: ChildProcess) -> bool:
    return worker.process is not None and worker.process.poll() is None


def unrecoverable(log: str) -> str:
    """The worker's last words: the lines from its "Unrecoverable error" on, or its log's end."""
    lines = log.splitlines()
    ends = [n for n, line in enumerate(lines) if "Unrecoverable error" in line]
    return "\n".join(lines[ends[0]:ends[0] + 5] if ends else lines[-20:])


def test_a_worker_holding_a_message_survives_redis_restarts_and_each_takes_effect_once(
        restartable_redis: EmbeddedRedis, tmp_path: Path) -> None:
    """Three outages while a child runs a late-acked task: the worker lives on, and each
    message's effect lands once."""
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
    keys = [str(key) for key in range(RESTARTS)]
    try:
        worker.start()
        for restart, key in enumerate(keys):
            producer.send_task("tests.poison.slow", args=[str(marks), key, HELD_SECONDS])
            eventually(lambda: key in keys_with(marks, "run"),  # noqa: B023
                       timeout=60, what="a child to run the task")
            restartable_redis.stop()
            # Down until the worker has dropped its connection and failed to make a new one
            # (or died trying, as it did before the fix).
            eventually(lambda: worker.log().count(RECONNECT_FAILED) > restart  # noqa: B023
                       or not alive(worker), timeout=60, what="the worker to lose Redis")
            restartable_redis.start()
            assert alive(worker), unrecoverable(worker.log())
        # Messages the worker held when Redis went away are kept in Redis's unacked set;
        # they come back when their visibility timeout ends, which the test brings forward.
        eventually(lambda: client.llen("default") == 0 and expire_stranded(client) == 0
                   and sorted(set(keys_with(marks, "done"))) == keys,
                   timeout=120, what="every message to take effect")
        assert alive(worker), unrecoverable(worker.log())
    finally:
        producer.close()
        client.close()
        worker.stop()
    log = worker.log()
    assert log.count(LOST) >= RESTARTS  # each outage really reached the worker
    assert "Unrecoverable error" not in log
    # A message whose task finished while Redis was away runs again (its ack was lost); its
    # effect is applied once all the same.
    assert len(keys_with(marks, "again")) <= RESTARTS
