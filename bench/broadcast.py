"""Phase `broadcast`: an admin's broadcast at the send budget, and payers paying during it.

Setup (not timed): a migrated SQLite database; B subscribers with running access (the segment
"active") whom the Telegram stand-in knows, and P paid invoices with their inbox events (as in
the launch phase, none of them active yet, so not recipients). The stand-in's flood limits are
on (429 + retry_after past ~30 messages/s, ~1/s per chat). One real worker (Procfile queues
and order, c=2), TELEGRAM_RATE_PER_SEC at its default (25).

Timed: `broadcasts.start` as the admin's Confirm sends it; once the broadcast has run alone for
a few seconds, the P payments arrive one every half second. From the stand-in's call log:

- the broadcast's rate: its messages answered 200 per second, from its first to its last,
  against TELEGRAM_RATE_PER_SEC (goal >= 0.8x: the payers' calls take their share of the same
  budget, ahead of the broadcast);
- 429 answers from the stand-in (goal 0);
- each payer's invite latency: from publishing their payment event to the invite message
  answered 200 (goal: the slowest under 5 s).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from bench.launch import CallLog, flood_limits
from bench.processing import FIRST_USER, populate
from bench.procs import Child, celery_worker, child_env
from bench.table import Row
from infra import task_names
from infra.celery_config import create_celery
from infra.db import create_engine, make_session_factory
from infra.sandbox.telegram.people import add_started_users
from infra.settings import Settings, load_settings
from models.schema import Access, Broadcast, User

if TYPE_CHECKING:
    from bench.__main__ import Bench

FIRST_RECIPIENT = 960_000_000
ADMIN = 100  # the sandbox admin
GOAL_SHARE = 0.8
GOAL_INVITE_SECONDS = 5.0
PAYER_GAP = 0.5  # seconds between two payments
ALONE_SECONDS = 3.0  # the broadcast runs alone this long before the first payment


@dataclass(frozen=True)
class BroadcastOptions:
    recipients: int
    payers: int
    concurrency: int

    @classmethod
    def sized(cls, *, quick: bool, concurrency: int) -> BroadcastOptions:
        """5,000 recipients (about 200 s at 25/s) and 40 payers, or 500 and 10 for --quick
        (about 20 s); BENCH_BROADCAST_RECIPIENTS / BENCH_BROADCAST_PAYERS override both."""
        recipients = int(os.environ.get("BENCH_BROADCAST_RECIPIENTS")
                         or (500 if quick else 5000))
        payers = int(os.environ.get("BENCH_BROADCAST_PAYERS") or (10 if quick else 40))
        return cls(recipients=recipients, payers=payers, concurrency=concurrency)


@dataclass
class BroadcastResult:
    rate: float  # the budget, TELEGRAM_RATE_PER_SEC
    sent: int
    span: float  # first to last broadcast message, seconds
    too_many: int
    payer_calls: int
    latencies: list[float]  # per payer, seconds; missing invites are left out
    payers: int
    complete: bool


def audience(sessions: sessionmaker[Session], telegram: Any, count: int, *, chat_id: int) -> None:
    """`count` subscribers with running access, known to the stand-in."""
    now = datetime.now(UTC)
    users = [FIRST_RECIPIENT + index for index in range(count)]
    add_started_users(telegram.world, users, name_prefix="member")
    with sessions.begin() as session:
        session.execute(insert(User), [
            {"id": user_id, "first_name": f"member{user_id}", "created_at": now,
             "terms_accepted_at": now} for user_id in users])
        session.execute(insert(Access), [
            {"user_id": user_id, "chat_id": chat_id, "paid_through": now + timedelta(days=30),
             "status": "active", "is_trial": False, "created_at": now, "updated_at": now,
             "version": 1} for user_id in users])


def _status(sessions: sessionmaker[Session]) -> str | None:
    with sessions() as session:
        return session.scalar(select(Broadcast.status))


def run_broadcast(opts: BroadcastOptions, *, database_url: str, redis_url: str, telegram: Any,
                  cryptocloud: Any, tmp: Path, children: list[Child],
                  say: Callable[[str], None]) -> BroadcastResult:
    settings: Settings = load_settings(
        _env_file=None, database_url=database_url, redis_url=redis_url,
        telegram_api_base=telegram.base_url, cryptocloud_api_base=cryptocloud.base_url)
    rate = settings.telegram_rate_per_sec
    engine = create_engine(database_url)
    sessions = make_session_factory(engine)
    producer = create_celery(settings, main="bench-producer")
    try:
        telegram.world.reset()
        events = populate(sessions, settings, telegram, cryptocloud, opts.payers)
        audience(sessions, telegram, opts.recipients, chat_id=settings.channel)
        env = child_env(DATABASE_URL=database_url, REDIS_URL=redis_url,
                        TELEGRAM_API_BASE=telegram.base_url,
                        CRYPTOCLOUD_API_BASE=cryptocloud.base_url, LOG_LEVEL="INFO")
        worker = celery_worker("broadcast", "celery_app", concurrency=opts.concurrency,
                               env=env, log_path=tmp / "worker-broadcast.log")
        children.append(worker)
        worker.start().wait_for_log("ready.", timeout=60)
        published: dict[int, float] = {}
        with flood_limits(telegram.world), CallLog(telegram.world) as log:
            producer.send_task(task_names.BROADCAST_START, args=[
                {"actor_id": ADMIN, "text": "/broadcast", "request_key": "bench"},
                {"segment": "active", "days": None, "text": "Our summer sale starts today.",
                 "photo": None, "buttons": [["See the offer", "https://example.com/sale"]]}])
            time.sleep(ALONE_SECONDS)
            for index, event_id in enumerate(events):
                published[FIRST_USER + index] = time.time()
                producer.send_task(task_names.PROCESS_PAYMENT_EVENT, args=[event_id])
                time.sleep(PAYER_GAP)
            deadline = time.time() + 3 * opts.recipients / rate + 60
            complete = False
            while time.time() < deadline:
                if _status(sessions) == "done":
                    complete = True
                    break
                worker.check_alive()
                time.sleep(0.5)
            time.sleep(0.3)  # the last answers reach the call log
        worker.stop()
    finally:
        producer.close()
        engine.dispose()
    ok = [c for c in log.calls if c.status == 200]
    bulk = sorted(c.at for c in ok if c.method == "sendMessage" and c.chat_id is not None
                  and c.chat_id >= FIRST_RECIPIENT)
    span = bulk[-1] - bulk[0] if len(bulk) > 1 else 0.0
    invites: dict[int, float] = {}
    for call in ok:
        if call.method == "sendMessage" and call.chat_id in published:
            invites.setdefault(call.chat_id, call.at)
    latencies = [invites[user] - moment for user, moment in published.items() if user in invites]
    payer_calls = sum(1 for c in ok if bulk and bulk[0] <= c.at <= bulk[-1]
                      and not (c.chat_id is not None and c.chat_id >= FIRST_RECIPIENT))
    return BroadcastResult(rate=rate, sent=len(bulk), span=span,
                           too_many=sum(1 for c in log.calls if c.status == 429),
                           payer_calls=payer_calls, latencies=latencies,
                           payers=len(published), complete=complete)


def broadcast_rows(result: BroadcastResult, say: Callable[[str], None]) -> list[Row]:
    achieved = (result.sent - 1) / result.span if result.span else 0.0
    share = achieved / result.rate if result.rate else 0.0
    worst = max(result.latencies, default=float("inf"))
    median = statistics.median(result.latencies) if result.latencies else float("inf")
    invited = len(result.latencies)
    done = "" if result.complete else "  INCOMPLETE: the broadcast did not finish in time"
    say(f"  broadcast: {result.sent:,} messages in {result.span:.1f} s = {achieved:.1f}/s "
        f"against a budget of {result.rate:g}/s: {share:.2f}x (goal >= {GOAL_SHARE}x){done}")
    say(f"  in that time the payers' own calls took {result.payer_calls} of the budget "
        f"({result.payer_calls / result.span if result.span else 0:.1f}/s)")
    say(f"  payers during it: {invited}/{result.payers} invited; invite latency p50 "
        f"{median:.2f} s, max {worst:.2f} s (goal < {GOAL_INVITE_SECONDS:g} s)")
    say(f"  stand-in (flood limits on): {result.too_many} x 429")
    met = (result.complete and share >= GOAL_SHARE and result.too_many == 0
           and invited == result.payers and worst < GOAL_INVITE_SECONDS)
    return [Row("broadcast: rate vs budget, payers' invites", achieved, "/s",
                f">={GOAL_SHARE}x, 0x429", met, baseline=result.rate,
                note=f"{result.sent:,} recipients, {result.too_many} x 429; invites of "
                     f"{invited}/{result.payers} payers during it: max {worst:.2f} s, "
                     f"p50 {median:.2f} s (goal < {GOAL_INVITE_SECONDS:g} s)")]


def broadcast_phase(bench: Bench) -> list[Row]:
    from bench.__main__ import prepare_database

    args, say = bench.args, bench.say
    opts = BroadcastOptions.sized(quick=args.quick, concurrency=args.worker_concurrency)
    say(f"\nbroadcast: {opts.recipients:,} recipients, {opts.payers} payers arriving during "
        f"it; one worker, prefork c={opts.concurrency}; default send budget; stand-ins over "
        "HTTP, flood limits on")
    url = f"sqlite:///{bench.tmp / 'broadcast.db'}"
    prepare_database(url)
    result = run_broadcast(opts, database_url=url, redis_url=bench.redis_url,
                           telegram=bench.telegram, cryptocloud=bench.cryptocloud,
                           tmp=bench.tmp, children=bench.children, say=say)
    return broadcast_rows(result, say)
