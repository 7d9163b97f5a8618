"""The membership invariant, for any history: after a sweep each chat holds exactly the covered.

Random sequences of payments, trials, admin acts, clock moves and sweeps run against a fresh
SQLite database and the fake Telegram, whose membership follows the bans and approvals. The
engine sells two chats (a bundle grants both; a payment or an admin act concerns one of them),
and people join a chat whenever they are granted access to it. After every sweep, each chat's
members (admins aside) must be exactly the users whose access to it, plus grace, covers `now`.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from infra.db import create_engine, make_session_factory
from models.domain import access as rules
from models.migrations import upgrade
from models.schema import Access
from tests.workers.harness import Pipeline, add_user
from tests.workers.sweeps.conftest import ADMIN, CHANNEL, sweep_pipeline
from workers.access.service import as_rule, extend_access
from workers.admin import service as admin
from workers.sweeps import service
from workers.users import service as users

SUBSCRIBERS = (8001, 8002, 8003)
NEWS = -1002000000001  # the bundle's second chat
CHATS = (CHANNEL, NEWS)
PEOPLE = (*SUBSCRIBERS, ADMIN)
START = datetime(2026, 1, 1, tzinfo=UTC)
# `setdays 0` included: access that ends now must be swept like any other.
SET_DAYS_FROM = 0

person = st.sampled_from(PEOPLE)
chat = st.sampled_from(CHATS)
operations = st.one_of(
    st.tuples(st.just("pay"), person, st.integers(1, 40), chat),
    st.tuples(st.just("pay_bundle"), person, st.integers(1, 40)),
    st.tuples(st.just("trial"), person),
    st.tuples(st.just("set_days"), person, st.integers(SET_DAYS_FROM, 10), chat),
    st.tuples(st.just("remove"), person, chat),
    st.tuples(st.just("advance"), st.integers(1, 24 * 12)),
    st.tuples(st.just("sweep")),
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for every example."""
    path = tmp_path_factory.mktemp("membership") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


class World:
    """One example: a fresh database, the fake Telegram, a simulated clock."""

    def __init__(self, ctx: Pipeline) -> None:
        self.ctx = ctx
        self.now = START
        self.keys = itertools.count()

    def command(self) -> admin.Command:
        return admin.Command(actor_id=ADMIN, text="/edit", request_key=f"k{next(self.keys)}")

    def access(self, user_id: int, chat_id: int) -> rules.Access | None:
        with self.ctx.sessions() as session:
            row = session.scalar(select(Access).where(Access.user_id == user_id,
                                                      Access.chat_id == chat_id))
            return None if row is None else as_rule(row)

    def covered(self, user_id: int, chat_id: int) -> bool:
        return rules.is_covered(self.access(user_id, chat_id), now=self.now,
                                grace=self.ctx.settings.grace)

    def join_if_granted(self, user_id: int, chats: tuple[int, ...]) -> None:
        for chat_id in chats:
            if self.covered(user_id, chat_id):
                self.ctx.telegram.approve_join_request(chat_id=chat_id, user_id=user_id)

    def apply(self, op: tuple[Any, ...]) -> None:
        kind, *args = op
        sessions = self.ctx.sessions
        if kind == "advance":
            self.now += timedelta(hours=args[0])
            return
        if kind == "sweep":
            service.expire_subscriptions(self.ctx, now=self.now)
            self.check()
            return
        user_id = args[0]
        # pay, set_days and remove name their chat last; a bundle pays both; a trial opens
        # CHANNEL_ID alone.
        chats = (CHATS if kind == "pay_bundle" else (CHANNEL,) if kind == "trial"
                 else (args[-1],))
        with sessions.begin() as session:
            if kind in ("pay", "pay_bundle"):
                for chat_id in chats:  # a bundle's payment: one row per chat, as the service
                    extend_access(session, user_id=user_id, chat_id=chat_id, days=args[1],
                                  now=self.now, plan_id=None, action="payment_activated",
                                  source="payment")
            elif kind == "trial":
                users.start_trial(session, user_id=user_id, chat_id=CHANNEL, days=3,
                                  request_key=f"t{next(self.keys)}", now=self.now)
            elif kind == "set_days":
                admin.set_days(session, command=self.command(), user_id=user_id,
                               days=args[1], chat_id=chats[0], now=self.now)
            else:
                admin.remove(session, command=self.command(), user_id=user_id,
                             chat_id=chats[0], now=self.now)
        if kind == "remove":  # what the admin task does after the commit
            self.ctx.telegram.ban(chat_id=chats[0], user_id=user_id)
            self.ctx.telegram.unban(chat_id=chats[0], user_id=user_id)
        else:
            self.join_if_granted(user_id, chats)

    def check(self) -> None:
        for chat_id in CHATS:
            members = {user_id for user_id in SUBSCRIBERS
                       if self.ctx.telegram.members.get((chat_id, user_id)) == "member"}
            covered = {user_id for user_id in SUBSCRIBERS if self.covered(user_id, chat_id)}
            assert members == covered, (f"at {self.now} in {chat_id}: members {members}, "
                                        f"covered {covered}")


@pytest.fixture
def worlds(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Builds a fresh world per example; disposes every engine at the end."""
    engines = []

    def build(grace_hours: int) -> World:
        path = tmp_path_factory.mktemp("example") / "app.db"
        shutil.copyfile(template, path)
        url = f"sqlite:///{path}"
        engine = create_engine(url)
        engines.append(engine)
        sessions = make_session_factory(engine)
        ctx = sweep_pipeline(url, engine, sessions, grace_hours=grace_hours,
                             plans="month:30:10,vip:30:25", plan_chats=f"vip={CHANNEL},{NEWS}")
        for user_id in PEOPLE:
            add_user(sessions, user_id)
        return World(ctx)

    yield build
    for engine in engines:
        engine.dispose()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operations, max_size=30), grace_hours=st.sampled_from([0, 12]))
def test_after_every_sweep_members_are_exactly_the_covered(
    worlds: Any, ops: list[tuple[Any, ...]], grace_hours: int
) -> None:
    """Whatever happened, a sweep leaves in each chat exactly those whose access to it covers."""
    world = worlds(grace_hours)
    for op in [*ops, ("sweep",)]:
        world.apply(op)
