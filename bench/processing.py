"""Phase 2: paid invoices fully processed per second vs Celery no-op tasks/s, same broker/flags.

Setup (not timed): a migrated SQLite database with the plans seeded, one referrer and N
subscribers referred by them; N invoices created and paid in full at the CryptoCloud stand-in
(postbacks off), stored on our side with their inbox event (`paid`, as a postback records it);
the N users known to the Telegram stand-in and having started the bot.

Timed: from the first `payments.process_event` published (worker already up) until the database
shows, for all N, the `payment_activated` history row, the commission credit, and the
grantAccess effect done with the `invite_sent` row (the invite DM was answered by the stand-in).

Baseline: the same worker command with `-A bench.noop_app`, N `bench.noop` tasks, timed from
the first publish until the queues and Redis's unacked set are empty.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from bench.procs import Child, celery_worker, child_env
from infra import task_names
from infra.celery_config import QUEUES, create_celery
from infra.db import create_engine, make_session_factory
from infra.migrate import seed_plans
from infra.sandbox.telegram.people import add_started_users
from infra.settings import Settings, load_settings
from models.domain.invoices import normalize_uuid
from models.schema import (
    AccessHistory,
    CommissionEntry,
    Invoice,
    PaymentEvent,
    Plan,
    Referral,
    Referrer,
    TelegramEffect,
    User,
)

# The task bench/noop_app.py registers (not imported here: that module configures a process).
NOOP = "bench.noop"
REFERRER = 900_000_001
FIRST_USER = 910_000_000
# The worker's own send budget (Redis token bucket) defaults to 25 calls/s for the whole fleet,
# Telegram's real limit; the stand-ins are unthrottled, so the bench lifts it to the maximum.
BENCH_TELEGRAM_RATE = "1000"


@dataclass(frozen=True)
class ProcessingOptions:
    invoices: int
    noop_tasks: int
    concurrency: int
    timeout: float


@dataclass
class ProcessingResult:
    label: str
    count: int
    seconds: float
    complete: bool
    detail: str = ""

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


def populate(sessions: sessionmaker[Session], settings: Settings, telegram: Any,
             cryptocloud: Any, count: int) -> list[int]:
    """Users, referral, paid invoices at CryptoCloud and on our side, inbox events; event ids."""
    from infra.sandbox.cryptocloud.validation import CreateRequest

    world = cryptocloud.world
    now = datetime.now(UTC)
    users = [FIRST_USER + index for index in range(count)]
    codes: list[str] = []
    for user_id in users:
        created = world.create_invoice(
            CreateRequest(amount=Decimal("10.00"), currency="USD", order_id=f"ord_bench_{user_id}",
                          email=None, time_to_pay=None, available_currencies=(),
                          cryptocurrency=None, locale="en"),
            link_base=cryptocloud.base_url,
        )
        world.pay(created.uuid)
        codes.append(normalize_uuid(created.uuid))
    add_started_users(telegram.world, [REFERRER, *users])

    with sessions.begin() as session:
        seed_plans(session, settings)
        plan = session.scalars(select(Plan).where(Plan.code == settings.plans[0].code)).one()
        session.add(User(id=REFERRER, first_name="referrer", created_at=now))
        session.flush()
        session.add(Referrer(user_id=REFERRER, pct=Decimal("10"), created_at=now, updated_at=now))
        session.execute(insert(User), [
            {"id": user_id, "first_name": f"user{user_id}", "created_at": now,
             "terms_accepted_at": now, "referred_by_id": REFERRER} for user_id in users])
        session.execute(insert(Referral), [
            {"referred_user_id": user_id, "referrer_id": REFERRER, "created_at": now}
            for user_id in users])
        session.execute(insert(Invoice), [
            {"uuid": code, "order_id": f"ord_bench_{user_id}", "user_id": user_id,
             "plan_id": plan.id, "amount_usd": plan.price_usd, "currency": "USD",
             "status": "created", "pay_link": f"{cryptocloud.base_url}/{code}",
             "expires_at": now.replace(year=now.year + 1), "created_at": now, "updated_at": now}
            for user_id, code in zip(users, codes, strict=True)])
        session.execute(insert(PaymentEvent), [
            {"invoice_uuid": code, "reported_status": "paid", "source": "postback",
             "payload": f"invoice_id={code}&status=success", "received_at": now}
            for code in codes])
        event_ids = list(session.scalars(select(PaymentEvent.id).order_by(PaymentEvent.id)))
        invoices = session.execute(select(Invoice.user_id, Invoice.id)).tuples().all()
    make_checkout_links(settings, invoices)
    return event_ids


def make_checkout_links(settings: Settings, invoices: Iterable[tuple[int, int]]) -> None:
    """What checkout does after the pay link: each (user, invoice) gets its invite link made
    ahead of payment (workers/access/invites.prepare_links), over HTTP to the stand-in."""
    from workers.access.invites import prepare_links
    from workers.context import build_context

    ctx = build_context(settings)
    try:
        for user_id, invoice_id in invoices:
            prepare_links(ctx, user_id=user_id, invoice_id=invoice_id)
    finally:
        ctx.close()


def progress(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        def count(model: Any, *where: Any) -> int:
            return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

        done = dict(session.execute(
            select(TelegramEffect.method, func.count())
            .where(TelegramEffect.status == "done").group_by(TelegramEffect.method)).tuples().all())
        return {
            "activated": count(AccessHistory, AccessHistory.action == "payment_activated"),
            "commission": count(CommissionEntry),
            "invite_sent": count(AccessHistory, AccessHistory.action == "invite_sent"),
            "grant_done": int(done.get("grantAccess", 0)),
            "message_done": int(done.get("sendMessage", 0)),
            "effects_failed": count(TelegramEffect, TelegramEffect.status == "failed"),
            "events_left": count(PaymentEvent, PaymentEvent.processed_at.is_(None)),
        }


def worker_env(settings: Settings) -> dict[str, str]:
    return child_env(
        DATABASE_URL=settings.database_url, REDIS_URL=settings.broker_url,
        TELEGRAM_API_BASE=settings.telegram_base, CRYPTOCLOUD_API_BASE=settings.cryptocloud_base,
        TELEGRAM_RATE_PER_SEC=BENCH_TELEGRAM_RATE, LOG_LEVEL="INFO",
    )


def bench_pipeline(opts: ProcessingOptions, *, database_url: str, redis_url: str,
                   telegram: Any, cryptocloud: Any, tmp: Path,
                   children: list[Child]) -> ProcessingResult:
    settings = load_settings(
        _env_file=None, database_url=database_url, redis_url=redis_url,
        telegram_api_base=telegram.base_url, cryptocloud_api_base=cryptocloud.base_url,
        telegram_rate_per_sec=float(BENCH_TELEGRAM_RATE),
    )
    engine = create_engine(database_url)
    sessions = make_session_factory(engine)
    producer = create_celery(settings, main="bench-producer")
    n = opts.invoices
    try:
        event_ids = populate(sessions, settings, telegram, cryptocloud, n)
        worker = celery_worker("pipeline", "celery_app", concurrency=opts.concurrency,
                               env=worker_env(settings), log_path=tmp / "worker-pipeline.log")
        children.append(worker)
        worker.start().wait_for_log("ready.", timeout=60)
        started = time.perf_counter()
        for event_id in event_ids:
            producer.send_task(task_names.PROCESS_PAYMENT_EVENT, args=[event_id])
        deadline = started + opts.timeout
        state = progress(sessions)
        while time.perf_counter() < deadline:
            state = progress(sessions)
            if min(state["activated"], state["commission"], state["grant_done"],
                   state["invite_sent"]) >= n:
                break
            worker.check_alive()
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        worker.stop()
        log = worker.log()
        complete = min(state["activated"], state["commission"], state["grant_done"],
                       state["invite_sent"]) >= n
        detail = (f"activated={state['activated']} commission={state['commission']} "
                  f"grantAccess done={state['grant_done']} invite DMs={state['invite_sent']} "
                  f"sendMessage done={state['message_done']} failed={state['effects_failed']}; "
                  f"worker log: {log.count('Traceback')} tracebacks, "
                  f"{log.count('effect_retry')} effect retries")
        label = f"paid invoices, worker prefork c={opts.concurrency}"
        return ProcessingResult(label, n, elapsed, complete, detail)
    finally:
        producer.close()
        engine.dispose()


def _queues_empty(client: redis.Redis) -> bool:
    pipe = client.pipeline()
    for queue in QUEUES:
        pipe.llen(queue)
    pipe.hlen("unacked")
    return not any(pipe.execute())


def bench_noop(opts: ProcessingOptions, *, database_url: str, redis_url: str, tmp: Path,
               children: list[Child]) -> ProcessingResult:
    settings = load_settings(_env_file=None, database_url=database_url, redis_url=redis_url)
    client = redis.Redis.from_url(redis_url)
    producer = create_celery(settings, main="bench-producer")
    n = opts.noop_tasks
    try:
        worker = celery_worker("noop", "bench.noop_app", concurrency=opts.concurrency,
                               env=child_env(DATABASE_URL=database_url, REDIS_URL=redis_url,
                                             LOG_LEVEL="INFO"),
                               log_path=tmp / "worker-noop.log")
        children.append(worker)
        worker.start().wait_for_log("ready.", timeout=60)
        started = time.perf_counter()
        for _ in range(n):
            producer.send_task(NOOP)
        deadline = started + opts.timeout
        complete = False
        while time.perf_counter() < deadline:
            if _queues_empty(client):
                complete = True
                break
            worker.check_alive()
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        worker.stop()
        log = worker.log()
        succeeded = sum(1 for line in log.splitlines()
                        if f"Task {NOOP}[" in line and "succeeded" in line)
        label = f"Celery no-op, worker prefork c={opts.concurrency}"
        return ProcessingResult(label, n, elapsed, complete, f"succeeded in worker log={succeeded}")
    finally:
        producer.close()
        client.close()
