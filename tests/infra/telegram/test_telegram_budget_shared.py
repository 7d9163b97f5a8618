"""Two worker processes share one send budget through Redis (rate_limit.py).

The processes are forked, as Celery's prefork pool forks its children: a spawned child would
spend seconds re-importing aiogram before it could take a single token.
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

import pytest
import redis

from infra.telegram import SendBudget

pytestmark = [pytest.mark.redis, pytest.mark.slow]

RATE = 50.0
BURST = 5
SECONDS = 2.0


def spend(redis_url: str, start: Barrier, results: Queue[tuple[float, float, int]]) -> None:
    """Take every token this process can get for SECONDS; report (first, last, grants)."""
    client = redis.Redis.from_url(redis_url)
    budget = SendBudget(client, per_second=RATE, burst=BURST, key_prefix="shared")
    start.wait(timeout=30)
    began = time.time()
    deadline = began + SECONDS
    grants = 0
    while (now := time.time()) < deadline:
        wait = budget.try_acquire(None)
        if wait == 0:
            grants += 1
        else:
            time.sleep(min(wait, deadline - now))
    results.put((began, time.time(), grants))
    client.close()


def test_two_processes_together_stay_within_one_budget(redis_url: str) -> None:
    """Grants summed over two processes never exceed rate × elapsed + burst."""
    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)
    results: Queue[tuple[float, float, int]] = context.Queue()
    workers = [context.Process(target=spend, args=(redis_url, start, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
        assert worker.exitcode == 0
    window = max(end for _, end, _ in reports) - min(began for began, _, _ in reports)
    total = sum(grants for _, _, grants in reports)
    # Unshared buckets would grant about twice this; one spare token absorbs clock rounding.
    assert total <= RATE * window + BURST + 1
    assert total >= RATE * SECONDS * 0.6  # the budget was actually spent, not starved
    assert all(grants > 0 for _, _, grants in reports)
