"""Phase 1: postbacks/s through the real gateway vs a bare Flask app, same gunicorn flags.

The gateway is `webhook_gateway:create_app()` under gunicorn (sync workers), with the real inbox
write (SQLite in a temp dir, or PostgreSQL) and the real Celery publish to the bench's Redis.
Every request carries a distinct invoice id with a valid HS256 token, so each one is a new inbox
row and a new message on the `payments` queue; both are counted afterwards as a check.
"""

from __future__ import annotations

import json
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

from bench.procs import Child, child_env, free_port, gunicorn
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


def run_load(port: int, bodies: Path, opts: IngressOptions) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--bodies",
               str(bodies), "--concurrency", str(opts.concurrency), "--seconds",
               str(opts.seconds), "--warmup", str(opts.warmup)]
    done = subprocess.run(command, capture_output=True, check=False,
                          timeout=opts.seconds + opts.warmup + 60,
                          cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr.decode()[-3000:]}")
    stats: dict[str, Any] = json.loads(done.stdout)
    return stats


def _serve(name: str, spec: str, env: dict[str, str], opts: IngressOptions, *, tmp: Path,
           children: list[Child]) -> tuple[Child, int]:
    port = free_port()
    child = gunicorn(name, spec, port=port, workers=opts.workers, env=env,
                     log_path=tmp / f"{name}.log")
    children.append(child)
    child.start()
    child.wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=30)
    return child, port


def bench_bare(opts: IngressOptions, bodies: Path, tmp: Path,
               children: list[Child]) -> IngressResult:
    child, port = _serve("bare", "bench.bare_app:app", child_env(), opts, tmp=tmp,
                        children=children)
    try:
        stats = run_load(port, bodies, opts)
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
                  database_url: str, redis_url: str, label: str) -> IngressResult:
    env = child_env(DATABASE_URL=database_url, REDIS_URL=redis_url, LOG_LEVEL="INFO")
    client = redis.Redis.from_url(redis_url)
    client.delete("payments")
    rows_before = _inbox_rows(database_url)
    child, port = _serve(f"gateway-{label}", "webhook_gateway:create_app()", env, opts,
                         tmp=tmp, children=children)
    try:
        stats = run_load(port, bodies, opts)
    finally:
        child.stop()
    # Check: every 200 (warm-up included) is a new inbox row and a message on the queue.
    rows = _inbox_rows(database_url) - rows_before
    queued = int(client.llen("payments"))  # type: ignore[arg-type]
    client.delete("payments")
    client.close()
    ok = int(stats["statuses"].get("200", 0)) + int(stats["warmup_200s"])
    check = f"200s={ok} new inbox rows={rows} queued={queued}"
    return IngressResult(f"gateway ({label}), gunicorn sync w={opts.workers}", stats, check)
