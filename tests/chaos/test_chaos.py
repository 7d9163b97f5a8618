"""The chaos run at a small size, as CI runs it: every promise holds under kills and faults."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.celery_config import VISIBILITY_TIMEOUT
from tests.chaos.__main__ import report
from tests.chaos.run import Options, run

# The storm takes about two minutes; quiescence may then wait out the visibility timeout.
pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres,
              pytest.mark.timeout(VISIBILITY_TIMEOUT + 600)]

CI_SIZE = 10


def test_a_small_storm_with_kills_and_a_redis_restart_keeps_every_promise(
    postgres_server_url: str, tmp_path: Path,
) -> None:
    """10 subscribers through the bot, faults on, a worker killed 3 times, Redis restarted:
    every one activated and invited within 3 minutes, nothing lost, nothing pending."""
    # A message the killed worker held comes back after the broker's visibility timeout (plus
    # the restore sweep): quiescence may take that long after the last kill, never longer.
    settle = VISIBILITY_TIMEOUT + 60
    options = Options(size=CI_SIZE, concurrency=5, patience=10, give_up=120, fault_gap=2,
                      settle_timeout=settle, workdir=tmp_path)
    outcome = run(options, server_url=postgres_server_url)
    assert outcome.ok, report(outcome.checks, outcome.notes, outcome.workdir)
