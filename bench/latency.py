"""Phase: postback → invite DM latency, the moment a subscriber waits for.

Everything real: the gateway under gunicorn (Procfile flags), one Celery worker (Procfile queues
and concurrency), the bench's Redis as broker, both stand-ins over HTTP, the default Telegram
send budget (TELEGRAM_RATE_PER_SEC=25). Payments arrive open-loop at a fixed rate: for each one
the bench pays the invoice at the CryptoCloud stand-in, renders the postback CryptoCloud would
send (the stand-in's own renderer: signed token, invoice_info) and POSTs it to the gateway. The
latency of a payment runs from that POST to the moment the Telegram stand-in received the
sendMessage carrying the invite link (its recorded calls, with their timestamps).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import insert, select

from bench.processing import make_checkout_links
from bench.procs import Child, celery_worker, child_env, free_port, gunicorn
from bench.profiling import task_times
from bench.table import Row
from infra.db import create_engine, make_session_factory
from infra.migrate import migrate_and_seed, seed_plans
from infra.sandbox.telegram.people import add_started_users
from infra.settings import load_settings
from models.domain.invoices import normalize_uuid
from models.schema import Invoice, Plan, User

if TYPE_CHECKING:
    from bench.__main__ import Bench

RATE = 5.0  # payments per second, sustained (issue 13, item 1)
GOAL_P50_MS = 150.0
GOAL_P99_MS = 1000.0
FIRST_USER = 920_000_000
INVITE_TEXT = "personal invite link"
# The calls of one payment's path, in the order the stand-in should see them.
PATH_CALLS = ("paid DM", "getChatMember", "createChatInviteLink", "invite DM")


@dataclass(frozen=True)
class LatencyOptions:
    rate: float  # payments per second
    seconds: float  # how long payments keep arriving
    concurrency: int  # prefork children of the one worker
    gunicorn_workers: int
    # The first payments meet processes that have never run a task (connections, first HTTP
    # session): sent like the rest, reported apart, left out of the percentiles.
    warmup: float = 1.0
    drain_timeout: float = 60.0


@dataclass
class Payment:
    user_id: int
    uuid: str
    warmup: bool = False
    sent_at: float = 0.0  # wall clock (the stand-in records wall-clock datetimes)
    answered_ms: float | None = None
    status: int | None = None
    calls: dict[str, float] = field(default_factory=dict)  # path call -> seconds after send

    @property
    def latency(self) -> float | None:
        return self.calls.get("invite DM")


@dataclass
class LatencyResult:
    sent: list[Payment]  # warm-up included
    seconds: float
    worker_log: Path

    @property
    def payments(self) -> list[Payment]:
        """The measured ones: the warm-up left out."""
        return [p for p in self.sent if not p.warmup]

    @property
    def delivered(self) -> list[float]:
        return sorted(p.latency for p in self.payments if p.latency is not None)

    def percentile(self, q: float) -> float | None:
        values = self.delivered
        if not values or len(values) < len(self.payments):
            return None  # a payment without its invite has no latency to rank: the run failed
        return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def _seed(database_url: str, *, redis_url: str, telegram: Any, cryptocloud: Any,
          count: int) -> list[Payment]:
    """Users who started the bot and went through checkout: one open invoice each, at
    CryptoCloud and on our side, and the invite link checkout makes ahead of payment."""
    from infra.sandbox.cryptocloud.validation import CreateRequest

    settings = load_settings(
        _env_file=None, database_url=database_url, redis_url=redis_url,
        telegram_api_base=telegram.base_url, cryptocloud_api_base=cryptocloud.base_url,
        telegram_rate_per_sec=1000.0)  # setting up, not measured: no need to wait for budget
    now = datetime.now(UTC)
    users = [FIRST_USER + index for index in range(count)]
    payments: list[Payment] = []
    for user_id in users:
        created = cryptocloud.world.create_invoice(
            CreateRequest(amount=Decimal("10.00"), currency="USD", order_id=f"ord_lat_{user_id}",
                          email=None, time_to_pay=None, available_currencies=(),
                          cryptocurrency=None, locale="en"),
            link_base=cryptocloud.base_url,
        )
        payments.append(Payment(user_id=user_id, uuid=created.uuid))
    add_started_users(telegram.world, users)
    engine = create_engine(database_url)
    try:
        with make_session_factory(engine).begin() as session:
            seed_plans(session, settings)
            plan = session.scalars(select(Plan).where(Plan.code == settings.plans[0].code)).one()
            session.execute(insert(User), [
                {"id": user_id, "first_name": f"user{user_id}", "created_at": now,
                 "terms_accepted_at": now} for user_id in users])
            session.execute(insert(Invoice), [
                {"uuid": normalize_uuid(p.uuid), "order_id": f"ord_lat_{p.user_id}",
                 "user_id": p.user_id, "plan_id": plan.id, "amount_usd": plan.price_usd,
                 "currency": "USD", "status": "created",
                 "pay_link": f"{cryptocloud.base_url}/{p.uuid}",
                 "expires_at": now + timedelta(days=1), "created_at": now, "updated_at": now}
                for p in payments])
            invoices = session.execute(select(Invoice.user_id, Invoice.id)).tuples().all()
    finally:
        engine.dispose()
    make_checkout_links(settings, invoices)
    return payments


def _pay_and_post(client: httpx.Client, url: str, cryptocloud: Any, payment: Payment) -> None:
    from infra.sandbox.cryptocloud.postback import render

    world = cryptocloud.world
    world.pay(payment.uuid)
    body = render(world.invoice(payment.uuid), world.config, world.now())
    payment.sent_at = time.time()
    started = time.perf_counter()
    try:
        answer = client.post(url, content=body.body.encode(),
                             headers={"Content-Type": body.content_type})
        payment.status = answer.status_code
    except httpx.HTTPError:
        payment.status = 0
    payment.answered_ms = (time.perf_counter() - started) * 1000


def _path_call(method: str, params: dict[str, object]) -> str | None:
    if method != "sendMessage":
        return method if method in PATH_CALLS else None
    return "invite DM" if INVITE_TEXT in str(params.get("text", "")) else "paid DM"


def _collect(telegram: Any, payments: list[Payment]) -> int:
    """Fill each payment's call times from the stand-in's log; the number of invite DMs seen."""
    by_user = {p.user_id: p for p in payments}
    with telegram.world.lock:
        calls = list(telegram.world.calls)
    for call in calls:
        if call.status != 200:
            continue
        name = _path_call(call.method, call.params)
        # A link is made for the channel, named after its owner (workers/access/invites.py).
        target = (str(call.params.get("name", ""))[1:] if call.method == "createChatInviteLink"
                  else call.params.get("user_id") or call.params.get("chat_id"))
        try:
            payment = by_user.get(int(str(target)))
        except ValueError:
            payment = None
        if name is None or payment is None or not payment.sent_at or name in payment.calls:
            continue
        if call.at.timestamp() < payment.sent_at:
            continue  # made at checkout (the seeding), before the payment
        payment.calls[name] = call.at.timestamp() - payment.sent_at
    return sum(1 for p in payments if "invite DM" in p.calls)


def worker_env(database_url: str, redis_url: str, *, telegram: Any,
               cryptocloud: Any) -> dict[str, str]:
    """Defaults for everything, the Telegram budget included: only the addresses differ."""
    return child_env(DATABASE_URL=database_url, REDIS_URL=redis_url,
                     TELEGRAM_API_BASE=telegram.base_url,
                     CRYPTOCLOUD_API_BASE=cryptocloud.base_url, LOG_LEVEL="INFO")


def run_latency(opts: LatencyOptions, *, database_url: str, redis_url: str, telegram: Any,
                cryptocloud: Any, tmp: Path, children: list[Child]) -> LatencyResult:
    warmup = round(opts.rate * opts.warmup)
    count = warmup + max(1, round(opts.rate * opts.seconds))
    payments = _seed(database_url, redis_url=redis_url, telegram=telegram,
                     cryptocloud=cryptocloud, count=count)
    for payment in payments[:warmup]:
        payment.warmup = True
    env = worker_env(database_url, redis_url, telegram=telegram, cryptocloud=cryptocloud)
    worker_log = tmp / "worker-latency.log"
    worker = celery_worker("latency", "celery_app", concurrency=opts.concurrency, env=env,
                           log_path=worker_log)
    port = free_port()
    gateway = gunicorn("gateway-latency", "webhook_gateway:create_app()", port=port,
                       workers=opts.gunicorn_workers, env=env, log_path=tmp / "gateway-latency.log")
    children.extend([worker, gateway])
    worker.start()
    gateway.start()
    worker.wait_for_log("ready.", timeout=60)
    gateway.wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=30)
    url = f"http://127.0.0.1:{port}/cryptocloud_webhook"
    local = threading.local()

    def send(payment: Payment) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=10.0)
        _pay_and_post(local.client, url, cryptocloud, payment)

    # Open loop: each payment leaves at its scheduled moment, whether or not earlier ones are
    # answered (a pool of senders, so one slow answer does not delay the next payment).
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="payer") as pool:
        for index, payment in enumerate(payments):
            delay = started + index / opts.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, payment)
    deadline = time.monotonic() + opts.drain_timeout
    while _collect(telegram, payments) < count and time.monotonic() < deadline:
        worker.check_alive()
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    gateway.stop()
    worker.stop()
    return LatencyResult(payments, elapsed, worker_log)


def breakdown(result: LatencyResult) -> list[str]:
    """Median and p99 of each call's moment after the postback: where the wait goes."""
    lines = []
    answered = sorted(p.answered_ms for p in result.payments if p.answered_ms is not None)
    if answered:
        lines.append(f"      {'gateway answered (200)':<28} p50 {_q(answered, 0.5):8.1f} ms  "
                     f"p99 {_q(answered, 0.99):8.1f} ms")
    moments: dict[str, list[float]] = defaultdict(list)
    for payment in result.payments:
        for name, seconds in payment.calls.items():
            moments[name].append(seconds * 1000)
    cold = [p.latency * 1000 for p in result.sent if p.warmup and p.latency is not None]
    if cold:
        lines.append(f"      warm-up (first {len(cold)} payments, not counted): invite DM after "
                     + ", ".join(f"{ms:.0f}" for ms in cold) + " ms")
    slowest = sorted(((p.latency, index) for index, p in enumerate(result.sent)
                      if p.latency is not None and not p.warmup), reverse=True)[:5]
    lines.append("      slowest measured invite DMs (payment #, ms): " + ", ".join(
        f"#{index} {seconds * 1000:.0f}" for seconds, index in slowest))
    for name in PATH_CALLS:
        values = sorted(moments.get(name, []))
        if values:
            lines.append(f"      {name:<28} p50 {_q(values, 0.5):8.1f} ms  "
                         f"p99 {_q(values, 0.99):8.1f} ms  (n={len(values)})")
    return lines


def _q(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def latency_phase(bench: Bench) -> list[Row]:
    args, say = bench.args, bench.say
    opts = LatencyOptions(rate=RATE, seconds=15.0 if args.quick else 60.0,
                          concurrency=args.worker_concurrency,
                          gunicorn_workers=args.gunicorn_workers)
    say(f"\nlatency: postback -> invite DM at {opts.rate:g} payments/s for {opts.seconds:g} s "
        f"after {opts.warmup:g} s of warm-up, open loop; gateway gunicorn sync "
        f"w={opts.gunicorn_workers}, one worker prefork c={opts.concurrency} (Procfile queues), "
        f"Telegram budget 25 calls/s (the default), stand-ins over HTTP in the bench process")
    database_url = f"sqlite:///{bench.tmp / 'latency.db'}"
    migrate_and_seed(load_settings(_env_file=None, database_url=database_url))
    result = run_latency(opts, database_url=database_url, redis_url=bench.redis_url,
                         telegram=bench.telegram, cryptocloud=bench.cryptocloud, tmp=bench.tmp,
                         children=bench.children)
    sent = len(result.payments)
    ok = sum(1 for p in result.sent if p.status == 200)
    delivered = len(result.delivered)
    say(f"  payments {len(result.sent)} ({len(result.sent) - sent} of them warm-up) in "
        f"{result.seconds:.1f} s, gateway 200s {ok}, measured invite DMs {delivered} of {sent}; "
        f"moment of each call after its postback was sent:")
    for line in breakdown(result):
        say(line)
    say("    per-task run times in the real worker (its log):")
    for line in task_times(result.worker_log):
        say(line)
    p50, p99 = result.percentile(0.5), result.percentile(0.99)
    missing_note = "" if delivered == sent else f"{sent - delivered} of {sent} without an invite"
    p50_ms = None if p50 is None else p50 * 1000
    p99_ms = None if p99 is None else p99 * 1000
    return [
        Row("postback -> invite DM p50", p50_ms, "ms", f"<{GOAL_P50_MS:g} ms",
            p50_ms is not None and p50_ms < GOAL_P50_MS, note=missing_note),
        Row("postback -> invite DM p99", p99_ms, "ms", f"<{GOAL_P99_MS:g} ms",
            p99_ms is not None and p99_ms < GOAL_P99_MS, note=missing_note),
    ]
