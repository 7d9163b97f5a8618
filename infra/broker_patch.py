"""A narrow patch to kombu's Redis transport (kombu 5.7.0, celery 5.7.0): see issue 10, item 8.

When a worker loses Redis, Celery's consumer collects and closes the broker connection, which
detaches the transport from it (`Transport.client = None`). Closing the connection's channels
stops at the first one that cannot reach Redis, so a channel opened earlier (the task consumer's,
holding the late-acknowledged messages) stays open. When Celery later closes that channel on
restart, or a task's late ack arrives for one of its messages, kombu rebuilds a connection pool
from the transport's client — `None` — and raises
`AttributeError: 'NoneType' object has no attribute 'hostname'`. Celery ignores only connection
errors there, so the AttributeError ends the worker ("Unrecoverable error").

The patch turns that into what it is, a connection error: Celery logs it and carries on, and the
held messages stay in Redis's unacked set, to be delivered again (kombu's visibility-timeout
restore; our relays re-queue the database's pending work sooner). Remove it once kombu no longer
reaches a detached transport (tests/infra/test_broker_connection_loss.py shows when).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

_PATCHED = "_paywall_detached_transport_is_a_connection_error"


def apply() -> None:
    """Patch kombu's Redis channel once per process (idempotent)."""
    channel_class: Any = kombu_redis.Channel
    if getattr(channel_class, _PATCHED, False):
        return
    original = channel_class._connparams

    def _connparams(self: Any, asynchronous: bool = False) -> dict[str, Any]:
        transport = self.connection
        if transport is None or transport.client is None:
            raise RedisConnectionError("the broker connection of this channel was closed")
        params: dict[str, Any] = original(self, asynchronous=asynchronous)
        return params

    channel_class._connparams = _connparams
    setattr(channel_class, _PATCHED, True)
