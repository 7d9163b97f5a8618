"""A channel used after its broker connection was closed never crashes the worker (item 8).

On a lost connection Celery's consumer collects and closes the connection, which detaches the
transport from it. Closing the channels stops at the first that cannot reach Redis, so the task
consumer's channel (opened first, holding the late-acknowledged messages) stays open; closing it
on restart, or a late ack of one of its messages, made kombu rebuild a pool from the detached
connection: `AttributeError: 'NoneType' object has no attribute 'hostname'`, an "Unrecoverable
error" that ended the worker.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis
from kombu import entity, messaging

from infra.celery_config import create_celery
from infra.embedded_redis import EmbeddedRedis
from infra.settings import load_settings

pytestmark = pytest.mark.redis
QUEUE = "connection-loss-test"
# kombu is untyped: its classes are used through Any.
Queue: Any = entity.Queue
Exchange: Any = entity.Exchange
Producer: Any = messaging.Producer
Consumer: Any = messaging.Consumer




def test_closing_a_channel_that_holds_messages_after_redis_restarted_raises_no_crash(
        restartable_redis: EmbeddedRedis, caplog: pytest.LogCaptureFixture) -> None:
    """Celery's own sequence: the held message is kept in Redis, errors are connection errors."""
    app = create_celery(load_settings(_env_file=None, redis_url=restartable_redis.url),
                        main="loss-test")
    connection = app.connection_for_read()
    tasks = connection.channel()  # the task consumer's channel, opened first
    queue = Queue(QUEUE, channel=tasks)
    queue.declare()
    Producer(tasks).publish({"n": 1}, routing_key=QUEUE)
    message: Any = queue.get(no_ack=False)
    assert message is not None
    control = connection.channel()  # the remote-control (pidbox) channel: a fanout queue
    Consumer(control, [Queue("pidbox-like", Exchange("pidbox-like", type="fanout"),
                             auto_delete=True)], callbacks=[lambda *_: None]).consume()

    restartable_redis.stop()
    connection.collect(socket_timeout=1)  # what Consumer.on_connection_error_after_connected
    connection.close()                    # does before it reconnects
    restartable_redis.start()

    errors = connection.connection_errors
    with pytest.raises(errors):
        tasks.close()  # Celery wraps this in ignore_errors: a connection error is ignored
    with caplog.at_level(logging.CRITICAL):
        message.ack_log_error(logging.getLogger("test"), errors)
    assert "Couldn't ack" in caplog.text

    client: Any = redis.Redis.from_url(restartable_redis.url)
    try:
        assert client.hlen("unacked") == 1  # kept, for the visibility-timeout restore
    finally:
        client.close()
