"""Where the time goes when a goal is missed (py-spy is not installed: cProfile in-process).

- Gateway: the real app (`create_app`) driven through Flask's test client, M distinct postbacks,
  real SQLite inbox and real Celery publish to the bench's Redis.
- Processing: the real task functions run inline (tests/workers/harness.py style: `send` queues
  in memory) with the real worker context, i.e. real database, real CryptoCloud client and
  Telegram gateway over HTTP to the stand-ins, real Redis send budget.

Both print the top functions by own time and a breakdown of own time by library. Also parsed:
per-task run times from the real worker's log ("Task … succeeded in Xs").
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import os
import pstats
import re
import time
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

# Where the profiled code's logs go: opened once, never closed, because structlog's logger
# factory and cached loggers keep the stream they were configured with.
_SINK: TextIO | None = None


def _sink() -> TextIO:
    global _SINK  # noqa: PLW0603
    if _SINK is None:
        _SINK = open(os.devnull, "w")  # noqa: SIM115
    return _SINK


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Logs of the profiled code (structlog, and stdlib handlers such as Celery's trace lines)
    still get formatted and written, as in the real processes, but into a sink."""
    import logging

    handlers = [handler for name in (None, "celery", "celery.app.trace")
                for handler in logging.getLogger(name).handlers
                if isinstance(handler, logging.StreamHandler)]
    previous = [handler.setStream(_sink()) for handler in handlers]
    try:
        with contextlib.redirect_stderr(_sink()), contextlib.redirect_stdout(_sink()):
            yield
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            if stream is not None:
                handler.setStream(stream)


AREAS = (
    ("sqlite3 (C driver)", ("sqlite3", "{method 'execute' of 'sqlite3", "{method 'commit' of")),
    ("sqlalchemy", ("sqlalchemy/",)),
    ("celery/kombu publish", ("kombu/", "celery/", "amqp/", "vine/", "billiard/")),
    ("redis client", ("redis/",)),
    ("jwt/crypto", ("jwt/", "hmac", "hashlib")),
    ("httpx/httpcore", ("httpx/", "httpcore/", "h11/")),
    ("aiogram/aiohttp client", ("aiogram/", "aiohttp/", "yarl/", "multidict/")),
    ("asyncio loop", ("asyncio/",)),
    ("sockets/select (waiting)", ("{method 'recv", "{method 'send", "select.", "{method 'poll'",
                                  "{method 'connect", "_socket", "{method 'control' of"
                                  ", 'select'")),
    ("logging/structlog", ("structlog/", "logging/")),
    ("pydantic", ("pydantic",)),
    ("prometheus_client", ("prometheus_client/",)),
    ("flask/werkzeug", ("flask/", "werkzeug/")),
    ("json", ("json/",)),
    ("project code", ("/work/main/",)),
)


def _area(label: str) -> str:
    for area, needles in AREAS:
        if any(needle in label for needle in needles):
            return area
    return "other (stdlib, builtins)"


# Spans: (label, file path fragment, function name) -> inclusive (cumulative) time.
GATEWAY_SPANS = (
    ("read_postback (parse + JWT verify)", "webhook_gateway/postback.py", "read_postback"),
    ("record_payment_event (one INSERT)", "models/inbox.py", "record_payment_event"),
    ("  COMMIT", "sqlalchemy/engine/default.py", "do_commit"),
    ("TaskPublisher.send_task (publish)", "infra/task_publisher.py", "send_task"),
    ("  Redis LPUSH round trip", "redis/commands/core.py", "lpush"),
    ("  new redis.Redis (kombu, per op)", "redis/client.py", "__init__"),
    ("structlog/logging", "structlog/_native.py", "meth"),
    ("prometheus metrics", "prometheus_client/metrics.py", "inc"),
)
PIPELINE_SPANS = (
    ("process_event task", "workers/payments/tasks.py", "process_event"),
    ("  CryptoCloud invoice_info (HTTP)", "infra/cryptocloud/_client.py", "invoice_info"),
    ("  settle_invoice (DB work)", "workers/payments/service.py", "settle_invoice"),
    ("grant_invite task", "workers/effects.py", "run_effect"),
    ("TelegramGateway.call (all calls)", "infra/telegram/gateway.py", "call"),
    ("  SendBudget.acquire (Redis Lua)", "infra/telegram/rate_limit.py", "acquire"),
    ("  aiogram request (HTTP + parsing)", "aiogram/client/session/aiohttp.py",
     "make_request"),
    ("    of which Response[T] class rebuilt", "pydantic/main.py", "__class_getitem__"),
    ("all Session.commit (SQLite commits)", "sqlalchemy/orm/session.py", "commit"),
    ("all structlog log calls", "structlog/_native.py", "meth"),
)


def spans(profile: cProfile.Profile, wanted: tuple[tuple[str, str, str], ...], *, per: int,
          unit: str, wall: float) -> list[str]:
    """Inclusive time of chosen functions, ms per `unit` and share of the wall time."""
    raw: dict[Any, Any] = pstats.Stats(profile, stream=io.StringIO()).stats  # type: ignore[attr-defined]
    lines = [f"    inclusive time of the main steps (ms per {unit}; share of wall):"]
    for label, fragment, name in wanted:
        cum = sum(entry[3] for (filename, _line, func), entry in raw.items()
                  if func == name and fragment in filename)
        lines.append(f"      {label:<40} {cum * 1000 / per:8.2f} ms  {cum / wall:6.1%}")
    return lines


def summarize(profile: cProfile.Profile, *, top: int, per: int, unit: str) -> list[str]:
    """Top functions by own time and own time per library, in ms per `unit`."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values()) or 1e-9
    by_area: dict[str, float] = defaultdict(float)
    rows = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in raw.items():
        label = f"{filename}:{line}({name})" if filename != "~" else name
        by_area[_area(label)] += tottime
        rows.append((tottime, calls, cumtime, label))
    lines = [f"    own time by area (ms per {unit}; share of profiled time):"]
    for area, seconds in sorted(by_area.items(), key=lambda item: -item[1])[:10]:
        lines.append(f"      {area:<28} {seconds * 1000 / per:8.2f} ms  {seconds / total:6.1%}")
    lines.append(f"    top {top} functions by own time (ms per {unit}, calls per {unit}):")
    for tottime, calls, _cum, label in sorted(rows, key=lambda row: row[0], reverse=True)[:top]:
        short = re.sub(r".*/site-packages/", "", re.sub(r".*/work/main/", "", label))
        lines.append(f"      {tottime * 1000 / per:7.3f} ms  {calls / per:6.1f}x  {short[:90]}")
    return lines


def profile_gateway(*, database_url: str, redis_url: str, count: int,
                    dump: Path | None = None) -> list[str]:
    import warnings

    import jwt
    from jwt.warnings import InsecureKeyLengthWarning

    from infra.settings import SANDBOX_CRYPTOCLOUD_SECRET_KEY, load_settings
    from webhook_gateway import create_app

    settings = load_settings(_env_file=None, database_url=database_url, redis_url=redis_url,
                             log_level="INFO", log_format="json")
    # The gateway logs a JSON line per postback, as under gunicorn, but not onto the table.
    with _quiet():
        app = create_app({"settings": settings})
    client = app.test_client()
    exp = int(time.time()) + 900
    bodies = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        for index in range(2 * count + 20):
            invoice = f"PROF{index:08d}"
            token = jwt.encode({"id": invoice, "exp": exp}, SANDBOX_CRYPTOCLOUD_SECRET_KEY,
                               algorithm="HS256")
            bodies.append({"status": "success", "invoice_id": invoice, "token": token,
                           "invoice_info": '{"status": "paid"}'})
    with _quiet():
        for body in bodies[:20]:  # warm up: connections, first-use imports
            client.post("/cryptocloud_webhook", data=body)
        # First unprofiled, for the CPU cost per postback (robust to other load on the machine).
        cpu_started = time.process_time()
        unprofiled = [client.post("/cryptocloud_webhook", data=body).status_code
                      for body in bodies[20 + count:]]
        cpu = time.process_time() - cpu_started
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        statuses = [client.post("/cryptocloud_webhook", data=body).status_code
                    for body in bodies[20:20 + count]]
        profile.disable()
        wall = time.perf_counter() - started
    app.extensions["gateway"]["engine"].dispose()
    if dump is not None:
        profile.dump_stats(dump)
    ok = statuses.count(200) + unprofiled.count(200)
    header = [f"  gateway in-process (Flask test client, no gunicorn/HTTP), {count} postbacks "
              f"twice (unprofiled, profiled), {ok} answered 200: {cpu * 1000 / count:.2f} ms "
              f"CPU per postback unprofiled (= {count / cpu:.0f}/s on one core); profiled "
              f"{wall * 1000 / count:.2f} ms wall"]
    return (header + spans(profile, GATEWAY_SPANS, per=count, unit="postback", wall=wall)
            + summarize(profile, top=12, per=count, unit="postback"))


def profile_pipeline(*, database_url: str, redis_url: str, telegram: Any, cryptocloud: Any,
                     count: int, dump: Path | None = None) -> list[str]:
    import importlib

    from celery import current_app

    from bench.processing import BENCH_TELEGRAM_RATE, populate
    from infra.celery_config import WORKER_MODULES
    from infra.settings import load_settings
    from workers.context import Call, WorkerContext, build_context, use_context

    settings = load_settings(
        _env_file=None, database_url=database_url, redis_url=redis_url,
        telegram_api_base=telegram.base_url, cryptocloud_api_base=cryptocloud.base_url,
        telegram_rate_per_sec=float(BENCH_TELEGRAM_RATE), log_level="INFO", log_format="json",
    )
    for module in WORKER_MODULES:
        importlib.import_module(module)
    real = build_context(settings)
    queued: deque[tuple[str, tuple[Any, ...]]] = deque()

    class Inline(WorkerContext):
        def send(self, name: str, *args: Any) -> None:
            queued.append((name, args))

        def send_in_order(self, calls: Sequence[Call]) -> None:
            # Run one after another below, as the worker's links would (never to the broker).
            queued.extend(calls)

    ctx = Inline(settings=settings, engine=real.engine, sessions=real.sessions,
                 payments=real.payments, telegram=real.telegram)
    from infra.db import create_engine, make_session_factory

    engine = create_engine(database_url)
    event_ids = populate(make_session_factory(engine), settings, telegram, cryptocloud, count)
    engine.dispose()
    from infra import task_names

    task_calls: dict[str, int] = defaultdict(int)
    profile = cProfile.Profile()
    from infra.logging import configure_logging

    # The tasks log as in the worker (JSON at INFO), into the sink rather than onto the table.
    with _quiet(), use_context(ctx):
        configure_logging(settings)
        started = time.perf_counter()
        profile.enable()
        for event_id in event_ids:
            queued.append((task_names.PROCESS_PAYMENT_EVENT, (event_id,)))
            while queued:
                name, args = queued.popleft()
                task_calls[name] += 1
                current_app.tasks[name].apply(args=args).get()
        profile.disable()
        wall = time.perf_counter() - started
    ctx.close()
    if dump is not None:
        profile.dump_stats(dump)
    tasks = ", ".join(f"{name}×{calls / count:g}" for name, calls in sorted(task_calls.items()))
    header = [f"  pipeline in-process (tasks inline, real DB/HTTP/Redis), {count} invoices: "
              f"{wall * 1000 / count:.1f} ms wall per invoice (= {count / wall:.0f}/s on one "
              f"thread); tasks per invoice: {tasks}"]
    return (header + spans(profile, PIPELINE_SPANS, per=count, unit="invoice", wall=wall)
            + summarize(profile, top=12, per=count, unit="invoice"))


_SUCCEEDED = re.compile(r"Task ([\w.]+)\[[^\]]+\] succeeded in ([0-9.e-]+)s")


def task_times(log_path: Path) -> list[str]:
    """Mean and p90 run time of each task type in a worker log."""
    times: dict[str, list[float]] = defaultdict(list)
    for match in _SUCCEEDED.finditer(log_path.read_text(errors="replace")):
        times[match.group(1)].append(float(match.group(2)))
    lines = []
    for name, values in sorted(times.items()):
        values.sort()
        mean = sum(values) / len(values)
        p90 = values[int(0.9 * (len(values) - 1))]
        lines.append(f"      {name:<28} n={len(values):<6} mean {mean * 1000:7.2f} ms  "
                     f"p90 {p90 * 1000:7.2f} ms")
    return lines
