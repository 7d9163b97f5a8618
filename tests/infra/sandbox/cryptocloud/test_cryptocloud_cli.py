"""`python -m infra.sandbox cryptocloud` (cli.py) and the shared BackgroundServer it builds on."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from infra.sandbox.cryptocloud.cli import build_parser
from infra.sandbox.server import BackgroundServer

ROOT = Path(__file__).resolve().parents[4]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_parser_defaults_match_the_contract() -> None:
    """Defaults: bind 127.0.0.1:8082, postbacks form-encoded to the gateway's webhook."""
    args = build_parser().parse_args([])
    assert args.bind == "127.0.0.1:8082"
    assert args.notify_url == "http://127.0.0.1:8080/cryptocloud_webhook"
    assert args.format == "form"


def test_the_command_serves_the_api_and_prints_where_to_open_it() -> None:
    """The CLI starts the stand-in with the given credentials, prints its address, and stops
    cleanly on SIGINT."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.sandbox", "cryptocloud", "--bind", f"127.0.0.1:{port}",
         "--api-key", "cli-key", "--shop-id", "CLISHOP000000001", "--format", "json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.post(
                    f"{base}/v2/invoice/create",
                    headers={"Authorization": "Token cli-key"},
                    json={"shop_id": "CLISHOP000000001", "amount": 1},
                )
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the stand-in did not start"
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.json()["result"]["link"].startswith(f"{base}/")
        assert httpx.get(f"{base}/control/config").json()["postback_format"] == "json"
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert f"CryptoCloud sandbox on {base}" in out


def test_background_server_serves_on_a_free_port_and_stops() -> None:
    """BackgroundServer picks a free port, serves until stop(), then frees the port."""

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hi")

    app = web.Application()
    app.router.add_get("/", hello)
    with BackgroundServer(app) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert not server.base_url.endswith(":0")
        assert httpx.get(server.base_url).text == "hi"
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.base_url)


def test_background_server_reports_a_port_in_use() -> None:
    """Starting on a taken port raises on the caller's thread instead of hanging."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            BackgroundServer(web.Application(), port=port).start()
