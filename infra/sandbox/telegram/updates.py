"""One bot's update queue: update ids, sticky allowed_updates, confirmation by offset, waiting.

Thread-safe on purpose: tests may change the world from their own thread while the server's
event loop holds a long poll, so waiters are woken with `call_soon_threadsafe` on their loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
from collections.abc import Iterable
from typing import Any

# Delivered only when asked for explicitly (Bot API docs on getUpdates.allowed_updates).
DEFAULT_EXCLUDED: frozenset[str] = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)

_Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Event]


class UpdateQueue:
    """Updates not yet confirmed, in id order."""

    def __init__(self, *, first_update_id: int = 1) -> None:
        self._lock = threading.Lock()
        self._pending: list[dict[str, object]] = []
        self._next_id = first_update_id
        self._allowed: frozenset[str] | None = None  # None: everything but DEFAULT_EXCLUDED
        self._waiters: set[_Waiter] = set()
        self._poll_generation = 0

    @property
    def allowed_updates(self) -> list[str] | None:
        with self._lock:
            return sorted(self._allowed) if self._allowed is not None else None

    def set_allowed_updates(self, kinds: Iterable[str] | None) -> None:
        """Replace the filter; None or an empty list restores the default."""
        chosen = frozenset(kinds or ())
        with self._lock:
            self._allowed = chosen or None

    def wants(self, kind: str) -> bool:
        with self._lock:
            return kind not in DEFAULT_EXCLUDED if self._allowed is None else kind in self._allowed

    def push(self, kind: str, payload: dict[str, object]) -> int | None:
        """Queue an update unless the filter excludes its kind; return its id."""
        if not self.wants(kind):
            return None  # the filter applies when an update is created, like Telegram's
        with self._lock:
            update_id = self._next_id
            self._next_id += 1
            self._pending.append({"update_id": update_id, kind: payload})
        self.wake_all()
        return update_id

    def confirm(self, offset: int) -> None:
        """Positive offset forgets lower ids; negative keeps only the last -offset updates."""
        with self._lock:
            if offset > 0:
                self._pending = [u for u in self._pending if _update_id(u) >= offset]
            elif offset < 0:
                self._pending = self._pending[offset:]

    def peek(self, limit: int) -> list[dict[str, object]]:
        with self._lock:
            return copy.deepcopy(self._pending[:limit])

    @property
    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    def export(self) -> dict[str, object]:
        """What a restart must keep: the next id (ids never go back) and what is unconfirmed."""
        with self._lock:
            return {"next_id": self._next_id, "pending": copy.deepcopy(self._pending),
                    "allowed": sorted(self._allowed) if self._allowed is not None else None}

    def restore(self, state: dict[str, Any]) -> None:
        with self._lock:
            self._next_id = max(self._next_id, int(state["next_id"]))
            self._pending = list(state["pending"])
            allowed = state.get("allowed")
            self._allowed = frozenset(allowed) if allowed else None
        self.wake_all()

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def start_poll(self) -> int:
        """Register a new getUpdates request; any older one is now superseded."""
        with self._lock:
            self._poll_generation += 1
            ticket = self._poll_generation
        self.wake_all()
        return ticket

    def is_current_poll(self, ticket: int) -> bool:
        with self._lock:
            return ticket == self._poll_generation

    async def wait(self, timeout: float) -> None:
        """Return when an update is pending, someone calls `wake_all`, or `timeout` passes."""
        if timeout <= 0:
            return
        waiter: _Waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            if self._pending:
                return
            self._waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await waiter[1].wait()
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    def wake_all(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has already closed
                loop.call_soon_threadsafe(event.set)


def _update_id(update: dict[str, object]) -> int:
    value = update["update_id"]
    assert isinstance(value, int)
    return value
