"""The chaos run at a small size, as CI runs it: every promise holds under kills and faults."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.__main__ import report
from tests.chaos.run import Options, run

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

CI_SIZE = 10


def test_a_small_storm_with_kills_and_a_redis_restart_keeps_every_promise(
    postgres_server_url: str, tmp_path: Path,
) -> None:
    """10 subscribers through the bot, faults on, a worker killed 3 times, Redis restarted:
    every one activated and invited within 3 minutes, nothing lost, nothing pending."""
    options = Options(size=CI_SIZE, concurrency=5, patience=10, give_up=120, fault_gap=2,
                      settle_timeout=60, workdir=tmp_path)
    outcome = run(options, server_url=postgres_server_url)
    assert outcome.ok, report(outcome.checks, outcome.notes, outcome.workdir)
