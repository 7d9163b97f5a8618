"""Child processes the bench starts: gunicorn and Celery workers, each tracked by pid.

Every child runs in its own session (so a terminal Ctrl-C reaches only the bench, which then
stops them in order) and gets PR_SET_PDEATHSIG, so even a SIGKILLed bench leaves no orphan.
Stopping is SIGTERM to the child's process group, then SIGKILL; nothing is found by name.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from infra.celery_config import WORKER_QUEUES

ROOT = Path(__file__).resolve().parents[1]
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def child_env(**settings: str) -> dict[str, str]:
    """No .env, no inherited project settings: only what the bench passes (like the tests)."""
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin')}",
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108
        "ENV_FILE": "",
        "LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
        # A worker would serve its Prometheus metrics on 9808; another run may hold that port.
        "WORKER_METRICS_PORT": "0",
    }
    env.update(settings)
    return env


class Child:
    """One child process (and its process group) with its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path, *,
                 stop_signal: signal.Signals = signal.SIGTERM) -> None:
        self.name, self.command, self.env, self.log_path = name, command, env, log_path
        self.stop_signal = stop_signal
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only calls prctl
            )
        return self

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            raise RuntimeError(f"{self.name} exited ({code}):\n{self.log()[-3000:]}")

    def wait_for_log(self, marker: str, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if marker in self.log():
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.log()[-3000:]}")

    def wait_for_http(self, url: str, *, timeout: float, method: str = "GET") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                httpx.request(method, url, timeout=1.0)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} does not answer {url}:\n{self.log()[-3000:]}")

    def stop(self, *, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, self.stop_signal)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def gunicorn(name: str, app_spec: str, *, port: int, workers: int, env: dict[str, str],
             log_path: Path) -> Child:
    """gunicorn with the Procfile's flags (sync workers, access log on) on 127.0.0.1:port."""
    command = [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--worker-class", "sync",
        "--access-logfile", "-", "--error-logfile", "-", app_spec,
    ]
    # SIGQUIT: gunicorn's quick shutdown (SIGTERM would wait for in-flight requests).
    return Child(name, command, env, log_path, stop_signal=signal.SIGQUIT)


def celery_worker(name: str, app_module: str, *, concurrency: int, env: dict[str, str],
                  log_path: Path) -> Child:
    """A worker with the flags tests/fixtures/processes.py uses (prefork, all queues)."""
    command = [
        sys.executable, "-m", "celery", "-A", app_module, "worker", "--loglevel", "INFO",
        "--pool", "prefork", "--concurrency", str(concurrency),
        "--queues", WORKER_QUEUES,
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--hostname", f"bench-{name}-{os.getpid()}@%h",
    ]
    return Child(name, command, env, log_path)
