"""Priority lanes in the shared send budget (rate_limit.py): bulk yields to interactive calls.

On the real Redis server, like the other budget tests (the buckets are one Lua script).
Figures are in tokens, never in seconds: how many grants each lane got, not how fast.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from infra.telegram import Lane, SendBudget

pytestmark = pytest.mark.redis

BULK, INTERACTIVE = Lane.BULK, Lane.INTERACTIVE


def test_bulk_leaves_the_reserve_to_interactive_calls(redis_client: redis.Redis) -> None:
    """From a full bucket bulk takes one token; the other burst - 1 stay for interactive calls."""
    budget = SendBudget(redis_client, per_second=1, burst=5, key_prefix="reserve")
    assert budget.bulk_reserve == 4
    assert budget.try_acquire(None, lane=BULK) == 0.0
    assert budget.try_acquire(None, lane=BULK) > 0
    assert [budget.try_acquire(None, lane=INTERACTIVE) for _ in range(4)] == [0.0] * 4
    assert budget.try_acquire(None, lane=INTERACTIVE) > 0


def test_a_waiting_interactive_call_gets_the_next_token_before_bulk(
    redis_client: redis.Redis,
) -> None:
    """Once an interactive call has been told to wait, the token it waits for is not bulk's."""
    budget = SendBudget(redis_client, per_second=10, burst=1, key_prefix="flag")
    assert budget.bulk_reserve == 0  # a one-token bucket has no reserve: only the flag protects
    assert budget.try_acquire(None, lane=INTERACTIVE) == 0.0
    wait = budget.try_acquire(None, lane=INTERACTIVE)
    assert wait > 0
    time.sleep(wait)
    assert budget.try_acquire(None, lane=BULK) > 0  # the token is there, but someone waits for it
    assert budget.try_acquire(None, lane=INTERACTIVE) == 0.0


def test_bulk_alone_waits_only_for_the_refill(redis_client: redis.Redis) -> None:
    """With no interactive demand, bulk's quoted wait is one token's time and then it is granted."""
    budget = SendBudget(redis_client, per_second=20, burst=4, key_prefix="alone")
    assert budget.try_acquire(None, lane=BULK) == 0.0
    wait = budget.try_acquire(None, lane=BULK)
    assert 0 < wait <= 1 / 20
    time.sleep(wait)
    assert budget.try_acquire(None, lane=BULK) == 0.0


def test_an_interactive_call_held_by_its_chat_does_not_hold_bulk(
    redis_client: redis.Redis,
) -> None:
    """Only a wait for the global bucket raises the flag: one busy chat never stops a wave."""
    budget = SendBudget(redis_client, per_second=100, burst=5, key_prefix="chat")
    assert budget.try_acquire(5, lane=INTERACTIVE) == 0.0
    assert budget.try_acquire(5, lane=INTERACTIVE) > 0.5  # the chat's 1/s, not the global bucket
    time.sleep(0.05)  # the global bucket is full again
    assert budget.try_acquire(6, lane=BULK) == 0.0


def test_interactive_tokens_are_granted_while_bulk_waits(redis_url: str) -> None:
    """A bulk wave spending the budget gets nothing while interactive calls want every token."""
    rate, wanted = 50.0, 40
    interactive_done = threading.Event()
    bulk_grants: list[str] = []  # "during" or "after" the interactive run

    def bulk_wave() -> None:
        client = redis.Redis.from_url(redis_url)
        budget = SendBudget(client, per_second=rate, key_prefix="race")
        while len(bulk_grants) < 1000:
            if (wait := budget.try_acquire(None, lane=BULK)) == 0:
                bulk_grants.append("after" if interactive_done.is_set() else "during")
                if interactive_done.is_set():
                    break
            else:
                time.sleep(wait)
        client.close()

    client = redis.Redis.from_url(redis_url)
    budget = SendBudget(client, per_second=rate, key_prefix="race")
    wave = threading.Thread(target=bulk_wave)
    wave.start()
    while not bulk_grants:  # the wave is under way before the first payer arrives
        time.sleep(0.01)
    before = len(bulk_grants)
    for _ in range(wanted):
        budget.acquire(None, timeout=10, lane=INTERACTIVE)
    interactive_done.set()
    wave.join(timeout=30)
    client.close()
    during = bulk_grants.count("during") - before
    # Bulk may win one race at the start (its call was already under way); after that, nothing.
    assert during <= 1, f"bulk took {during} of the tokens {wanted} interactive calls waited for"
    assert bulk_grants[-1] == "after"  # and the wave goes on once they are served
