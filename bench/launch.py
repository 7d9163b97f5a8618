"""Phase `launch`: payers arriving while a reminder wave is queued, at the default send budget.

Setup (not timed): a migrated SQLite database; N paid invoices with their inbox events (as in
the processing phase) and B other subscribers with a bulk message each in the outbox, all of
them known to the Telegram stand-in, whose flood limits are on (429 + retry_after past ~30
messages/s, ~1/s per chat) for this phase only. One real worker (Procfile queues and order),
the real broker, TELEGRAM_RATE_PER_SEC at its default (25).

Timed: the wave is queued first (B `notifications.send_bulk_message` tasks) and runs alone for
a moment; then N `payments.process_event` tasks are published evenly over the arrival window,
as postbacks would arrive. The stand-in's call log says when each call was answered, to whom
and with what status, which gives every figure:

- the time from the first payment to the last payer's invite, against the time the budget
  needs for the calls the payments made (payer calls / rate); goal <= 1.2x;
- bulk calls answered while payers' tasks waited in the broker (payments or telegram queue
  not empty): only the bulk tasks a worker was already running may finish their call, so the
  goal is at most the worker's concurrency;
- the most messages one chat received within any one second (goal <= 1) and the stand-in's
  429 answers (goal 0).
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from bench.processing import populate
from bench.procs import Child, celery_worker, child_env
from bench.table import Row
from infra import task_names
from infra.celery_config import create_celery
from infra.db import create_engine, make_session_factory
from infra.sandbox.telegram.people import add_started_users
from infra.settings import Settings, load_settings
from models.outbox import SEND_BULK_MESSAGE
from models.schema import AccessHistory, TelegramEffect, User

if TYPE_CHECKING:
    from bench.__main__ import Bench

GOAL_RATIO = 1.2
FIRST_BULK = 950_000_000
# Methods that put a message into a chat (what the 1 message/s per chat is about).
MESSAGE_METHODS = frozenset({"sendMessage", "sendDocument", "sendPhoto", "copyMessage"})


@dataclass(frozen=True)
class LaunchOptions:
    payers: int
    bulk: int
    arrival_seconds: float
    concurrency: int

    @classmethod
    def sized(cls, *, quick: bool, concurrency: int) -> LaunchOptions:
        """The issue's sizes, or 100 payers and a tenth of the wave for --quick (under a
        minute); BENCH_LAUNCH_PAYERS / BENCH_LAUNCH_BULK override both."""
        payers = int(os.environ.get("BENCH_LAUNCH_PAYERS") or (100 if quick else 2000))
        bulk = int(os.environ.get("BENCH_LAUNCH_BULK") or (2000 if quick else 20000))
        # 2,000 payers within 60 s: the same arrival rate at any size.
        return cls(payers=payers, bulk=bulk, arrival_seconds=payers * 60 / 2000,
                   concurrency=concurrency)


@dataclass(frozen=True)
class Call:
    """One Bot API request as the stand-in answered it."""

    at: float  # unix time
    method: str
    chat_id: int | None
    user_id: int | None
    status: int


class CallLog:
    """Copies the stand-in's call log (a bounded deque) as it grows, so no record is lost."""

    def __init__(self, world: Any) -> None:
        self._world = world
        self._last_id = max((record.id for record in world.calls), default=0)
        self.calls: list[Call] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="launch-call-log", daemon=True)

    def __enter__(self) -> CallLog:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._collect()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self._collect()

    def _collect(self) -> None:
        fresh = []
        with self._world.lock:  # newest first, only as far as what was copied already
            for record in reversed(self._world.calls):
                if record.id <= self._last_id:
                    break
                fresh.append(record)
        fresh.reverse()
        for record in fresh:
            self.calls.append(Call(at=record.at.timestamp(), method=record.method,
                                   chat_id=_int(record.params.get("chat_id")),
                                   user_id=_int(record.params.get("user_id")),
                                   status=record.status))
        if fresh:
            self._last_id = fresh[-1].id


class QueueWatch:
    """Samples how many payer tasks wait in the broker (payments + telegram queues), 10 times a
    second, so a bulk call can be placed in a moment when payers were waiting or not."""

    def __init__(self, redis_url: str, queues: tuple[str, ...] = ("payments", "telegram")) -> None:
        import redis

        self._client = redis.Redis.from_url(redis_url)
        self._queues = queues
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="launch-queues", daemon=True)

    def __enter__(self) -> QueueWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._client.close()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            pipe = self._client.pipeline()
            for queue in self._queues:
                pipe.llen(queue)
            self.samples.append((time.time(), sum(int(n) for n in pipe.execute())))

    def waiting_at(self, moment: float) -> bool:
        """Whether payer tasks were queued at the last sample before `moment`."""
        index = bisect.bisect_right(self.samples, (moment, float("inf"))) - 1
        return index >= 0 and self.samples[index][1] > 0


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


@contextmanager
def flood_limits(world: Any) -> Iterator[None]:
    """Telegram's limits on for this phase; the stand-in is shared with the other phases."""
    from infra.sandbox.telegram import FloodLimits

    before = (world.flood.enabled, world.flood.limits)
    world.flood.configure(enabled=True, limits=FloodLimits())
    try:
        yield
    finally:
        world.flood.configure(enabled=before[0], limits=before[1])


def queue_wave(sessions: sessionmaker[Session], telegram: Any, count: int) -> list[int]:
    """`count` subscribers the stand-in knows, each with a bulk message pending; effect ids."""
    now = datetime.now(UTC)
    users = [FIRST_BULK + index for index in range(count)]
    add_started_users(telegram.world, users, name_prefix="member")
    with sessions.begin() as session:
        session.execute(insert(User), [
            {"id": user_id, "first_name": f"member{user_id}", "created_at": now,
             "terms_accepted_at": now} for user_id in users])
        session.execute(insert(TelegramEffect), [
            {"key": f"bench_wave:{user_id}", "method": SEND_BULK_MESSAGE, "chat_id": user_id,
             "status": "pending", "created_at": now, "updated_at": now,
             "request": f'{{"chat_id": {user_id}, "text": "Your access ends in 3 days."}}'}
            for user_id in users])
        return list(session.scalars(
            select(TelegramEffect.id).where(TelegramEffect.method == SEND_BULK_MESSAGE)
            .order_by(TelegramEffect.id)))


def invites_sent(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AccessHistory).where(
            AccessHistory.action == "invite_sent")) or 0)


@dataclass
class LaunchResult:
    payers: int
    complete: bool
    first_payment: float  # unix time of the first publish
    calls: list[Call]
    rate: float
    worker_log: str
    concurrency: int
    queued: QueueWatch
    worker_ceiling: float  # calls/s the wave reached alone: the worker's own limit if < rate

    def bulk_calls(self) -> list[Call]:
        return [c for c in self.calls if _is_bulk(c)]

    def payer_calls(self) -> list[Call]:
        """Every other call: only payers' tasks run besides the wave (an invite link is made
        in the channel, so not every payer call names the payer)."""
        return [c for c in self.calls if not _is_bulk(c)]


def _is_bulk(call: Call) -> bool:
    return call.chat_id is not None and call.chat_id >= FIRST_BULK


def max_per_chat_per_second(calls: list[Call]) -> int:
    """The most messages any one chat received within one second (a sliding window)."""
    times: dict[int, list[float]] = defaultdict(list)
    for call in calls:
        if call.status == 200 and call.method in MESSAGE_METHODS and call.chat_id is not None:
            times[call.chat_id].append(call.at)
    most = 0
    for moments in times.values():
        moments.sort()
        start = 0
        for end, moment in enumerate(moments):
            while moment - moments[start] >= 1.0:
                start += 1
            most = max(most, end - start + 1)
    return most


def run_launch(opts: LaunchOptions, *, database_url: str, redis_url: str, telegram: Any,
               cryptocloud: Any, tmp: Path, children: list[Child],
               say: Callable[[str], None]) -> LaunchResult:
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
        wave = queue_wave(sessions, telegram, opts.bulk)
        env = child_env(DATABASE_URL=database_url, REDIS_URL=redis_url,
                        TELEGRAM_API_BASE=telegram.base_url,
                        CRYPTOCLOUD_API_BASE=cryptocloud.base_url, LOG_LEVEL="INFO")
        worker = celery_worker("launch", "celery_app", concurrency=opts.concurrency, env=env,
                               log_path=tmp / "worker-launch.log")
        children.append(worker)
        worker.start().wait_for_log("ready.", timeout=60)
        with (flood_limits(telegram.world), CallLog(telegram.world) as log,
              QueueWatch(redis_url) as queued):
            for effect_id in wave:
                producer.send_task(task_names.SEND_BULK_MESSAGE, args=[effect_id])
            time.sleep(2.0)  # the wave is under way when the first payer arrives
            first_payment = time.time()
            alone = [c.at for c in log.calls if c.status == 200 and c.at < first_payment]
            ceiling = (len(alone) - 1) / (alone[-1] - alone[0]) if len(alone) > 1 else 0.0
            say(f"  wave of {opts.bulk:,} queued; alone it ran at {ceiling:.1f} calls/s "
                f"(budget {rate:g}/s) until the first payer: below the budget, the worker "
                f"is the limit (one call per task)")
            gap = opts.arrival_seconds / max(1, opts.payers)
            for index, event_id in enumerate(events):
                # Even arrivals; publishing never runs ahead of the schedule.
                delay = first_payment + index * gap - time.time()
                if delay > 0:
                    time.sleep(delay)
                producer.send_task(task_names.PROCESS_PAYMENT_EVENT, args=[event_id])
            # Generous: three times what four calls per payment would need from the budget.
            deadline = first_payment + opts.arrival_seconds + 3 * opts.payers * 4 / rate + 30
            complete = False
            while time.time() < deadline:
                if invites_sent(sessions) >= opts.payers:
                    complete = True
                    break
                worker.check_alive()
                time.sleep(0.25)
            time.sleep(0.3)  # the last answers reach the call log
        worker.stop()
        return LaunchResult(payers=opts.payers, complete=complete, first_payment=first_payment,
                            calls=log.calls, rate=rate, worker_log=worker.log(),
                            concurrency=opts.concurrency, queued=queued,
                            worker_ceiling=ceiling)
    finally:
        producer.close()
        engine.dispose()


def _frange(start: float, stop: float, step: float) -> Iterator[float]:
    while start < stop:
        yield start
        start += step


def launch_rows(result: LaunchResult, say: Callable[[str], None]) -> list[Row]:
    """Print the detail and return the summary rows."""
    payer = [c for c in result.payer_calls() if c.status == 200]
    invites = [c for c in payer if c.method in MESSAGE_METHODS]
    last_invite = max((c.at for c in invites), default=result.first_payment)
    elapsed = last_invite - result.first_payment
    per_payment = len(payer) / result.payers
    budget_seconds = len(payer) / result.rate
    ratio = elapsed / budget_seconds if budget_seconds else 0.0
    window = [c for c in result.calls if result.first_payment <= c.at <= last_invite]
    bulk_before = sum(1 for c in result.bulk_calls()
                      if c.status == 200 and result.first_payment <= c.at <= last_invite)
    payer_in_window = sum(1 for c in payer if c.at <= last_invite)
    left_unused = max(0.0, result.rate * elapsed - payer_in_window)
    bulk_over_payers = sum(1 for c in result.bulk_calls()
                           if c.status == 200 and result.queued.waiting_at(c.at))
    too_many = sum(1 for c in result.calls if c.status == 429)
    most = max_per_chat_per_second(result.calls)
    by_method: dict[str, int] = defaultdict(int)
    for c in payer:
        by_method[c.method] += 1
    retries = result.worker_log.count("effect_retry")
    timeouts = result.worker_log.count("send budget exhausted")
    done = "" if result.complete else "  INCOMPLETE: not every payer had an invite (timed out)"
    say(f"  payers: {result.payers:,}; Bot API calls for them: {len(payer):,} "
        f"({per_payment:.2f} per payment: "
        f"{', '.join(f'{m} {n}' for m, n in sorted(by_method.items()))}){done}")
    say(f"  last invite {elapsed:.1f} s after the first payment; the budget needs "
        f"{len(payer):,} / {result.rate:g} per s = {budget_seconds:.1f} s: ratio {ratio:.2f}x "
        f"(goal <= {GOAL_RATIO}x)")
    say(f"  calls answered between the first payment and the last invite: {len(window):,} "
        f"(payers {payer_in_window:,}, bulk {bulk_before:,}); the budget payers left unused "
        f"in that time: {left_unused:.0f} calls")
    step = max(1.0, round(elapsed / 8))
    spans = [sum(1 for c in payer if start <= c.at - result.first_payment < start + step) / step
             for start in _frange(0.0, elapsed, step)]
    say(f"  payer calls/s in {step:g}-s steps from the first payment: "
        f"{' '.join(f'{rate:.0f}' for rate in spans)} (budget {result.rate:g})")
    say(f"  bulk calls answered while payer tasks waited in the broker: {bulk_over_payers} "
        f"(goal <= {result.concurrency}, the bulk tasks the worker may already be running)")
    say(f"  stand-in (flood limits on): {too_many} x 429; most messages to one chat in one "
        f"second: {most}; worker: {retries} effect retries, {timeouts} budget timeouts")
    return [
        Row("launch: last invite (vs budget time)", elapsed, "s", f"<={GOAL_RATIO}x",
            result.complete and ratio <= GOAL_RATIO, baseline=budget_seconds,
            note=f"{result.payers:,} payers, {per_payment:.2f} calls each, at "
                 f"{result.rate:g}/s, a bulk wave queued first; the worker alone reached "
                 f"{result.worker_ceiling:.1f} calls/s with one-call tasks"),
        Row("launch: bulk calls while payers queued", bulk_over_payers, "",
            f"<={result.concurrency}", bulk_over_payers <= result.concurrency,
            note=f"{bulk_before:,} bulk calls before the last invite, where payers left "
                 f"{left_unused:.0f} of the budget unused"),
        Row("launch: most messages to a chat in 1 s", most, "", "<=1", most <= 1),
        Row("launch: 429 answers (flood limits on)", too_many, "", "0", too_many == 0),
    ]


def launch_phase(bench: Bench) -> list[Row]:
    from bench.__main__ import prepare_database

    args, say = bench.args, bench.say
    opts = LaunchOptions.sized(quick=args.quick, concurrency=args.worker_concurrency)
    say(f"\nlaunch: {opts.payers:,} payers within {opts.arrival_seconds:g} s while a "
        f"{opts.bulk:,}-message bulk wave is queued; one worker, prefork "
        f"c={opts.concurrency}; default send budget; stand-ins over HTTP, flood limits on")
    url = f"sqlite:///{bench.tmp / 'launch.db'}"
    prepare_database(url)
    result = run_launch(opts, database_url=url, redis_url=bench.redis_url,
                        telegram=bench.telegram, cryptocloud=bench.cryptocloud, tmp=bench.tmp,
                        children=bench.children, say=say)
    return launch_rows(result, say)
