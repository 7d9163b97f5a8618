"""infra.broker_client_reuse: a kombu Redis channel keeps one client, not one per operation."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from kombu.transport import redis as kombu_redis

from infra import task_names
from infra.celery_config import create_celery
from infra.settings import load_settings


def _created_clients(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every Redis client kombu's channels build from now on."""
    made: list[Any] = []
    original: Any = kombu_redis.Channel._create_client

    def counting(self: Any, asynchronous: bool = False) -> Any:
        client = original(self, asynchronous=asynchronous)
        made.append(client)
        return client

    monkeypatch.setattr(kombu_redis.Channel, "_create_client", counting)
    return made


def test_publishes_share_one_client(redis_url: str, redis_client: redis.Redis,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """After the first publish, further publishes build no Redis client, and all arrive."""
    app = create_celery(load_settings(_env_file=None, redis_url=redis_url), main="test")
    app.send_task(task_names.PROCESS_PAYMENT_EVENT, args=[0], retry=False)
    made = _created_clients(monkeypatch)
    for event_id in range(1, 6):
        app.send_task(task_names.PROCESS_PAYMENT_EVENT, args=[event_id], retry=False)
    assert made == []
    assert redis_client.llen("payments") == 6
    app.close()


def test_a_new_pool_gets_a_new_client(redis_url: str) -> None:
    """When the channel drops its pool (closing, a lost connection), the next operation
    builds its client around the new pool rather than keep the old one."""
    app = create_celery(load_settings(_env_file=None, redis_url=redis_url), main="test")
    with app.connection_for_write() as connection:
        channel: Any = connection.default_channel
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as same:
            assert first is same
            assert first.connection_pool is channel.pool
        channel._pool = None  # what kombu does when it disconnects the channel's pool
        with channel.conn_or_acquire() as rebuilt:
            assert rebuilt is not first
            assert rebuilt.connection_pool is channel.pool
            assert rebuilt.ping()
    app.close()
