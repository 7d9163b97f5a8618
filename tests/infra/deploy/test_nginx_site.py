"""infra/deploy/nginx.conf, for real: Debian's nginx in front of the real gateway.

The site file is rendered with render_nginx.py (the operator's command) for the domain
hooks.test with a throwaway self-signed certificate, free 127.0.0.1 ports and no IPv6
listeners, and included in a small test-only main config (temp paths and logs under the
test's prefix; no user switch: as root its workers stay root to read the pytest temp dirs).
nginx runs on unprivileged ports in the foreground; the gateway is `create_app()` on a
migrated SQLite file and the session's Redis, served in a thread; the bot's upstream is a stub
recording what reaches it. All three are stopped at the end of the module.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from infra.embedded_redis import free_port
from infra.settings import load_settings
from models.migrations import upgrade
from tests.fixtures.postbacks import token
from tests.fixtures.processes import serve_wsgi
from tests.fixtures.services import unavailable
from webhook_gateway import create_app

pytestmark = [pytest.mark.slow, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[3]
RENDER = ROOT / "infra" / "deploy" / "render_nginx.py"
DOMAIN = "hooks.test"
BOT_PATH = "test-bot-path-0123456789abcdef"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# nginx's 444 closes the connection without an answer: the client sees the server hang up,
# or, when the close races the request, a connection reset. Both mean "dropped".
DROPPED = (httpx.RemoteProtocolError, httpx.ReadError)


def _binary(name: str, *fallbacks: str) -> str:
    """Path of a needed program: the test fails under CI=true without it, else skips."""
    for candidate in (shutil.which(name), *fallbacks):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    unavailable(f"{name} is not installed")
    raise AssertionError  # unreachable: unavailable() fails or skips


@dataclass
class BotStub:
    """What reached the bot's upstream: (path, X-Telegram-Bot-Api-Secret-Token) pairs."""

    port: int
    seen: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass
class Site:
    https_port: int
    http_port: int
    cert: Path
    bot: BotStub
    error_log: Path

    def client(self, *, sni: str = DOMAIN, local_address: str | None = None) -> httpx.Client:
        """A client connecting to 127.0.0.1 that speaks TLS (SNI) and `Host` for `sni`."""
        # Trust exactly the test certificate, and check it is the one served for the name.
        context = ssl.create_default_context(cafile=str(self.cert))
        transport = httpx.HTTPTransport(verify=context, local_address=local_address, retries=0)

        def use_sni(request: httpx.Request) -> None:
            request.extensions["sni_hostname"] = sni

        return httpx.Client(transport=transport, timeout=5.0, headers={"Host": sni},
                            event_hooks={"request": [use_sni]})


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for hooks.test (with a matching subjectAltName)."""
    openssl = _binary("openssl")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={DOMAIN}",
         "-addext", f"subjectAltName=DNS:{DOMAIN}", "-days", "1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


@pytest.fixture(scope="module")
def gateway_port(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The real gateway on a migrated SQLite database, served over HTTP on 127.0.0.1."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('gateway') / 'app.db'}"
    upgrade(database_url)
    settings = load_settings(database_url=database_url, redis_url=redis_url, _env_file=None)
    with serve_wsgi(create_app({"settings": settings})) as base_url:
        yield int(base_url.rpartition(":")[2])


@pytest.fixture(scope="module")
def bot_stub() -> Iterator[BotStub]:
    """Stands in for the bot's webhook server (BOT_WEBHOOK_BIND): answers 200, records."""
    stub = BotStub(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            stub.seen.append((self.path, self.headers.get("X-Telegram-Bot-Api-Secret-Token")))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stub.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"nginx exited at start:\n{log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nginx is not listening on {port}:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, tls_cert: tuple[Path, Path], gateway_port: int,
    bot_stub: BotStub,
) -> Iterator[Site]:
    """nginx running our rendered site file on free ports; stopped after the module."""
    nginx = _binary("nginx", "/usr/sbin/nginx")
    prefix = tmp_path_factory.mktemp("nginx")
    acme_root = prefix / "acme"
    (acme_root / ".well-known" / "acme-challenge").mkdir(parents=True)
    (acme_root / ".well-known" / "acme-challenge" / "probe").write_text("acme-probe")
    http_port, https_port = free_port(), free_port()
    rendered = subprocess.run(
        [sys.executable, str(RENDER), "--domain", DOMAIN, "--bot-path", BOT_PATH,
         "--http-listen", f"127.0.0.1:{http_port}", "--https-listen", f"127.0.0.1:{https_port}",
         "--no-ipv6", "--tls-cert", str(tls_cert[0]), "--tls-key", str(tls_cert[1]),
         "--acme-root", str(acme_root), "--gateway", f"127.0.0.1:{gateway_port}",
         "--bot-upstream", f"127.0.0.1:{bot_stub.port}"],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout
    (prefix / "site.conf").write_text(rendered)
    # Test-only main context: what Debian's /etc/nginx/nginx.conf provides around sites-enabled,
    # minus everything needing root. As root (a CI container) workers must stay root to read
    # the pytest temp dirs; elsewhere nginx cannot switch users anyway.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (prefix / "main.conf").write_text(
        f"{user}worker_processes 1;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"    access_log {prefix}/access.log;\n"
        + "".join(f"    {kind}_temp_path {prefix}/{kind}_temp;\n"
                  for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"    include {prefix}/site.conf;\n"
        "}\n"
    )
    error_log = prefix / "error.log"
    command = [nginx, "-p", str(prefix), "-c", str(prefix / "main.conf"), "-e", str(error_log),
               "-g", f"daemon off; pid {prefix}/nginx.pid; error_log {error_log} info;"]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30,
                             check=False)
    assert checked.returncode == 0, f"nginx -t refused the rendered site:\n{checked.stderr}"

    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        _wait_for_port(https_port, process, error_log)
        _wait_for_port(http_port, process, error_log)
        yield Site(https_port=https_port, http_port=http_port, cert=tls_cert[0], bot=bot_stub,
                   error_log=error_log)
    finally:
        process.terminate()  # SIGTERM: nginx's fast shutdown, workers included
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _url(site: Site, path: str) -> str:
    return f"https://127.0.0.1:{site.https_port}{path}"


def _postback_body(invoice_code: str) -> str:
    return urlencode({"status": "success", "invoice_id": invoice_code,
                      "token": token(invoice_code)})


def _assert_security_headers(response: httpx.Response) -> None:
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_signed_postback_reaches_the_gateway_and_gets_200(site: Site) -> None:
    """A correctly signed postback passes nginx and is accepted by the gateway (200)."""
    code = f"NGX{uuid.uuid4().hex[:12].upper()}"
    with site.client() as client:
        response = client.post(_url(site, "/cryptocloud_webhook"), headers=FORM,
                               content=_postback_body(code))
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Postback received"}


def test_the_proxied_answer_carries_the_security_headers(site: Site) -> None:
    """HSTS, X-Frame-Options and X-Content-Type-Options are on the gateway's proxied answer."""
    with site.client() as client:
        response = client.post(_url(site, "/cryptocloud_webhook"), headers=FORM,
                               content="invoice_id=INV-NOTOKEN1")
    assert response.status_code == 400  # the gateway's own refusal, so it was proxied
    assert response.json()["error"]
    _assert_security_headers(response)
    assert response.headers["Server"] == "nginx"  # server_tokens off: no version


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/cryptocloud_webhook", {}),
        ("PUT", "/cryptocloud_webhook", FORM),
        ("HEAD", "/cryptocloud_webhook", {}),
        ("POST", "/cryptocloud_webhook/", FORM),
        ("POST", "/CRYPTOCLOUD_WEBHOOK", FORM),
        ("POST", "/", FORM),
        ("GET", "/healthz", {}),
        ("GET", "/readyz", {}),
        ("GET", "/metrics", {}),
        ("GET", "/.well-known/acme-challenge/probe", {}),
        ("POST", f"/telegram/{BOT_PATH}", {"Content-Type": "application/json"}),
        ("GET", f"/telegram/{BOT_PATH}", {"X-Telegram-Bot-Api-Secret-Token": "s"}),
        ("POST", "/telegram/another-path-0123456789",
         {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "s"}),
    ],
)
def test_every_other_request_is_dropped_without_an_answer(
    site: Site, method: str, path: str, headers: dict[str, str]
) -> None:
    """Other paths and methods get `return 444`: the connection closes with no response."""
    with site.client() as client, pytest.raises(DROPPED):
        client.request(method, _url(site, path), headers=headers, content=b"{}")


def test_a_postback_with_a_query_string_is_still_the_webhook(site: Site) -> None:
    """The exact-match location ignores the query string, as the gateway does."""
    with site.client() as client:
        response = client.post(_url(site, "/cryptocloud_webhook?from=cryptocloud"),
                               headers=FORM, content="invoice_id=INV-NOTOKEN2")
    assert response.status_code == 400


def test_an_unknown_host_header_is_dropped(site: Site) -> None:
    """TLS for our name but `Host: elsewhere.test` lands in the default server: 444."""
    with site.client() as client, pytest.raises(DROPPED):
        client.post(_url(site, "/cryptocloud_webhook"), headers={**FORM, "Host": "elsewhere.test"},
                    content=_postback_body("NGXHOST01"))


def test_an_unknown_tls_name_gets_no_handshake(site: Site) -> None:
    """An SNI name we do not serve is refused during the handshake (ssl_reject_handshake)."""
    with site.client(sni="elsewhere.test") as client, pytest.raises(httpx.ConnectError):
        client.post(_url(site, "/cryptocloud_webhook"), headers=FORM, content="x=1")


@pytest.mark.parametrize("host", [DOMAIN, "elsewhere.test", "127.0.0.1"])
def test_plain_http_answers_nothing_but_the_acme_challenge(site: Site, host: str) -> None:
    """Port 80 drops everything (any host, even a POST to the webhook) except ACME files."""
    base = f"http://127.0.0.1:{site.http_port}"
    with httpx.Client(timeout=5.0, transport=httpx.HTTPTransport(retries=0)) as client:
        with pytest.raises(DROPPED):
            client.post(f"{base}/cryptocloud_webhook", headers={**FORM, "Host": host},
                        content="x=1")
        challenge = f"{base}/.well-known/acme-challenge/probe"
        if host != DOMAIN:
            with pytest.raises(DROPPED):
                client.get(challenge, headers={"Host": host})
            return
        response = client.get(challenge, headers={"Host": host})
    assert response.status_code == 200
    assert response.text == "acme-probe"


@pytest.mark.parametrize(("kib", "status"), [(60, 400), (70, 413)])
def test_bodies_over_64_kib_are_refused_by_nginx(site: Site, kib: int, status: int) -> None:
    """70 KiB is refused with 413 by nginx; 60 KiB still reaches the gateway (its own 400)."""
    padding = "x" * (kib * 1024 - len("invoice_id=INV-BIG00001&pad="))
    with site.client() as client:
        response = client.post(_url(site, "/cryptocloud_webhook"), headers=FORM,
                               content=f"invoice_id=INV-BIG00001&pad={padding}")
    assert response.status_code == status
    _assert_security_headers(response)
    # The gateway refuses over 64 KiB too, with JSON: the 413 must be nginx's own page.
    refused_by_nginx = "413 Request Entity Too Large</title>" in response.text
    assert refused_by_nginx == (status == 413), response.text[:200]


def test_a_flood_from_one_address_is_throttled_with_429(site: Site) -> None:
    """Past rate (10/s) plus burst (20) one client gets 429, after at least the burst passed.

    The flood comes from 127.0.0.2, so its bucket is not the one the other tests use.
    """
    statuses: list[int] = []
    with site.client(local_address="127.0.0.2") as client:
        for _ in range(100):
            response = client.post(_url(site, "/cryptocloud_webhook"), headers=FORM,
                                   content="invoice_id=INV-FLOOD0001")
            statuses.append(response.status_code)
            if response.status_code == 429:
                _assert_security_headers(response)
                break
    assert statuses[-1] == 429, statuses
    assert set(statuses[:-1]) == {400}, statuses  # the gateway answered until then
    assert len(statuses) > 20, statuses


def test_the_bot_webhook_path_with_its_secret_header_reaches_the_bot(site: Site) -> None:
    """POST /telegram/<secret path> with Telegram's secret header is proxied to the bot as is."""
    with site.client() as client:
        response = client.post(
            _url(site, f"/telegram/{BOT_PATH}"), json={"update_id": 1},
            headers={"X-Telegram-Bot-Api-Secret-Token": "bot-secret"},
        )
    assert response.status_code == 200
    _assert_security_headers(response)
    assert (f"/telegram/{BOT_PATH}", "bot-secret") in site.bot.seen


def test_the_production_rendering_fits_debians_main_config(
    tmp_path: Path, tls_cert: tuple[Path, Path]
) -> None:
    """`nginx -t` accepts the site (80/443, IPv4 and IPv6) in Debian's own nginx.conf.

    Debian's /etc/nginx/nginx.conf is used with its sites-enabled/conf.d includes replaced by
    our file and its pid and logs moved to the temp dir; only the certificate is the test's.
    """
    nginx = _binary("nginx", "/usr/sbin/nginx")
    debian = Path("/etc/nginx/nginx.conf")
    if not debian.exists():
        unavailable("Debian's /etc/nginx/nginx.conf is not installed")
    site = subprocess.run(
        [sys.executable, str(RENDER), "--domain", "hooks.example.com", "--bot-path", BOT_PATH,
         "--tls-cert", str(tls_cert[0]), "--tls-key", str(tls_cert[1])],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout
    (tmp_path / "site.conf").write_text(site)
    main = debian.read_text()
    main = re.sub(r"include /etc/nginx/sites-enabled/\*;", f"include {tmp_path}/site.conf;", main)
    main = re.sub(r"include /etc/nginx/conf\.d/\*\.conf;", "", main)
    main = re.sub(r"(?m)^pid .*;$", f"pid {tmp_path}/nginx.pid;", main)
    main = main.replace("/var/log/nginx/", f"{tmp_path}/")  # writable without root
    assert f"include {tmp_path}/site.conf;" in main
    (tmp_path / "nginx.conf").write_text(main)
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
         "-e", str(tmp_path / "error.log")],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert result.returncode == 0, result.stderr
