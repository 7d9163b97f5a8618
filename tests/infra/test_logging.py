"""One log format per process: Celery's own lines come out as the same JSON lines as ours."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import redis

from infra.celery_config import create_celery
from infra.migrate import migrate_and_seed
from infra.settings import load_settings
from tests.fixtures.processes import ROOT, ChildProcess, child_env, worker_command
from tests.fixtures.waiting import eventually


def _procfile_line(name: str) -> str:
    return next(line for line in (ROOT / "Procfile").read_text().splitlines()
                if line.startswith(f"{name}:"))


def _not_json(log: str) -> list[str]:
    bad = []
    for line in log.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        if not isinstance(parsed, dict) or "event" not in parsed or "level" not in parsed:
            bad.append(line)
    return bad


@pytest.mark.slow
@pytest.mark.redis
def test_every_line_of_a_real_worker_and_beat_is_one_json_object(
    db_url: str, redis_client: redis.Redis, redis_url: str, tmp_path: Path,
) -> None:
    """Worker start-up, Celery's task lines (an unregistered task), beat and shutdown: all JSON."""
    if not db_url.startswith("sqlite"):
        pytest.skip("the log format does not depend on the database")
    assert " -q " in _procfile_line("worker") and " -q " in _procfile_line("beat")
    migrate_and_seed(load_settings(_env_file=None, database_url=db_url))  # else both refuse
    env = child_env(DATABASE_URL=db_url, REDIS_URL=redis_url, LOG_FORMAT="json")
    quiet = [*worker_command(concurrency=1, queues="default")]
    quiet.insert(quiet.index("worker"), "-q")  # as the Procfile runs it: no ASCII banner
    worker = ChildProcess(quiet, env, tmp_path / "worker.log")
    beat = ChildProcess(
        [sys.executable, "-m", "celery", "-A", "celery_app", "-q", "beat", "--loglevel", "INFO",
         "--schedule", str(tmp_path / "beat.schedule")], env, tmp_path / "beat.log")
    beat.ready_marker = "beat: Starting"
    producer = create_celery(load_settings(_env_file=None, database_url=db_url,
                                           redis_url=redis_url), main="test-producer")
    try:
        worker.start()
        beat.start()
        producer.send_task("no.such.task", args=[1], queue="default")
        eventually(lambda: "no.such.task" in worker.log(), timeout=20,
                   what="the worker's line about the unregistered task")
    finally:
        producer.close()
        beat.stop()
        worker.stop()
    for process in (worker, beat):
        log = process.log()
        assert log.strip(), "the process wrote nothing"
        assert _not_json(log) == [], log
    events = [json.loads(line) for line in worker.log().splitlines()]
    assert any("ready." in str(e["event"]) and e.get("logger", "").startswith("celery")
               for e in events)
    assert any("no.such.task" in str(e["event"]) and e["level"] == "error" for e in events)
