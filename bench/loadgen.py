"""A small HTTP/1.1 POST load generator: the fallback when wrk is not installed.

asyncio with raw sockets: one fresh connection per request (gunicorn's sync workers close every
connection anyway), `concurrency` requests in flight, each body used once. Bounded by count (the
bodies given) and by time. Run as a child process so its CPU use is its own and measurable:

    python -m bench.loadgen --port P --bodies FILE --concurrency 16 --seconds 10 --warmup 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Run:
    bodies: list[bytes]
    port: int
    path: str
    warmup_until: float
    stop_at: float
    next_index: int = 0
    measure_started: float | None = None
    measure_ended: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    warmup_ok: int = 0

    def request(self, body: bytes) -> bytes:
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        return head.encode() + body


async def _one(run: Run, body: bytes) -> tuple[str, float]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", run.port)
    try:
        writer.write(run.request(body))
        await writer.drain()
        data = await reader.read()  # to EOF: the server closes after the answer
    finally:
        writer.close()
    status = data[9:12].decode("ascii", "replace") if data.startswith(b"HTTP/1.") else "bad"
    return status, time.perf_counter() - started


async def _client(run: Run) -> None:
    while run.next_index < len(run.bodies):
        now = time.perf_counter()
        if now >= run.stop_at:
            return
        body = run.bodies[run.next_index]
        run.next_index += 1
        measuring = now >= run.warmup_until
        try:
            status, latency = await asyncio.wait_for(_one(run, body), timeout=10.0)
        except (OSError, TimeoutError):
            if measuring:
                run.errors += 1
            continue
        if not measuring and status == "200":
            run.warmup_ok += 1
        if measuring:
            if run.measure_started is None:
                run.measure_started = now
            run.latencies.append(latency)
            run.statuses[status] = run.statuses.get(status, 0) + 1
            run.measure_ended = time.perf_counter()


async def _main(args: argparse.Namespace) -> dict[str, object]:
    bodies = [line for line in Path(args.bodies).read_bytes().split(b"\n") if line]
    start = time.perf_counter()
    run = Run(bodies=bodies, port=args.port, path=args.path,
              warmup_until=start + args.warmup, stop_at=start + args.warmup + args.seconds)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(_client(run) for _ in range(args.concurrency)))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    elapsed = run.measure_ended - (run.measure_started or run.measure_ended)
    latencies = sorted(run.latencies)

    def pct(q: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    wall = time.perf_counter() - start
    return {
        "requests": len(latencies),
        "errors": run.errors,
        "warmup_200s": run.warmup_ok,
        "statuses": run.statuses,
        "seconds": elapsed,
        "rps": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
        "client_cpu_share": cpu / wall if wall > 0 else 0.0,  # in cores
        "bodies_exhausted": run.next_index >= len(bodies),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/cryptocloud_webhook")
    parser.add_argument("--bodies", required=True, help="file with one request body per line")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args(argv)
    json.dump(asyncio.run(_main(args)), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
