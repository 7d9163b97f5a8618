"""Running worker use cases in-process: fakes at the edges, a real database in the middle.

`Pipeline` stands in for the broker: tasks sent by name are queued in memory and `drain()` runs
them in order through the real task functions. It proves the use cases and their wiring; the
real broker, worker process and stand-ins are proven in tests/e2e.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from infra.cryptocloud import InvoiceState
from infra.cryptocloud.fake import FakePaymentProvider
from infra.settings import SANDBOX_BOT_TOKEN, Settings, load_settings
from infra.telegram import SendBudget, TelegramGateway
from infra.telegram.fake import FakeTelegramGateway
from models.schema import User
from workers.context import Call, WorkerContext, use_context


class CountingProvider(FakePaymentProvider):
    """The CryptoCloud fake, keeping the ids of every merchant/info call."""

    def __init__(self) -> None:
        super().__init__()
        self.info_calls: list[list[str]] = []

    def invoice_info(self, uuids: Sequence[str]) -> list[InvoiceState]:
        self.info_calls.append(list(uuids))
        return super().invoice_info(uuids)


class Pipeline(WorkerContext):
    """A worker context whose `send` queues tasks in memory instead of on Redis."""

    queued: deque[tuple[str, tuple[Any, ...]]]
    telegram: Any  # the fake, which tests also script and inspect freely

    def send(self, name: str, *args: Any) -> None:
        self.queued.append((name, args))

    def send_in_order(self, calls: Sequence[Call]) -> None:
        """Queue them in turn: `drain` runs one task at a time, in order, and stops at an error."""
        self.queued.extend(calls)

    def drain(self, *, limit: int = 100) -> list[tuple[str, Any]]:
        """Run queued tasks (and what they queue) until none is left; return their results."""
        import importlib

        from celery import current_app

        from infra.celery_config import WORKER_MODULES

        for module in WORKER_MODULES:
            importlib.import_module(module)
        results: list[tuple[str, Any]] = []
        for _ in range(limit):
            if not self.queued:
                return results
            name, args = self.queued.popleft()
            results.append((name, current_app.tasks[name].apply(args=args).get()))
        raise AssertionError("the pipeline did not settle")


def make_pipeline(
    *, db_url: str, sessions: sessionmaker[Session], engine: Any, **overrides: Any
) -> Pipeline:
    settings: Settings = load_settings(_env_file=None, database_url=db_url, **overrides)
    pipeline = Pipeline(
        settings=settings, engine=engine, sessions=sessions,
        payments=FakePaymentProvider(), telegram=FakeTelegramGateway(),
    )
    pipeline.queued = deque()
    return pipeline


def add_user(sessions: sessionmaker[Session], user_id: int, *, referred_by: int | None = None
             ) -> None:
    with sessions.begin() as session:
        now = datetime.now(UTC)
        session.add(User(id=user_id, first_name=f"user{user_id}", created_at=now,
                         terms_accepted_at=now, referred_by_id=referred_by))


def paid_with_invite(ctx: Pipeline, user_id: int, *, chat_id: int, days: int = 30) -> None:
    """A user with `days` of access and their invite on its way (the grant task is queued)."""
    from workers.access.service import extend_access
    from workers.dispatch import dispatch
    from workers.users.service import grant

    add_user(ctx.sessions, user_id)
    now = datetime.now(UTC)
    with ctx.sessions.begin() as session:
        change = extend_access(session, user_id=user_id, chat_id=chat_id, days=days, now=now,
                               plan_id=None, action="admin_grant", source="admin")
        effects = grant(session, key=f"grant:test:{user_id}", user_id=user_id,
                        chat_id=chat_id, access_id=change.access_id, now=now)
    dispatch(effects)


@contextmanager
def over_http(ctx: Pipeline, *, api_base: str, redis_url: str) -> Iterator[Pipeline]:
    """`ctx` installed with the real Telegram gateway on a stand-in, its budget on Redis."""
    redis = Redis.from_url(redis_url)
    budget = SendBudget(redis, per_second=1000, per_chat_per_second=100)
    ctx.telegram = TelegramGateway(token=SecretStr(SANDBOX_BOT_TOKEN), api_base=api_base,
                                   budget=budget)
    try:
        with use_context(ctx):
            yield ctx
    finally:
        ctx.telegram.close()
        redis.close()
