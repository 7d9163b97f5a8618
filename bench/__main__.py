"""`make bench` / `python -m bench [--quick] [--only PHASES]`: each figure against its goal.

Phases (each prints its detail, then one summary table ends the run, a row per figure):
- ingress: postbacks/s through the real gateway under gunicorn (sync workers, inbox write,
  Celery publish) vs a bare Flask app with one POST route, same gunicorn flags, driven by wrk
  (or the Python fallback), whose own ceiling against a do-nothing responder is printed too.
- processing: paid invoices fully processed per second by one real worker vs Celery no-op
  tasks/s with the same configuration, broker and worker flags.
- latency: postback -> invite DM p50/p99 at 5 payments/s, everything real (bench/latency.py).
- launch: payers during a queued 20,000-message bulk wave, flood limits on (bench/launch.py).
- million: 1M subscribers in PostgreSQL, 1 % due: query plans, memory, reminders, sweep rate
  (bench/million.py; needs TEST_POSTGRES_URL).
- poll: the fallback poll over 10,000 open invoices, 2 % paid without a postback (bench/poll.py).
- rush: updates/s through our bot vs a bare aiogram dispatcher on the same stand-in
  (bench/rush.py).
- broadcast: a broadcast at the send budget with payers paying during it, flood limits on:
  its rate against TELEGRAM_RATE_PER_SEC, 429s, the payers' invite latency (bench/broadcast.py).
Where a goal is missed, a cProfile of the in-process path says where the time goes.

Everything runs on 127.0.0.1 and is started here: an embedded Redis, gunicorn, Celery workers,
both stand-ins (in this process), temp databases; all of it is stopped on exit, Ctrl-C included.
Sizes: --quick, or --invoices/--noop-tasks/--seconds (env BENCH_INVOICES, BENCH_NOOP_TASKS,
BENCH_SECONDS). TEST_POSTGRES_URL adds a gateway run with the inbox on PostgreSQL.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from bench import ingress, poll, processing, profiling, rush
from bench.broadcast import broadcast_phase
from bench.latency import latency_phase
from bench.launch import launch_phase
from bench.million import million_phase
from bench.procs import Child
from bench.table import Row, render
from infra.celery_config import WORKER_QUEUES

INGRESS_GOAL_RATIO = 0.5
INGRESS_GOAL_P99_MS = 20.0
PROCESSING_GOAL_RATIO = 0.25
# The load generator must reach this multiple of the bare app's rate against a responder that
# does nothing, or the baseline may be the client's limit rather than the server's.
CLIENT_HEADROOM = 2.0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="about one minute, smaller sizes")
    parser.add_argument("--invoices", type=int, help="paid invoices to process (full: 1000)")
    parser.add_argument("--noop-tasks", type=int, help="no-op tasks for the baseline (2000)")
    parser.add_argument("--seconds", type=float, help="measured seconds per ingress run (10)")
    parser.add_argument("--gunicorn-workers", type=int, default=2,
                        help="sync workers, as in the Procfile (2)")
    parser.add_argument("--connections", type=int, default=16,
                        help="client connections in flight for the throughput runs (16)")
    parser.add_argument("--worker-concurrency", type=int, default=2,
                        help="prefork children of the one Celery worker (2, as the Procfile)")
    parser.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                        help="cProfile where a goal is missed (auto), always, or never")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    parser.add_argument("--only", default="",
                        help=f"comma-separated phases to run (default all: {', '.join(PHASES)})")
    args = parser.parse_args(argv)
    quick = args.quick
    args.invoices = args.invoices or _env_int("BENCH_INVOICES", 200 if quick else 1000)
    args.noop_tasks = args.noop_tasks or _env_int("BENCH_NOOP_TASKS", 600 if quick else 2000)
    args.seconds = args.seconds or float(os.environ.get("BENCH_SECONDS") or (3 if quick else 10))
    args.phases = [name.strip() for name in args.only.split(",") if name.strip()] or list(PHASES)
    unknown = [name for name in args.phases if name not in PHASES]
    if unknown:
        parser.error(f"unknown phase(s) {', '.join(unknown)}; known: {', '.join(PHASES)}")
    return args


def _sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load avg {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} cores"


@contextmanager
def _postgres_database(server_url: str) -> Iterator[str]:
    """A `pce_bench_…` database on TEST_POSTGRES_URL's server for this run, dropped afterwards."""
    import sqlalchemy
    from sqlalchemy import make_url
    from sqlalchemy.pool import NullPool

    from infra.db import normalize_url

    server = normalize_url(server_url)
    name = f"pce_bench_{uuid.uuid4().hex[:12]}"

    def run(statement: str) -> None:
        engine = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(statement)
        finally:
            engine.dispose()

    run(f'CREATE DATABASE "{name}" TEMPLATE "template0"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare_database(url: str) -> None:
    """What `make migrate` does, with the settings every bench child gets (defaults + this URL).

    Each process refuses to start on a database whose plans differ from its settings, so a
    bare Alembic upgrade is not enough.
    """
    from infra.migrate import migrate_and_seed
    from infra.settings import load_settings

    migrate_and_seed(load_settings(_env_file=None, database_url=url))


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


@dataclass
class Bench:
    """What every phase gets: options, the report, a temp dir, one Redis, and the stand-ins.

    The stand-ins start on first use and live until the run ends; `children` are stopped on exit.
    """

    args: argparse.Namespace
    say: Report
    tmp: Path
    redis_url: str
    children: list[Child]
    stack: ExitStack
    _telegram: Any = None
    _cryptocloud: Any = None

    @property
    def telegram(self) -> Any:
        if self._telegram is None:
            from infra.sandbox.telegram import TelegramSandbox

            self._telegram = self.stack.enter_context(TelegramSandbox())
        return self._telegram

    @property
    def cryptocloud(self) -> Any:
        if self._cryptocloud is None:
            from infra.sandbox.cryptocloud import CryptoCloudSandbox, SandboxConfig

            self._cryptocloud = self.stack.enter_context(
                CryptoCloudSandbox(config=SandboxConfig(notify_url=None)))
        return self._cryptocloud


class Report:
    """Prints lines as they come and keeps them (written to report.txt in the temp dir)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str = "") -> None:
        self.lines.append(line)
        print(line, flush=True)


def _say_runs(say: Report, runs: list[tuple[str, ingress.IngressResult]],
              ceiling: ingress.IngressResult) -> None:
    say(f"  {'what':<50} {'load':<9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'client cores':>12} {'server CPU ms/req':>17}  check")
    for name, result in runs:
        s = result.stats
        errors = f" errors={s['errors']}" if s["errors"] else ""
        non200 = {k: v for k, v in s["statuses"].items() if k != "200"}
        bad = f" non-200={non200}" if non200 else ""
        if s["bodies_exhausted"] and result is not ceiling:
            bad += " (ran out of postbacks: some were sent twice)"
        cpu = "-" if s.get("server_cpu_ms") is None else _fmt(s["server_cpu_ms"], 2)
        say(f"  {result.label:<50} {name:<9} {_fmt(s['rps'], 0):>8} {_fmt(s['p50_ms']):>7} "
            f"{_fmt(s['p99_ms']):>7} {_fmt(s['client_cpu_share'], 2):>12} {cpu:>17}  "
            f"{result.check}{errors}{bad}")


def _cpu_note(bare: dict[str, Any], gateway: dict[str, Any]) -> str:
    """Server CPU per request of both: when the cores are the limit (both servers use all of
    them at 16 conns), their ratio bounds the throughput ratio, whatever other load there is."""
    bare_ms, gateway_ms = bare.get("server_cpu_ms"), gateway.get("server_cpu_ms")
    if not bare_ms or not gateway_ms:
        return "server CPU per request not measured"
    return (f"server CPU/request {gateway_ms:.2f} ms vs bare {bare_ms:.2f} ms: bounds the "
            f"ratio at {bare_ms / gateway_ms:.2f}x when the cores are the limit")


def ingress_phase(bench: Bench) -> list[Row]:
    args, say, tmp, redis_url, children = (bench.args, bench.say, bench.tmp, bench.redis_url,
                                           bench.children)
    client = ingress.load_client()
    opts = ingress.IngressOptions(workers=args.gunicorn_workers, concurrency=args.connections,
                                  seconds=args.seconds, warmup=1.0, max_requests=0)
    light = ingress.IngressOptions(workers=args.gunicorn_workers, concurrency=2,
                                   seconds=max(2.0, args.seconds / 2), warmup=0.5, max_requests=0)
    ceiling_opts = ingress.IngressOptions(workers=1, concurrency=args.connections,
                                          seconds=min(3.0, args.seconds), warmup=0.5,
                                          max_requests=0)
    bodies = tmp / "bodies.txt"
    # The bare app and the responder reuse one set (they store nothing): ~6k req/s of them.
    ingress.mint_bodies(int(6000 * (args.seconds + 1)), bodies)
    sqlite_url = f"sqlite:///{tmp / 'gateway.db'}"
    prepare_database(sqlite_url)
    say(f"\ningress: gunicorn sync w={args.gunicorn_workers} (Procfile flags, access log "
        f"on); load generator: {ingress.describe_client(client)}, a new connection per request "
        f"(gunicorn sync closes each); {args.seconds:g} s measured after 1 s warm-up")
    runs: list[tuple[str, ingress.IngressResult]] = []
    def fresh(run: ingress.IngressOptions) -> Path:
        # Each gateway run gets postbacks never sent before: every one is a new inbox row.
        path = tmp / f"bodies-{len(runs)}.txt"
        ingress.mint_bodies(int(4000 * (run.seconds + run.warmup)), path)
        return path

    for name, conc in ((f"{opts.concurrency} conns", opts), ("2 conns", light)):
        runs.append((name, ingress.bench_bare(conc, bodies, tmp, children, client=client)))
        runs.append((name, ingress.bench_gateway(conc, fresh(conc), tmp, children,
                                                 database_url=sqlite_url, redis_url=redis_url,
                                                 label="SQLite", client=client)))
    postgres = os.environ.get("TEST_POSTGRES_URL")
    pg_result: ingress.IngressResult | None = None
    if postgres:
        with _postgres_database(postgres) as pg_url:
            prepare_database(pg_url)
            pg_result = ingress.bench_gateway(
                opts, fresh(opts), tmp, children, database_url=pg_url, redis_url=redis_url,
                label="PostgreSQL", client=client)
            runs.append((f"{opts.concurrency} conns", pg_result))
    ceiling = ingress.client_ceiling(ceiling_opts, bodies, tmp, children, client=client)
    runs.append((f"{opts.concurrency} conns", ceiling))
    _say_runs(say, runs, ceiling)
    bare, gateway = runs[0][1].stats, runs[1][1].stats
    ratio = gateway["rps"] / bare["rps"] if bare["rps"] else 0.0
    light_p99 = runs[3][1].stats["p99_ms"]
    ceiling_rps = ceiling.stats["rps"]
    client_free = ceiling_rps >= CLIENT_HEADROOM * bare["rps"]
    say(f"  ratio gateway/bare ({opts.concurrency} conns): {ratio:.2f}x "
        f"(goal >= {INGRESS_GOAL_RATIO}x: {_verdict(ratio >= INGRESS_GOAL_RATIO)}); "
        f"gateway p99 {gateway['p99_ms']:.1f} ms at {opts.concurrency} conns, {light_p99:.1f} ms "
        f"at 2 conns (goal < {INGRESS_GOAL_P99_MS:g} ms: "
        f"{_verdict(gateway['p99_ms'] < INGRESS_GOAL_P99_MS)} / "
        f"{_verdict(light_p99 < INGRESS_GOAL_P99_MS)})")
    say(f"  client ceiling {ceiling_rps:,.0f} req/s = {ceiling_rps / max(bare['rps'], 1):.1f}x "
        f"the bare app: "
        + ("the server, not the client, sets the baseline" if client_free else
           "the client may be what limits the baseline (install wrk)"))
    if args.profile == "always" or (args.profile == "auto" and (
            ratio < INGRESS_GOAL_RATIO or gateway["p99_ms"] >= INGRESS_GOAL_P99_MS)):
        say("\nprofile: gateway (why ingress misses its goal)")
        prof_url = f"sqlite:///{tmp / 'profile-gateway.db'}"
        prepare_database(prof_url)
        for line in profiling.profile_gateway(database_url=prof_url, redis_url=redis_url,
                                              count=300 if args.quick else 1000,
                                              dump=tmp / "gateway.prof"):
            say(line)
    rows = [
        Row("ingress postbacks/s (gateway vs bare)", gateway["rps"], "/s",
            f">={INGRESS_GOAL_RATIO}x", ratio >= INGRESS_GOAL_RATIO, baseline=bare["rps"],
            note=f"load: {client}; SQLite inbox; " + _cpu_note(bare, gateway)),
        Row(f"ingress p99 at {opts.concurrency} conns", gateway["p99_ms"], "ms",
            f"<{INGRESS_GOAL_P99_MS:g} ms", gateway["p99_ms"] < INGRESS_GOAL_P99_MS,
            baseline=bare["p99_ms"], note=f"at 2 conns: {light_p99:.1f} ms"),
    ]
    if pg_result is not None:
        pg = pg_result.stats
        pg_ratio = pg["rps"] / bare["rps"] if bare["rps"] else 0.0
        rows.append(Row("ingress postbacks/s, PostgreSQL inbox", pg["rps"], "/s",
                        f">={INGRESS_GOAL_RATIO}x", pg_ratio >= INGRESS_GOAL_RATIO,
                        baseline=bare["rps"], note=f"p99 {pg['p99_ms']:.1f} ms"))
    rows.append(Row(f"ingress client ceiling ({client})", ceiling_rps, "/s",
                    f">={CLIENT_HEADROOM:g}x bare", client_free, baseline=bare["rps"],
                    note=ceiling.label.removeprefix("client ceiling: ")))
    return rows


def processing_phase(bench: Bench) -> list[Row]:
    args, say, tmp, redis_url, children = (bench.args, bench.say, bench.tmp, bench.redis_url,
                                           bench.children)
    telegram, cryptocloud = bench.telegram, bench.cryptocloud
    popts = processing.ProcessingOptions(
        invoices=args.invoices, noop_tasks=args.noop_tasks,
        concurrency=args.worker_concurrency, timeout=max(120.0, args.invoices / 4))
    say(f"\nprocessing: one worker, prefork c={args.worker_concurrency}, queues "
        f"{WORKER_QUEUES} (in that order), project Celery config (acks late, prefetch 1, events "
        f"on); stand-ins in the bench process, unthrottled; worker send budget "
        f"TELEGRAM_RATE_PER_SEC={processing.BENCH_TELEGRAM_RATE} (default 25)")
    redis_client_flush(redis_url)
    noop_url = f"sqlite:///{tmp / 'noop.db'}"
    prepare_database(noop_url)
    noop = processing.bench_noop(popts, database_url=noop_url, redis_url=redis_url, tmp=tmp,
                                 children=children)
    redis_client_flush(redis_url)
    pipeline_url = f"sqlite:///{tmp / 'pipeline.db'}"
    prepare_database(pipeline_url)
    paid = processing.bench_pipeline(popts, database_url=pipeline_url, redis_url=redis_url,
                                     telegram=telegram, cryptocloud=cryptocloud, tmp=tmp,
                                     children=children)
    say(f"  {'what':<44} {'count':>6} {'seconds':>8} {'per s':>8}  check")
    for result in (noop, paid):
        flag = "" if result.complete else "  INCOMPLETE (timed out)"
        say(f"  {result.label:<44} {result.count:>6} {_fmt(result.seconds, 2):>8} "
            f"{_fmt(result.rate):>8}  {result.detail}{flag}")
    ratio = paid.rate / noop.rate if noop.rate else 0.0
    ok = paid.complete and ratio >= PROCESSING_GOAL_RATIO
    say(f"  ratio paid invoices/no-op tasks: {ratio:.3f}x (goal >= "
        f"{PROCESSING_GOAL_RATIO}x: {_verdict(ok)}); each invoice is 2 tasks "
        f"(process_event + grant_invite) = {2 * paid.rate:.1f} tasks/s")
    say("    per-task run times in the real worker (its log):")
    for line in profiling.task_times(tmp / "worker-pipeline.log"):
        say(line)
    if args.profile == "always" or (args.profile == "auto" and not ok):
        say("\nprofile: processing (why paid invoices/s misses its goal)")
        prof_url = f"sqlite:///{tmp / 'profile-pipeline.db'}"
        prepare_database(prof_url)
        for line in profiling.profile_pipeline(database_url=prof_url, redis_url=redis_url,
                                               telegram=telegram, cryptocloud=cryptocloud,
                                               count=50 if args.quick else 150,
                                               dump=tmp / "pipeline.prof"):
            say(line)
    return [Row("paid invoices/s (vs Celery no-op tasks/s)", paid.rate, "/s",
                f">={PROCESSING_GOAL_RATIO}x", ok, baseline=noop.rate)]


# Each phase prints its own detail and returns its rows for the summary; `--only` picks phases.
PHASES: dict[str, Callable[[Bench], list[Row]]] = {
    "ingress": ingress_phase,
    "processing": processing_phase,
    "latency": latency_phase,
    "launch": launch_phase,
    "million": million_phase,
    "poll": poll.poll_phase,
    "rush": rush.rush_phase,
    "broadcast": broadcast_phase,
}


def run(args: argparse.Namespace, stack: ExitStack, tmp: Path) -> int:
    from infra.embedded_redis import EmbeddedRedis, free_port

    children: list[Child] = []

    def stop_children() -> None:
        for child in reversed(children):
            child.stop()

    stack.callback(stop_children)
    say = Report()
    started = time.monotonic()
    say(f"bench: {'quick' if args.quick else 'full'} run, {time.strftime('%Y-%m-%d %H:%M:%S')}, "
        f"{_load()}; phases: {', '.join(args.phases)}")
    say("  client, server, Redis, workers and stand-ins all share this machine's cores; other "
        "processes' load shows in the figures")
    redis_server = EmbeddedRedis(port=free_port(), data_dir=tmp / "redis", appendonly=False)
    redis_url = redis_server.start()
    stack.callback(redis_server.stop)
    bench = Bench(args=args, say=say, tmp=tmp, redis_url=redis_url, children=children,
                  stack=stack)

    rows: list[Row] = []
    for name in args.phases:
        redis_client_flush(redis_url)
        rows.extend(PHASES[name](bench))
        stop_children()
        children.clear()

    say(f"\nsummary ({_load()}; bench took {time.monotonic() - started:.0f} s)")
    for line in render(rows):
        say(line)
    (tmp / "report.txt").write_text("\n".join(say.lines) + "\n")
    return 0 if rows else 1


def redis_client_flush(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    # Ctrl-C raises KeyboardInterrupt even when started where SIGINT is ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # Alembic's and the stand-ins' own logging stay out of the table.
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("alembic", "aiohttp", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    tmp_holder: Any = tempfile.TemporaryDirectory(prefix="bench-")
    tmp = Path(tmp_holder.name)
    try:
        with ExitStack() as stack:
            return run(args, stack, tmp)
    except KeyboardInterrupt:
        print("\nbench: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            kept = Path(tempfile.mkdtemp(prefix="bench-kept-"))
            import shutil

            shutil.copytree(tmp, kept, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.sock"))
            print(f"bench: logs and databases kept in {kept}", file=sys.stderr)
        tmp_holder.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
