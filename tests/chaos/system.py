"""The processes under chaos: what `make run` starts, each one started, killed and watched by pid.

A watcher restarts any process that exits without being told to, as a supervisor would, and
records it: a process that dies on its own is a miss, but the storm goes on so the other
figures still mean something.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra.embedded_redis import EmbeddedRedis, free_port
from tests.fixtures.processes import ChildProcess, worker_command

WORKERS = ("worker-1", "worker-2")


@dataclass(frozen=True)
class Death:
    """A process that exited without being killed or stopped by the harness."""

    name: str
    returncode: int | None
    last_lines: str


def _commands(gateway_port: int, workdir: Path) -> dict[str, Callable[[], tuple[list[str], str]]]:
    """Each process's command line and the log text that says it is ready."""
    python = sys.executable
    return {
        "gateway": lambda: ([python, "-m", "gunicorn", "--bind", f"127.0.0.1:{gateway_port}",
                             "--workers", "2", "--access-logfile", "-", "--error-logfile", "-",
                             "webhook_gateway:create_app()"], "Booting worker"),
        "beat": lambda: ([python, "-m", "celery", "-A", "celery_app", "beat", "--loglevel", "INFO",
                          "--schedule", str(workdir / "celerybeat-schedule")], "beat: Starting"),
        "bot": lambda: ([python, "-m", "bot_frontend"], "bot_polling"),
        # A fresh hostname on each start, as a restarted machine or container gets.
        **{name: (lambda: (worker_command(concurrency=2), "ready.")) for name in WORKERS},
    }


class System:
    """Redis, the gateway, two workers, beat and the bot, with their logs under `workdir`."""

    def __init__(self, *, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.redis = EmbeddedRedis(port=free_port(), data_dir=workdir / "redis", appendonly=True)
        self.gateway_url = f"http://127.0.0.1:{free_port()}"
        prometheus = workdir / "prometheus"
        prometheus.mkdir(parents=True, exist_ok=True)
        self.env = {**env, "REDIS_URL": self.redis.url,
                    "PROMETHEUS_MULTIPROC_DIR": str(prometheus)}
        self._commands = _commands(int(self.gateway_url.rpartition(":")[2]), workdir)
        self.processes: dict[str, ChildProcess] = {}
        self.deaths: list[Death] = []
        self.kills = 0
        self._starts: dict[str, int] = {}
        self._lock = threading.RLock()
        self._watching = threading.Event()
        self._watcher: threading.Thread | None = None

    # --- starting and stopping ------------------------------------------------------------

    def start_redis(self) -> None:
        self.redis.start()

    def start(self, name: str, *, tries: int = 3) -> None:
        """Start `name` and wait until it is ready; a start that fails is a death, retried."""
        with self._lock:
            for attempt in range(1, tries + 1):
                command, marker = self._commands[name]()
                count = self._starts[name] = self._starts.get(name, 0) + 1
                log_path = self.workdir / f"{name}.{count}.log"  # fresh: the marker is new
                process = ChildProcess(command, self.env, log_path, ready_marker=marker)
                try:
                    self.processes[name] = process.start(timeout=90)
                    return
                except RuntimeError:
                    process.stop()
                    lines = "\n".join(process.log().splitlines()[-15:])
                    code = None if process.process is None else process.process.poll()
                    self.deaths.append(Death(name, code, f"at start: {lines}"))
                    if attempt == tries:
                        raise

    def is_running(self, name: str) -> bool:
        process = self.processes.get(name)
        return process is not None and process.process is not None \
            and process.process.poll() is None

    def stop_all(self) -> None:
        self._watching.clear()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        with self._lock:
            for process in self.processes.values():
                process.stop(timeout=20)
        self.redis.stop()

    # --- the faults -----------------------------------------------------------------------

    def kill(self, name: str) -> None:
        """SIGKILL the process and its children (power lost, OOM killer), then start it again."""
        with self._lock:
            child = self.processes[name].process
            assert child is not None
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            self.kills += 1
            self.start(name)

    def restart_redis(self, *, down_for: float = 3.0) -> None:
        """Stop Redis (it writes its append-only file), keep it down a moment, start it again."""
        self.redis.stop()
        time.sleep(down_for)
        self.redis.start()

    # --- the supervisor -------------------------------------------------------------------

    def watch(self) -> None:
        """Restart, and record, any process that exits on its own from now on."""
        self._watching.set()
        self._watcher = threading.Thread(target=self._watch, name="chaos-watcher", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while self._watching.is_set():
            with self._lock:
                for name, process in list(self.processes.items()):
                    child = process.process
                    if child is None or child.poll() is None:
                        continue
                    lines = "\n".join(process.log().splitlines()[-15:])
                    self.deaths.append(Death(name, child.returncode, lines))
                    try:
                        self.start(name)
                    except RuntimeError:  # each failed start is recorded; stop watching it
                        del self.processes[name]
            time.sleep(0.5)

    def logs(self) -> dict[str, str]:
        """Every log file of this run, by file name."""
        return {path.name: path.read_text(errors="replace")
                for path in sorted(self.workdir.glob("*.log"))}
