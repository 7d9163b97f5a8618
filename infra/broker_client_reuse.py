"""Keep one Redis client per kombu channel instead of building one per operation (issue 13).

kombu's Redis channel (5.7.0) answers every synchronous operation — each publish's LPUSH among
them — with `conn_or_acquire()`, which builds a new `redis.Redis` around the channel's
connection pool. The socket is reused already (it lives in the pool), but the client's own
construction (its response-callback tables) cost more than the LPUSH itself: in the gateway's
profile it was a third of `send_task`. The client is a thin, thread-safe wrapper around the pool,
so one per channel does exactly what a new one each time did.

The cached client is tied to the pool it wraps: when the channel drops its pool (closing, or a
lost connection), the next operation builds a new client around the new pool, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis

_PATCHED = "_paywall_reuses_its_redis_client"
_CACHE = "_paywall_sync_client"


def apply() -> None:
    """Patch kombu's Redis channel once per process (idempotent)."""
    channel_class: Any = kombu_redis.Channel
    if getattr(channel_class, _PATCHED, False):
        return

    @contextmanager
    def conn_or_acquire(self: Any, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool = self.pool
        cached = self.__dict__.get(_CACHE)
        if cached is None or cached.connection_pool is not pool:
            cached = self._create_client()
            self.__dict__[_CACHE] = cached
        yield cached

    channel_class.conn_or_acquire = conn_or_acquire
    setattr(channel_class, _PATCHED, True)
