"""Update queues of the Telegram stand-in (infra/sandbox/telegram/updates.py)."""

from __future__ import annotations

import asyncio
import threading
import time

from infra.sandbox.telegram.updates import UpdateQueue


def test_ids_grow_and_offset_confirms_lower_ids() -> None:
    """Each update gets the next id; a positive offset forgets every lower id."""
    queue = UpdateQueue()
    ids = [queue.push("message", {"n": n}) for n in range(3)]
    assert ids == [1, 2, 3]
    queue.confirm(3)
    assert [u["update_id"] for u in queue.peek(10)] == [3]


def test_negative_offset_keeps_only_the_last_updates() -> None:
    """offset=-N keeps the last N updates and forgets the rest."""
    queue = UpdateQueue()
    for n in range(5):
        queue.push("message", {"n": n})
    queue.confirm(-2)
    assert [u["update_id"] for u in queue.peek(10)] == [4, 5]


def test_chat_member_is_off_by_default_and_the_filter_is_sticky() -> None:
    """chat_member needs an explicit allowed_updates; an empty list restores the default."""
    queue = UpdateQueue()
    assert queue.push("chat_member", {}) is None
    queue.set_allowed_updates(["chat_member"])
    assert queue.push("chat_member", {}) is not None
    assert queue.push("message", {}) is None
    queue.set_allowed_updates([])
    assert queue.allowed_updates is None
    assert queue.push("message", {}) is not None


def test_wait_wakes_when_another_thread_pushes() -> None:
    """A long poll on the event loop ends as soon as a test thread queues an update."""
    queue = UpdateQueue()
    threading.Timer(0.1, lambda: queue.push("message", {})).start()

    async def wait() -> float:
        started = time.monotonic()
        await queue.wait(5)
        return time.monotonic() - started

    assert asyncio.run(wait()) < 2
    assert queue.pending_count == 1


def test_a_new_poll_supersedes_the_old_one() -> None:
    """Only the latest poll ticket is current (the older request gets a 409)."""
    queue = UpdateQueue()
    first = queue.start_poll()
    second = queue.start_poll()
    assert not queue.is_current_poll(first)
    assert queue.is_current_poll(second)
