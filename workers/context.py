"""The resources of one worker process: settings, database, CryptoCloud client, Telegram.

They are built lazily in the process that uses them, after Celery forks its pool children, and
closed at shutdown: a database pool, an HTTP session or an event loop must never be shared
across a fork (reference/telegram.md §4.8). Tests install their own with `use_context`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from celery import current_app, signature
from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from infra.cryptocloud import CryptoCloudClient, PaymentProvider
from infra.db import create_engine, make_session_factory
from infra.settings import Settings, load_settings
from infra.telegram import SendBudget, TelegramGateway, TelegramPort

Call = tuple[str, tuple[Any, ...]]  # a task name and its arguments


@dataclass
class WorkerContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    payments: PaymentProvider
    telegram: TelegramPort  # the real gateway, or infra.telegram.fake in tests

    def send(self, name: str, *args: Any) -> None:
        """Queue a task by name (after the commit that made it necessary)."""
        current_app.send_task(name, args=list(args))

    def send_later(self, name: str, *args: Any, countdown: float) -> None:
        """Queue a task by name to start `countdown` seconds from now."""
        current_app.send_task(name, args=list(args), countdown=countdown)

    def send_in_order(self, calls: Sequence[Call]) -> None:
        """Queue `calls` so that each starts only once the one before it has returned.

        The first is sent; each next one rides on it as a Celery link, which the worker sends
        when its task returns (after any retries) and which is routed by name like a direct
        send. Links are immutable signatures: they do not take the previous task's result.
        """
        (name, args), *rest = calls
        then = None
        for later_name, later_args in reversed(rest):
            step = signature(later_name, args=list(later_args), immutable=True)
            if then is not None:
                step.link(then)
            then = step
        current_app.send_task(name, args=list(args), link=then)

    def close(self) -> None:
        self.telegram.close()
        close_payments = getattr(self.payments, "close", None)
        if close_payments is not None:
            close_payments()
        self.engine.dispose()


def build_context(settings: Settings) -> WorkerContext:
    engine = create_engine(settings.database_url)
    budget = SendBudget(
        Redis.from_url(settings.broker_url, socket_timeout=5, socket_connect_timeout=5),
        per_second=settings.telegram_rate_per_sec,
        per_chat_per_second=settings.telegram_per_chat_per_sec,
    )
    return WorkerContext(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        payments=CryptoCloudClient(
            base_url=settings.cryptocloud_base,
            api_key=settings.cryptocloud_key,
            shop_id=settings.cryptocloud_shop,
        ),
        telegram=TelegramGateway(
            token=settings.telegram_token, api_base=settings.telegram_base, budget=budget
        ),
    )


_current: WorkerContext | None = None


def context() -> WorkerContext:
    """This process's context, built on first use."""
    global _current  # noqa: PLW0603 - one per process by design
    if _current is None:
        _current = build_context(load_settings())
    return _current


def reset_context() -> None:
    """Forget (and close) this process's context; the next use builds a fresh one."""
    global _current  # noqa: PLW0603
    if _current is not None:
        _current.close()
    _current = None


@contextmanager
def use_context(ctx: WorkerContext) -> Iterator[WorkerContext]:
    """Run tasks in-process against the given context (tests)."""
    global _current  # noqa: PLW0603
    previous, _current = _current, ctx
    try:
        yield ctx
    finally:
        _current = previous
