"""Telegram-like flood control for sending methods, as token buckets (reference telegram.md §3).

Per bot: about 30 messages/s overall, about 1/s per chat with a small burst, 20/min per group or
channel. A refused message consumes nothing and is answered with 429 + retry_after.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class FloodLimits:
    """The bucket sizes; Telegram publishes them only as approximations, so all are tunable."""

    global_per_second: float = 30.0
    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    group_per_minute: float = 20.0


class TokenBucket:
    """`capacity` tokens, refilled continuously at `per_second`."""

    def __init__(self, *, capacity: float, per_second: float, now: float) -> None:
        self._capacity = capacity
        self._per_second = per_second
        self._tokens = capacity
        self._updated = now

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 when one is available now)."""
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._per_second)
        self._updated = now
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self._per_second

    def take(self) -> None:
        self._tokens -= 1


class FloodControl:
    """All buckets of all bots; off unless enabled."""

    def __init__(
        self, *, enabled: bool = False, limits: FloodLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.enabled = enabled
        self.limits = limits or FloodLimits()
        self._buckets: dict[tuple[str, int, int], TokenBucket] = {}

    def configure(self, *, enabled: bool, limits: FloodLimits) -> None:
        with self._lock:
            self.enabled, self.limits = enabled, limits
            self._buckets.clear()

    def admit(self, *, bot_id: int, chat_id: int) -> int | None:
        """Take a token from every bucket the message counts against, or return retry_after."""
        if not self.enabled:
            return None
        with self._lock:
            now = self._clock()
            buckets = [
                self._bucket("global", bot_id, 0, self.limits.global_per_second,
                             self.limits.global_per_second),
                self._bucket("chat", bot_id, chat_id, self.limits.per_chat_burst,
                             self.limits.per_chat_per_second),
            ]
            if chat_id < 0:  # groups, supergroups and channels have negative ids
                buckets.append(self._bucket("group", bot_id, chat_id, self.limits.group_per_minute,
                                            self.limits.group_per_minute / 60))
            wait = max(bucket.wait_time(now) for bucket in buckets)
            if wait > 0:
                return max(1, math.ceil(wait))
            for bucket in buckets:
                bucket.take()
            return None

    def _bucket(
        self, kind: str, bot_id: int, chat_id: int, capacity: float, per_second: float,
    ) -> TokenBucket:
        key = (kind, bot_id, chat_id)
        if key not in self._buckets:
            self._buckets[key] = TokenBucket(
                capacity=capacity, per_second=per_second, now=self._clock(),
            )
        return self._buckets[key]
