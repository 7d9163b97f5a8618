"""infra.task_publisher: Celery's own task message, through Celery's producer pool."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import pytest
import redis
from kombu.exceptions import OperationalError

from infra import task_names
from infra.celery_config import create_celery
from infra.settings import load_settings
from infra.task_publisher import TaskPublisher

NAME = task_names.PROCESS_PAYMENT_EVENT


def _masked(raw: bytes) -> dict[str, Any]:
    """A queued message with what differs per message (ids, tags) blanked out."""
    message = json.loads(raw)
    headers, properties = message["headers"], message["properties"]
    for key in ("id", "root_id"):
        headers[key] = "<id>"
    properties["correlation_id"] = properties["delivery_tag"] = "<id>"
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return dict(message)


def test_message_is_the_one_send_task_makes(redis_url: str, redis_client: redis.Redis) -> None:
    """A task queued by the publisher lands on the same queue as Celery's `send_task`
    puts it, with the same headers, properties and body, ids aside."""
    app = create_celery(load_settings(_env_file=None, redis_url=redis_url), main="gateway")
    app.send_task(NAME, args=[7], retry=False)
    TaskPublisher(app).send_task(NAME, args=[7], retry=False)
    assert redis_client.llen("payments") == 2
    by_send_task, by_kept = redis_client.rpop("payments"), redis_client.rpop("payments")
    assert isinstance(by_send_task, bytes) and isinstance(by_kept, bytes)
    assert _masked(by_kept) == _masked(by_send_task)
    app.close()


def test_a_thread_per_request_server_never_runs_the_pool_dry(
    redis_url: str, redis_client: redis.Redis,
) -> None:
    """Three times the pool's size of threads, one message each (as a threaded WSGI server
    sends them): every message is queued and every producer is back in the pool."""
    app = create_celery(load_settings(_env_file=None, redis_url=redis_url), main="gateway")
    app.conf.broker_pool_limit = 4
    publisher = TaskPublisher(app)
    threads = [threading.Thread(target=publisher.send_task, args=(NAME,), kwargs={"args": [n]},
                                daemon=True) for n in range(12)]
    for thread in threads:
        thread.start()
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads), "a publish waits for the pool"
    assert redis_client.llen("payments") == 12
    pool: Any = app.producer_pool
    with pool.acquire(block=True, timeout=1):  # raises if none came back
        pass
    app.close()


def test_unreachable_broker_raises_and_gives_the_producer_back() -> None:
    """With Redis away the publish raises (the gateway then leaves the event to the relay)
    and the producer is back in the pool, so the next task starts from it."""
    app = create_celery(load_settings(_env_file=None, redis_url="redis://127.0.0.1:1/0"),
                        main="gateway")
    app.conf.broker_pool_limit = 1
    publisher = TaskPublisher(app)
    for _ in range(2):  # the second would wait forever for a producer the first kept
        with pytest.raises(OperationalError):
            publisher.send_task(NAME, args=[1])
    app.close()
