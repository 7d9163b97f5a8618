"""Helpers for the sweep tests: a pipeline whose fake Telegram knows owners and administrators."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest
from aiogram.methods import GetChatMember, TelegramMethod
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from infra.settings import SANDBOX_CHANNEL_ID
from infra.telegram.fake import FakeTelegramGateway
from infra.telegram.rate_limit import Lane
from models.schema import Access
from tests.workers.harness import Pipeline, add_user, make_pipeline
from workers.context import use_context

T = TypeVar("T")
CHANNEL = SANDBOX_CHANNEL_ID
ADMIN = 100  # the sandbox settings' admin


class ChannelFake(FakeTelegramGateway):
    """FakeTelegramGateway plus channel staff: `staff[user_id] = "creator" | "administrator"`."""

    def __init__(self) -> None:
        super().__init__()
        self.staff: dict[int, str] = {}

    def call(
        self, method: TelegramMethod[T], *, chat_id_for_budget: int | None = None,
        lane: Lane = Lane.INTERACTIVE,
    ) -> T:
        if isinstance(method, GetChatMember) and method.user_id in self.staff:
            self.calls.append(method)
            self.lanes.append(lane)
            answer: Any = SimpleNamespace(status=self.staff[method.user_id])
            return answer  # type: ignore[no-any-return]
        return super().call(method, chat_id_for_budget=chat_id_for_budget, lane=lane)


def sweep_pipeline(db_url: str, engine: Any, sessions: sessionmaker[Session],
                   **overrides: Any) -> Pipeline:
    """A pipeline whose breaker lets everything through unless a test says otherwise."""
    settings = {"sweep_max_share": 1.0, "sweep_max_removals": 1000,
                "sweep_max_churn_factor": 0, **overrides}
    ctx = make_pipeline(db_url=db_url, sessions=sessions, engine=engine, **settings)
    ctx.telegram = ChannelFake()
    return ctx


@pytest.fixture
def ctx(db_url: str, engine: Any, session_factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    """A pipeline on a fresh database, installed as the worker context."""
    pipeline = sweep_pipeline(db_url, engine, session_factory)
    with use_context(pipeline):
        yield pipeline


def subscriber(ctx: Pipeline, user_id: int, *, paid_through: datetime, member: bool = True,
               status: str = "active") -> None:
    """A user with access to the channel up to `paid_through`, in it when `member`."""
    add_user(ctx.sessions, user_id)
    with ctx.sessions.begin() as session:
        now = datetime.now(UTC)
        session.add(Access(user_id=user_id, chat_id=CHANNEL, paid_through=paid_through,
                           status=status, is_trial=status == "trialing", created_at=now,
                           updated_at=now))
    if member:
        ctx.telegram.members[CHANNEL, user_id] = "member"


def access_of(ctx: Pipeline, user_id: int) -> Access:
    with ctx.sessions() as session:
        return session.scalars(select(Access).where(Access.user_id == user_id)).one()


def count(ctx: Pipeline, model: Any, *where: Any) -> int:
    with ctx.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def texts_to(ctx: Pipeline, chat_id: int) -> list[Any]:
    """The sendMessage calls the fake got for one chat."""
    return [call for call in ctx.telegram.calls_of("sendMessage") if call.chat_id == chat_id]


def membership(ctx: Pipeline, user_id: int) -> str:
    return str(ctx.telegram.members.get((CHANNEL, user_id), "left"))
