"""Phase `rush`: updates handled per second by our bot vs a bare aiogram dispatcher (issue 13,
item 5).

Setup (not timed): N subscribers (1,000; --quick 300) known to the Telegram stand-in and to our
SQLite database (terms accepted), each with a plan menu from the bot in their chat.
Each run: every subscriber sends /start, then every one taps the first plan's button; those 2N
updates wait in the stand-in's getUpdates queue, and the dispatcher is started with
`start_polling` against the stand-in (the transport of `make run`), timed from the start until
the stand-in has recorded the 2N answers. Bare and ours run in turn, ROUNDS times each, and
the best run of each counts: other load on a shared machine moves single runs by up to 3x.

Ours: `bot_frontend.app.build_dispatcher` as `python -m bot_frontend` builds it: read-only
database sessions, its FSM storage (`fsm_storage`: Redis on the broker), the Celery producer
publishing to the bench's Redis (no worker consumes; the 2N tasks are counted in the queues
afterwards), the retrying Bot API session. /start reads the user and the plans (one read) and
answers with the plan menu (sendMessage); it sends users.register only when there is something
to record, and these subscribers are recorded as the stand-in shows them (whoever can tap a plan
has accepted the terms, which records the profile). A plan tap reads the open invoice and the
access (one read), sends payments.checkout and answers the callback (answerCallbackQuery): one
task per subscriber.

Baseline: a bare `Dispatcher()` (memory FSM storage) whose handlers answer each update with one
message (sendMessage), a plain aiohttp Bot session, the same stand-in and the same queue.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import redis
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import CommandStart
from aiogram.types import CallbackQuery, Message
from sqlalchemy import insert

from bench.table import Row
from bot_frontend import keyboards
from bot_frontend.app import build_dispatcher, fsm_storage
from bot_frontend.db import read_only_sessions
from bot_frontend.telegram_retry import telegram_session
from infra.celery_config import QUEUES, create_celery
from infra.db import create_engine, make_session_factory
from infra.settings import Settings, load_settings
from infra.task_publisher import TaskPublisher
from models.schema import User

GOAL_RATIO = 0.5
ROUNDS = 2
FIRST_USER = 930_000_000
ANSWERS = frozenset({"sendMessage", "answerCallbackQuery"})


@dataclass(frozen=True)
class RushResult:
    label: str
    updates: int
    seconds: float
    failed: int  # answers the stand-in refused

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0


def populate(settings: Settings, telegram: Any, users: list[int]) -> dict[int, int]:
    """Subscribers in our database and at the stand-in; each one's plan-menu message id."""
    from infra.sandbox.telegram import people

    now = datetime.now(UTC)
    engine = create_engine(settings.database_url)
    try:
        with make_session_factory(engine).begin() as session:
            session.execute(insert(User), [
                {"id": user_id, "first_name": f"user{user_id}", "created_at": now,
                 "terms_accepted_at": now} for user_id in users])
    finally:
        engine.dispose()
    world = telegram.world
    plan_button = keyboards.ChoosePlan(code=settings.plans[0].code).pack()
    markup = {"inline_keyboard": [[{"text": "plan", "callback_data": plan_button}]]}
    people.add_started_users(world, users)
    menus: dict[int, int] = {}
    with world.lock:
        bot = world.default_bot
        for user_id in users:
            chat = world.private_chat(bot.id, user_id)
            menus[user_id] = world.add_message(chat, sender_id=bot.id, from_bot=True,
                                               text="plans", reply_markup=markup).message_id
    return menus


def queue_rush(telegram: Any, menus: dict[int, int], plan_button: str) -> None:
    """Every subscriber sends /start, then every one taps the plan: 2N updates queued."""
    from infra.sandbox.telegram import people

    world = telegram.world
    for user_id in menus:
        people.send_text(world, user_id=user_id, text="/start")
    for user_id, message_id in menus.items():
        people.press_button(world, user_id=user_id, message_id=message_id, data=plan_button)


class _AnswerCounter:
    """Counts the answers (and refused ones) where the stand-in records each Bot API call."""

    def __init__(self, world: Any) -> None:
        self.answered = self.refused = 0
        self._world, self._record = world, world.record_call
        world.record_call = self

    def __call__(self, *, method: str, status: int, **call: Any) -> None:
        if method in ANSWERS:
            self.answered += 1
            self.refused += status != 200
        self._record(method=method, status=status, **call)

    def close(self) -> None:
        self._world.record_call = self._record


async def _drive(dp: Dispatcher, bot: Bot, world: Any, expected: int, timeout: float,
                 ) -> tuple[float, int]:
    """Poll until the stand-in has recorded `expected` answers; (seconds, refused or missing)."""
    counter = _AnswerCounter(world)
    started = time.perf_counter()
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False,
                                                   close_bot_session=False, polling_timeout=1))
    try:
        while counter.answered < expected and time.perf_counter() - started < timeout:
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
    finally:
        counter.close()
        await dp.stop_polling()
        await polling
    return elapsed, counter.refused + max(0, expected - counter.answered)


def bare_dispatcher() -> Dispatcher:
    router = Router(name="bare")

    async def on_start(message: Message) -> None:
        await message.answer("hello")

    async def on_tap(callback: CallbackQuery) -> None:
        assert callback.message is not None
        await callback.bot.send_message(callback.from_user.id, "tapped")  # type: ignore[union-attr]

    router.message.register(on_start, CommandStart())
    router.callback_query.register(on_tap)
    dp = Dispatcher()
    dp.include_router(router)
    return dp


async def run_bare(settings: Settings, telegram: Any, expected: int, timeout: float
                   ) -> RushResult:
    bot = Bot(settings.telegram_token.get_secret_value(),
              session=AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_base)))
    try:
        seconds, failed = await _drive(bare_dispatcher(), bot, telegram.world, expected, timeout)
    finally:
        await bot.session.close()
    return RushResult("bare aiogram dispatcher (one sendMessage per update)", expected, seconds,
                      failed)


async def run_ours(settings: Settings, telegram: Any, expected: int, timeout: float
                   ) -> RushResult:
    bot = Bot(settings.telegram_token.get_secret_value(),
              session=telegram_session(settings.telegram_base))
    storage = fsm_storage(settings)
    producer = TaskPublisher(create_celery(settings, main="bot_frontend"))  # as __main__ does
    sessions = read_only_sessions(settings.database_url)
    dp = build_dispatcher(settings=settings, sessions=sessions, producer=producer,
                          storage=storage)
    try:
        seconds, failed = await _drive(dp, bot, telegram.world, expected, timeout)
    finally:
        await storage.close()
        await bot.session.close()
        producer.celery.close()
        sessions.kw["bind"].dispose()
    return RushResult("our bot (/start: menu; tap: checkout task)", expected, seconds, failed)


def queued_tasks(redis_url: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return sum(cast(int, client.llen(queue)) for queue in QUEUES)
    finally:
        client.close()


def rush_phase(bench: Any) -> list[Row]:
    from bench.__main__ import prepare_database

    say, quick = bench.say, bench.args.quick
    count = 300 if quick else 1000
    url = f"sqlite:///{bench.tmp / 'rush.db'}"
    prepare_database(url)
    telegram = bench.telegram
    settings = load_settings(_env_file=None, database_url=url, redis_url=bench.redis_url,
                             telegram_api_base=telegram.base_url)
    users = [FIRST_USER + index for index in range(count)]
    menus = populate(settings, telegram, users)
    plan_button = keyboards.ChoosePlan(code=settings.plans[0].code).pack()
    expected, timeout = 2 * count, max(60.0, count / 10)
    say(f"\nrush: {count:,} subscribers each send /start then tap a plan ({expected:,} updates "
        f"queued at the Telegram stand-in), dispatcher started with start_polling; SQLite, "
        f"Redis FSM storage and broker")
    bares: list[RushResult] = []
    ours_runs: list[RushResult] = []
    tasks: list[int] = []
    checkouts = count  # one payments.checkout per subscriber; /start records nothing new
    for _ in range(ROUNDS):
        queue_rush(telegram, menus, plan_button)
        bares.append(asyncio.run(run_bare(settings, telegram, expected, timeout)))
        queue_rush(telegram, menus, plan_button)
        before = queued_tasks(bench.redis_url)
        ours_runs.append(asyncio.run(run_ours(settings, telegram, expected, timeout)))
        tasks.append(queued_tasks(bench.redis_url) - before)
    say(f"  {'what':<52} {'updates':>7} {'seconds':>8} {'per s':>8}  refused/missing")
    for result in (*bares, *ours_runs):
        say(f"  {result.label:<52} {result.updates:>7} {result.seconds:>8.2f} "
            f"{result.rate:>8.1f}  {result.failed}")
    say(f"  tasks published to the broker by our bot per run: {tasks} (expected {checkouts})")
    bare = max(bares, key=lambda result: result.rate)
    ours = max(ours_runs, key=lambda result: result.rate)
    failed = sum(result.failed for result in ours_runs)
    ratio = ours.rate / bare.rate if bare.rate else 0.0
    ok = ratio >= GOAL_RATIO and failed == 0 and set(tasks) == {checkouts}
    if bench.args.profile == "always" or (bench.args.profile == "auto" and not ok):
        say("\nprofile: our bot under the rush (main thread, by own time, top 25)")
        queue_rush(telegram, menus, plan_button)
        for line in profile_ours(settings, telegram, expected=expected, timeout=timeout,
                                 dump=bench.tmp / "rush.prof"):
            say(line)
    return [Row("bot updates/s under a rush (vs bare aiogram)", ours.rate, "/s",
                f">={GOAL_RATIO}x", ok, baseline=bare.rate,
                note=f"{count:,} users x (/start + plan tap), best of {ROUNDS} runs each; "
                     f"{failed} refused/missing answers")]


def profile_ours(settings: Settings, telegram: Any, *, expected: int, timeout: float,
                 dump: Path) -> list[str]:
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(run_ours(settings, telegram, expected, timeout))
    profiler.disable()
    profiler.dump_stats(dump)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    return ["  " + line for line in out.getvalue().splitlines() if line.strip()]
