"""One log format per process: Celery's own lines come out as the same JSON lines as ours."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import structlog

from infra.celery_config import create_celery
from infra.embedded_redis import free_port
from infra.logging import configure_logging
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


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Whatever a test configures, the process's logging is as before afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    saved = structlog.get_config()
    try:
        yield
    finally:
        root.handlers, root.level = handlers, level
        structlog.configure(**saved)
        logging.captureWarnings(False)


def test_a_bot_token_inside_a_librarys_message_is_masked(
    restored_logging: None, capsys: pytest.CaptureFixture[str],
) -> None:
    """aiogram writes the failing URL, token and all; the line keeps the URL, not the token."""
    configure_logging(load_settings(_env_file=None, log_format="json"))
    logging.getLogger("aiogram.dispatcher").error(
        "Failed to fetch updates - for http://127.0.0.1:1/bot123456789:SECRET-part_x/getUpdates")
    structlog.get_logger("ours").info("calling", url="https://api.telegram.org/bot42:abc/getMe")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["event"] for line in lines] == [
        "Failed to fetch updates - for http://127.0.0.1:1/bot***/getUpdates", "calling"]
    assert lines[1]["url"] == "https://api.telegram.org/bot***/getMe"


@pytest.mark.slow
@pytest.mark.redis
def test_every_line_of_the_gateway_under_gunicorn_is_one_json_object(
    db_url: str, redis_url: str, tmp_path: Path,
) -> None:
    """Gunicorn's own lines (booting, the access log, shutdown) come out as our JSON too."""
    if not db_url.startswith("sqlite"):
        pytest.skip("the log format does not depend on the database")
    web = _procfile_line("web")
    assert "--logger-class infra.gunicorn_logging.OneFormat" in web
    migrate_and_seed(load_settings(_env_file=None, database_url=db_url))
    port = free_port()
    env = child_env(DATABASE_URL=db_url, REDIS_URL=redis_url, LOG_FORMAT="json",
                    PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    gateway = ChildProcess(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--access-logfile", "-", "--error-logfile", "-",
         "--logger-class", "infra.gunicorn_logging.OneFormat", "webhook_gateway:create_app()"],
        env, tmp_path / "web.log", ready_marker="Booting worker")
    try:
        gateway.start()
        eventually(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).is_success,
                   timeout=20, what="the gateway's answer")
        eventually(lambda: "GET /healthz" in gateway.log(), timeout=10, what="the access line")
    finally:
        gateway.stop()
    assert _not_json(gateway.log()) == [], gateway.log()
    loggers = {json.loads(line).get("logger") for line in gateway.log().splitlines()}
    assert {"gunicorn.error", "gunicorn.access"} <= loggers
