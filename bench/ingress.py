"""Phase 1: postbacks/s through the real gateway vs a bare Flask app, same gunicorn flags.

The gateway is `webhook_gateway:create_app()` under gunicorn (sync workers), with the real inbox
write (SQLite in a temp dir, or PostgreSQL) and the real Celery publish to the bench's Redis.
Every request carries a distinct invoice id with a valid HS256 token, so each one is a new inbox
row and a new message on the `payments` queue; both are counted afterwards as a check.

The load comes from `wrk` (bench/postbacks.lua) when it is installed, else from the Python
generator (bench/loadgen.py), whose own ceiling is far lower. Either way `client_ceiling` measures
the client against a responder that does nothing (nginx if installed, else bench/responder.py),
so the table shows whether the client or the server set a figure. BENCH_CLIENT=python forces the
fallback.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import redis
from jwt.warnings import InsecureKeyLengthWarning
from sqlalchemy import func, select

from bench.procs import ROOT, Child, child_env, free_port, gunicorn
from infra.db import create_engine
from infra.settings import SANDBOX_CRYPTOCLOUD_SECRET_KEY
from models.schema import PaymentEvent


@dataclass(frozen=True)
class IngressOptions:
    workers: int
    concurrency: int
    seconds: float
    warmup: float
    max_requests: int


@dataclass
class IngressResult:
    label: str
    stats: dict[str, Any]
    check: str = ""


def mint_bodies(count: int, path: Path, *, exp_in: int = 900) -> None:
    """`count` form-encoded CryptoCloud postbacks, each for its own invoice, one per line."""
    tag = uuid.uuid4().hex[:8].upper()
    exp = int(time.time()) + exp_in
    lines = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        for index in range(count):
            invoice = f"B{tag}{index:08d}"
            token = jwt.encode({"id": invoice, "exp": exp}, SANDBOX_CRYPTOCLOUD_SECRET_KEY,
                               algorithm="HS256")
            lines.append(urlencode({
                "status": "success", "invoice_id": invoice, "amount_crypto": "10.0",
                "currency": "USDT_TRC20", "order_id": f"ord_{index}", "token": token,
                "invoice_info": json.dumps({"uuid": f"INV-{invoice}", "status": "paid"}),
            }))
    path.write_text("\n".join(lines) + "\n")


WRK_SCRIPT = Path(__file__).with_name("postbacks.lua")
# One wrk thread: it reaches >20k req/s against nginx here, and leaves the cores to the server.
WRK_THREADS = 1
NGINX_PATHS = ("nginx", "/usr/sbin/nginx")


def load_client() -> str:
    """"wrk" when installed (and not overridden by BENCH_CLIENT=python), else "python"."""
    if os.environ.get("BENCH_CLIENT") == "python":
        return "python"
    return "wrk" if shutil.which("wrk") else "python"


def describe_client(client: str) -> str:
    if client == "wrk":
        return (f"wrk ({WRK_THREADS} thread, bench/postbacks.lua: every request a postback never "
                f"sent before)")
    return "Python asyncio (bench/loadgen.py; wrk not installed or BENCH_CLIENT=python), 1 process"


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and all its live descendants, from /proc.

    The machine is shared, so req/s moves with other load; the server's CPU per request does
    not, and says what the code costs.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        stack.extend(int(child) for child in children)
    return total


def run_load(port: int, bodies: Path, opts: IngressOptions, *, client: str,
             server_pid: int | None = None) -> dict[str, Any]:
    """Drive POST /cryptocloud_webhook on `port`; the same stats whichever client runs.

    With `server_pid`, also the server's CPU ms per answered request (`server_cpu_ms`).
    """
    if client == "wrk":
        return _run_wrk(port, bodies, opts, server_pid)
    return _run_loadgen(port, bodies, opts, server_pid)


def _server_cpu_ms(server_pid: int | None, before: float, answered: int) -> float | None:
    if server_pid is None or not answered:
        return None
    return (tree_cpu_seconds(server_pid) - before) * 1000 / answered


def _run_loadgen(port: int, bodies: Path, opts: IngressOptions,
                 server_pid: int | None) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--bodies",
               str(bodies), "--concurrency", str(opts.concurrency), "--seconds",
               str(opts.seconds), "--warmup", str(opts.warmup)]
    cpu_before = tree_cpu_seconds(server_pid) if server_pid else 0.0
    done = subprocess.run(command, capture_output=True, check=False,
                          timeout=opts.seconds + opts.warmup + 60, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr.decode()[-3000:]}")
    stats: dict[str, Any] = json.loads(done.stdout)
    # One process runs warm-up and measurement: the CPU covers both (warm-up 200s only).
    stats["server_cpu_ms"] = _server_cpu_ms(server_pid, cpu_before,
                                            stats["requests"] + stats["warmup_200s"])
    return stats


def _wrk_once(port: int, bodies: Path, *, connections: int, seconds: float) -> dict[str, Any]:
    # wrk takes whole seconds only.
    command = ["wrk", "-t", str(WRK_THREADS), "-c", str(connections), "-d",
               f"{max(1, round(seconds))}s",
               "--timeout", "10s", "-s", str(WRK_SCRIPT),
               f"http://127.0.0.1:{port}/cryptocloud_webhook", "--", str(bodies),
               str(WRK_THREADS)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, check=False, timeout=seconds + 60,
                          cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = done.stdout.decode(errors="replace")
    marked = [line for line in out.splitlines() if line.startswith("WRK_JSON ")]
    if done.returncode != 0 or not marked:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{out[-2000:]}"
                           f"{done.stderr.decode(errors='replace')[-2000:]}")
    stats: dict[str, Any] = json.loads(marked[-1].removeprefix("WRK_JSON "))
    stats["cpu_seconds"] = ((after.ru_utime - before.ru_utime)
                            + (after.ru_stime - before.ru_stime))
    return stats


def _run_wrk(port: int, bodies: Path, opts: IngressOptions,
             server_pid: int | None) -> dict[str, Any]:
    """A warm-up run, then the measured run, on disjoint parts of the bodies file.

    wrk has no warm-up of its own; the split is proportional to the two durations, so each
    part lasts as long as the whole would have at a steady rate.
    """
    lines = [line for line in bodies.read_text().split("\n") if line]
    cut = int(len(lines) * opts.warmup / (opts.warmup + opts.seconds)) if opts.warmup else 0
    warm_file, measured_file = bodies.with_suffix(".warm"), bodies.with_suffix(".measured")
    warm_file.write_text("\n".join(lines[:cut]) + "\n")
    measured_file.write_text("\n".join(lines[cut:]) + "\n")
    warm: dict[str, Any] = {"statuses": {}, "wrapped": 0}
    if cut:
        warm = _wrk_once(port, warm_file, connections=opts.concurrency, seconds=opts.warmup)
    cpu_before = tree_cpu_seconds(server_pid) if server_pid else 0.0
    run = _wrk_once(port, measured_file, connections=opts.concurrency, seconds=opts.seconds)
    server_cpu_ms = _server_cpu_ms(server_pid, cpu_before, int(run["requests"]))
    seconds = run["duration_us"] / 1e6
    return {
        "requests": run["requests"],
        "errors": run["errors"],
        "warmup_200s": int(warm["statuses"].get("200", 0)),
        "statuses": run["statuses"],
        "seconds": seconds,
        "rps": run["requests"] / seconds if seconds > 0 else 0.0,
        "p50_ms": run["p50_us"] / 1000,
        "p90_ms": run["p90_us"] / 1000,
        "p99_ms": run["p99_us"] / 1000,
        "max_ms": run["max_us"] / 1000,
        "client_cpu_share": run["cpu_seconds"] / seconds if seconds > 0 else 0.0,
        "bodies_exhausted": bool(run["wrapped"] or warm["wrapped"]),
        "server_cpu_ms": server_cpu_ms,
    }


def _nginx() -> str | None:
    for candidate in NGINX_PATHS:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def _responder(tmp: Path, children: list[Child]) -> tuple[str, int]:
    """Start a do-nothing HTTP server that closes every connection (as gunicorn sync does)."""
    port = free_port()
    nginx = _nginx()
    if nginx:
        prefix = tmp / "nginx"
        prefix.mkdir(exist_ok=True)
        (prefix / "nginx.conf").write_text(
            "worker_processes 1;\ndaemon off;\npid nginx.pid;\nerror_log error.log;\n"
            "events { worker_connections 1024; }\n"
            "http {\n  access_log off;\n  keepalive_timeout 0;\n"
            "  client_body_temp_path body;\n"
            f"  server {{ listen 127.0.0.1:{port}; location / "
            "{ return 200 '{\"message\": \"ok\"}'; } }\n}\n")
        command = [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                   "-e", str(prefix / "error.log")]
        label = "nginx return 200 (1 worker)"
    else:
        command = [sys.executable, "-m", "bench.responder", "--port", str(port)]
        label = "Python asyncio responder (nginx not installed; a lower bound)"
    child = Child("responder", command, child_env(), tmp / "responder.log")
    children.append(child)
    child.start()
    child.wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=30)
    return label, port


def client_ceiling(opts: IngressOptions, bodies: Path, tmp: Path, children: list[Child], *,
                   client: str) -> IngressResult:
    """The client's own limit: its rate against a responder that does nothing."""
    label, port = _responder(tmp, children)
    try:
        stats = run_load(port, bodies, opts, client=client)
    finally:
        children[-1].stop()
    return IngressResult(f"client ceiling: {label}", stats)


def _serve(name: str, spec: str, env: dict[str, str], opts: IngressOptions, *, tmp: Path,
           children: list[Child]) -> tuple[Child, int]:
    port = free_port()
    child = gunicorn(name, spec, port=port, workers=opts.workers, env=env,
                     log_path=tmp / f"{name}.log")
    children.append(child)
    child.start()
    child.wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=30)
    return child, port


def bench_bare(opts: IngressOptions, bodies: Path, tmp: Path, children: list[Child], *,
               client: str) -> IngressResult:
    child, port = _serve("bare", "bench.bare_app:app", child_env(), opts, tmp=tmp,
                        children=children)
    try:
        stats = run_load(port, bodies, opts, client=client, server_pid=child.pid)
    finally:
        child.stop()
    return IngressResult(f"bare Flask, gunicorn sync w={opts.workers}", stats)


def _inbox_rows(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(PaymentEvent)) or 0)
    finally:
        engine.dispose()


def bench_gateway(opts: IngressOptions, bodies: Path, tmp: Path, children: list[Child], *,
                  database_url: str, redis_url: str, label: str,
                  client: str) -> IngressResult:
    env = child_env(DATABASE_URL=database_url, REDIS_URL=redis_url, LOG_LEVEL="INFO")
    broker = redis.Redis.from_url(redis_url)
    broker.delete("payments")
    rows_before = _inbox_rows(database_url)
    child, port = _serve(f"gateway-{label}", "webhook_gateway:create_app()", env, opts,
                         tmp=tmp, children=children)
    try:
        stats = run_load(port, bodies, opts, client=client, server_pid=child.pid)
        # Let the requests the client cut at its stop finish before gunicorn's quick shutdown,
        # which would end one between its inbox row and its publish (the relay's case, not ours).
        time.sleep(1.0)
    finally:
        child.stop()
    # Check: every 200 (warm-up included) is a new inbox row and a message on the queue.
    rows = _inbox_rows(database_url) - rows_before
    queued = int(broker.llen("payments"))  # type: ignore[arg-type]
    broker.delete("payments")
    broker.close()
    ok = int(stats["statuses"].get("200", 0)) + int(stats["warmup_200s"])
    # wrk drops the answers still in flight when a run's time is up (at most one per connection,
    # twice: warm-up and measured run), though the server stored and queued them.
    cut = 2 * opts.concurrency if client == "wrk" else 0
    consistent = rows == queued and 0 <= rows - ok <= cut
    check = (f"200s={ok} new inbox rows={rows} queued={queued}"
             + (f" (cut in flight: {rows - ok})" if cut else "")
             + ("" if consistent else " MISMATCH"))
    return IngressResult(f"gateway ({label}), gunicorn sync w={opts.workers}", stats, check)
