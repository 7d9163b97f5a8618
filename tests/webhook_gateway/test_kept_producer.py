"""webhook_gateway.producer: Celery's own task message, through a producer the process keeps."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import redis
from kombu.exceptions import OperationalError

from infra import task_names
from infra.celery_config import create_celery
from infra.settings import load_settings
from webhook_gateway.producer import KeptProducer

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
    """A task queued by the kept producer lands on the same queue as Celery's `send_task`
    puts it, with the same headers, properties and body, ids aside."""
    app = create_celery(load_settings(_env_file=None, redis_url=redis_url), main="gateway")
    app.send_task(NAME, args=[7], retry=False)
    kept = KeptProducer(app)
    kept.send_task(NAME, args=[7], retry=False)
    kept.close()
    assert redis_client.llen("payments") == 2
    by_send_task, by_kept = redis_client.rpop("payments"), redis_client.rpop("payments")
    assert isinstance(by_send_task, bytes) and isinstance(by_kept, bytes)
    assert _masked(by_kept) == _masked(by_send_task)
    app.close()


def test_producer_is_acquired_once(redis_url: str, redis_client: redis.Redis,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Successive tasks of one thread share one producer from Celery's pool."""
    app = create_celery(load_settings(_env_file=None, redis_url=redis_url), main="gateway")
    pool: Any = app.producer_pool
    acquired: list[Any] = []
    original = pool.acquire

    def counting(*args: Any, **kwargs: Any) -> Any:
        acquired.append(original(*args, **kwargs))
        return acquired[-1]

    monkeypatch.setattr(pool, "acquire", counting)
    kept = KeptProducer(app)
    ids = {kept.send_task(NAME, args=[n]) for n in range(5)}
    kept.close()
    assert len(acquired) == 1
    assert len(ids) == 5
    assert redis_client.llen("payments") == 5
    app.close()


def test_unreachable_broker_raises_and_keeps_nothing() -> None:
    """With Redis away the publish raises (the gateway then leaves the event to the relay)
    and no producer is kept, so the next task starts from a fresh one."""
    app = create_celery(load_settings(_env_file=None, redis_url="redis://127.0.0.1:1/0"),
                        main="gateway")
    kept = KeptProducer(app)
    with pytest.raises(OperationalError):
        kept.send_task(NAME, args=[1])
    assert getattr(kept._local, "producer", None) is None
    app.close()
