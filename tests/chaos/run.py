"""One chaos run, start to end: the world, the processes, the storm, the faults, the report.

The order of events:
1. a fresh PostgreSQL database (migrated, plans seeded) and referrers with odd percentages;
2. both stand-ins in this process, Telegram answering ~10 % 5xx and ~5 % 429 on every method;
3. Redis (append-only), the gateway, beat and the bot start — and no worker (the unhelpful
   order): the first wave of subscribers taps through /start → terms → plan into a system that
   cannot act yet; then both workers start;
4. everyone else walks to a pay link, pays at the CryptoCloud stand-in and gets 1–3 postbacks
   (5 % none: the poll must find those), while a worker is SIGKILLed three times and Redis is
   restarted once, at fixed shares of the payments;
5. the harness waits for quiescence (every payment activated and invited, nothing open) or the
   settle timeout, and reads the figures.
"""

from __future__ import annotations

import queue
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from infra.db import create_engine, make_session_factory
from infra.migrate import migrate_and_seed
from infra.sandbox.cryptocloud import CryptoCloudSandbox, SandboxConfig
from infra.sandbox.telegram import FaultRule, TelegramSandbox, TelegramWorld
from infra.settings import load_settings
from models.schema import AccessHistory, PaymentEvent, Referrer, TelegramEffect, User
from tests.chaos.people import Journey, Person
from tests.chaos.postbacks import PostbackStorm
from tests.chaos.report import Check, Payment, checks, invite_times
from tests.chaos.system import WORKERS, System
from tests.fixtures.databases import temporary_database
from tests.fixtures.processes import broker_backlog, child_env

PLAN_CODE, PRICE = "month", Decimal("9.99")
PLANS = f"{PLAN_CODE}:30:{PRICE}:1 month"
REFERRER_PCTS = (Decimal("12.5"), Decimal("7.25"), Decimal("33.33"))  # rounding shows up
FIRST_USER_ID, FIRST_REFERRER_ID = 700_000_001, 600_000_001
# (share of payments made, fault): three kills of a worker and one Redis restart.
FAULTS = ((0.2, "kill worker-1"), (0.4, "restart redis"), (0.6, "kill worker-2"),
          (0.8, "kill worker-1"))


@dataclass(frozen=True, kw_only=True)
class Options:
    size: int = 1000
    seed: int = 1
    patience: float = 20.0  # seconds a person waits for the bot before doing it again
    give_up: float = 300.0  # seconds after which a person stops trying to get a pay link
    concurrency: int = 24  # people walking to a pay link at the same time
    settle_timeout: float = 900.0  # after the last payment
    telegram_5xx: float = 0.10
    telegram_429: float = 0.05
    retry_after: int = 2
    fault_gap: float = 5.0  # seconds the system gets to show how it copes before the next fault
    workdir: Path | None = None


@dataclass
class Outcome:
    checks: list[Check]
    workdir: Path
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def log(message: str) -> None:
    print(f"[chaos {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


@contextmanager
def stand_ins(options: Options) -> Iterator[tuple[TelegramSandbox, CryptoCloudSandbox]]:
    """Both stand-ins; Telegram unkind on every method, CryptoCloud silent (the harness posts)."""
    world = TelegramWorld(seed=options.seed)
    # The 429 draw comes first; the 5xx share is taken of what is left, so each is as asked.
    world.faults.set_rule(FaultRule(
        method="*", retry_after_probability=options.telegram_429, retry_after=options.retry_after,
        server_error_probability=options.telegram_5xx / (1 - options.telegram_429),
        server_error_status=502,
    ))
    with TelegramSandbox(world=world) as telegram, \
            CryptoCloudSandbox(config=SandboxConfig(notify_url=None)) as cryptocloud:
        yield telegram, cryptocloud


def seed_referrers(sessions: sessionmaker[Session], count: int) -> dict[int, Decimal]:
    """Referrers as an admin's /refree_add leaves them; their percentage by user id."""
    pcts = {FIRST_REFERRER_ID + n: REFERRER_PCTS[n % len(REFERRER_PCTS)] for n in range(count)}
    now = datetime.now(UTC)
    with sessions.begin() as session:
        for user_id, pct in pcts.items():
            session.add(User(id=user_id, first_name=f"Ref{user_id}", created_at=now))
            session.flush()
            session.add(Referrer(user_id=user_id, pct=pct, created_at=now, updated_at=now))
    return pcts


class Storm:
    """The subscribers, their payments and the faults fired at shares of the payments."""

    def __init__(self, *, options: Options, system: System, telegram: TelegramSandbox,
                 cryptocloud: CryptoCloudSandbox, pcts: dict[int, Decimal]) -> None:
        self.options, self.system, self.pcts = options, system, pcts
        self.telegram, self.cryptocloud = telegram, cryptocloud
        rng = random.Random(options.seed)
        referrers = sorted(pcts)
        self.journeys = [
            Journey(FIRST_USER_ID + n,
                    rng.choice(referrers) if referrers and rng.random() < 0.10 else None)
            for n in range(options.size)
        ]
        self.payments: dict[int, Payment] = {}
        self.postbacks = PostbackStorm(cryptocloud=cryptocloud, gateway_url=system.gateway_url,
                                       rng=random.Random(options.seed + 1))
        self.fired: list[str] = []
        self._lock = threading.Lock()
        self._faults = list(FAULTS)
        self._armed = False
        # One long-lived thread fires every fault: Redis dies with the thread that started it
        # (PR_SET_PDEATHSIG follows the creating thread), so it must outlive the run.
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._fault_thread = threading.Thread(target=self._fire_loop, name="chaos-faults",
                                              daemon=True)

    def arm(self) -> None:
        """From now on faults fire as payments reach their shares (the workers are up)."""
        self._fault_thread.start()
        with self._lock:
            self._armed = True

    def walk(self, journey: Journey, control: httpx.Client) -> None:
        person = Person(journey, control=control, world=self.telegram.world,
                        plan_code=PLAN_CODE, patience=self.options.patience,
                        give_up=self.options.give_up)
        code = person.go_to_pay_link()
        if code is None:
            return
        uuid = f"INV-{code}"
        self.cryptocloud.pay(uuid)
        with self._lock:
            self.payments[journey.user_id] = Payment(journey.user_id, uuid, datetime.now(UTC))
            share = len(self.payments) / self.options.size
            while self._armed and self._faults and share >= self._faults[0][0]:
                self._queue.put(self._faults.pop(0)[1])
        self.postbacks.add(uuid)

    def _fire_loop(self) -> None:
        while (fault := self._queue.get()) is not None:
            log(f"{fault} ({len(self.payments)} payments made)")
            try:
                if fault == "restart redis":
                    self.system.restart_redis()
                else:
                    self.system.kill(fault.removeprefix("kill "))
                self.fired.append(fault)
                time.sleep(self.options.fault_gap)
            except Exception as error:  # a fault not done is a miss, reported with the figures
                self.fired.append(f"{fault} FAILED ({error!r})")
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def finish_faults(self) -> None:
        """Fire what the storm did not reach (a small run), and wait for every fault to end."""
        with self._lock:
            for _, fault in self._faults:
                self._queue.put(fault)
            self._faults.clear()
        self._queue.join()

    def close(self) -> None:
        """Called after the processes stopped, so Redis is not stopped by the thread's end."""
        if self._fault_thread.is_alive():
            self._queue.put(None)
            self._fault_thread.join(timeout=10)


def wait_until(done: Callable[[], bool], *, timeout: float, every: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(every)
    return done()


def quiet(sessions: sessionmaker[Session], storm: Storm) -> bool:
    """Every payment activated and invited, nothing open in the database, and no task message
    left in Redis: what a killed worker held comes back after the visibility timeout and must
    run too before the system counts as quiet."""
    with sessions() as session:
        activations = session.scalar(select(func.count()).select_from(AccessHistory)
                                     .where(AccessHistory.action == "payment_activated"))
        open_events = session.scalar(select(func.count()).select_from(PaymentEvent)
                                     .where(PaymentEvent.processed_at.is_(None)))
        open_effects = session.scalar(select(func.count()).select_from(TelegramEffect)
                                      .where(TelegramEffect.status == "pending"))
    invited = invite_times(storm.telegram.world, set(storm.payments))
    return (activations == len(storm.payments) and not open_events and not open_effects
            and all(invited.values()) and not broker_backlog(storm.system.redis.url))


def run(options: Options, *, server_url: str) -> Outcome:
    """The whole run against a PostgreSQL server; the checks and where the logs are."""
    started = time.monotonic()
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    with temporary_database(server_url) as database_url, stand_ins(options) as (telegram, cc):
        settings = load_settings(_env_file=None, database_url=database_url, plans=PLANS,
                                 telegram_api_base=telegram.base_url,
                                 cryptocloud_api_base=cc.base_url)
        migrate_and_seed(settings)
        engine = create_engine(database_url)
        sessions = make_session_factory(engine)
        pcts = seed_referrers(sessions, max(1, options.size // 50))
        system = System(workdir=workdir, env=child_env(
            DATABASE_URL=database_url, PLANS=PLANS, TELEGRAM_API_BASE=telegram.base_url,
            CRYPTOCLOUD_API_BASE=cc.base_url))
        storm = Storm(options=options, system=system, telegram=telegram, cryptocloud=cc,
                      pcts=pcts)
        try:
            return _storm(options, system, storm, sessions, started, workdir)
        finally:
            system.stop_all()
            storm.close()
            engine.dispose()


def _storm(options: Options, system: System, storm: Storm, sessions: sessionmaker[Session],
           started: float, workdir: Path) -> Outcome:
    system.start_redis()
    for name in ("gateway", "beat", "bot"):
        system.start(name)
    system.watch()
    storm.postbacks.start()
    first_wave = max(2, options.size // 20)
    log(f"bot up, no worker yet: {first_wave} subscribers tap through /start → plan")
    with httpx.Client(base_url=storm.telegram.base_url, timeout=30.0) as control, \
            ThreadPoolExecutor(options.concurrency) as pool:
        early = [pool.submit(storm.walk, journey, control)
                 for journey in storm.journeys[:first_wave]]
        wait_until(lambda: all(any(step.startswith("plan:") for step in j.steps)
                               for j in storm.journeys[:first_wave]), timeout=3 * options.patience)
        for name in WORKERS:
            system.start(name)
        storm.arm()
        log(f"workers up; {options.size - first_wave} more subscribers")
        rest = [pool.submit(storm.walk, journey, control)
                for journey in storm.journeys[first_wave:]]
        for future in early + rest:
            future.result()
    storm.finish_faults()
    storm.postbacks.stop()
    log(f"{len(storm.payments)} paid; waiting for quiescence (at most "
        f"{options.settle_timeout:.0f} s)")
    settled = wait_until(lambda: quiet(sessions, storm), timeout=options.settle_timeout,
                         every=2.0)
    wall = time.monotonic() - started
    found = checks(
        size=options.size, payments=storm.payments, sessions=sessions,
        world=storm.telegram.world, sent=storm.postbacks.sent, deaths=system.deaths,
        kills=system.kills,
        referrals={j.user_id: j.referrer_id for j in storm.journeys if j.referrer_id},
        pcts=storm.pcts, price=PRICE,
        redis_url=system.redis.url, wall_seconds=wall,
    )
    planned = [fault for _, fault in FAULTS]
    found.insert(0, Check("faults as planned", storm.fired == planned,
                          f"{', '.join(storm.fired)} (planned: {', '.join(planned)})"))
    repeats = sum(j.repeats for j in storm.journeys)
    notes = [
        f"quiescence {'reached' if settled else 'NOT reached'}",
        f"people who heard nothing for {options.patience:.0f} s and did it again (giving up "
        f"after {options.give_up:.0f} s): "
        f"{sum(1 for j in storm.journeys if j.repeats)} ({repeats} repeats); "
        f"never got a pay link: {sum(1 for j in storm.journeys if j.invoice_code is None)}",
        *(f"user {j.user_id} never got a pay link; did {' → '.join(j.steps)}"
          for j in storm.journeys if j.invoice_code is None),
    ]
    return Outcome(checks=found, workdir=workdir, notes=notes)
