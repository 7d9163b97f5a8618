"""Audit use cases in-process (fake Telegram, real database, both backends): one run at a time,
resuming a run whose chain died, the bulk lane, and the sweep's breaker on the fix."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram.methods import BanChatMember, GetChatMember, SendMessage
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.telegram.rate_limit import Lane
from models.schema import Access, AuditFinding, AuditRun, User
from tests.workers.harness import Pipeline, make_pipeline
from workers.audits import service
from workers.audits.tasks import start

ADMIN = 100
CHAT = -1001000000001  # the sandbox channel: the chat of every plan by default
PEOPLE = list(range(601, 611))


def command(text: str, key: str) -> dict[str, Any]:
    return {"actor_id": ADMIN, "text": text, "request_key": key}


def pipeline(db_url: str, engine: Any, sessions: sessionmaker[Session],
             **overrides: Any) -> Iterator[Pipeline]:
    from workers.context import use_context

    ctx = make_pipeline(db_url=db_url, sessions=sessions, engine=engine, admin_ids=str(ADMIN),
                        **overrides)
    ctx.send_later = lambda name, *args, countdown: ctx.queued.append(  # type: ignore[method-assign]
        (name, args))
    with use_context(ctx):
        yield ctx


@pytest.fixture
def ctx(db_url: str, engine: Any, session_factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    """Ten people the bot knows, none with access, all members of the channel by hand."""
    yield from pipeline(db_url, engine, session_factory)


def hand_added(ctx: Pipeline, people: list[int]) -> None:
    now = datetime.now(UTC)
    with ctx.sessions.begin() as session:
        session.add_all(User(id=p, first_name=f"u{p}", created_at=now) for p in people)
    for person in [ADMIN, *people]:  # the admin a plain member: reported, never removed
        ctx.telegram.members[CHAT, person] = "member"


def texts_to_admin(ctx: Pipeline) -> list[str]:
    with ctx.sessions() as session:
        from models.schema import TelegramEffect
        return [row.request or "" for row in session.scalars(
            select(TelegramEffect).where(TelegramEffect.chat_id == ADMIN)
            .order_by(TelegramEffect.id))]


def test_one_run_at_a_time_and_a_dead_chain_resumes_from_its_cursor(ctx: Pipeline) -> None:
    """A chain that dies after a few people leaves a committed cursor: /audit meanwhile only
    reports progress; once the run has stalled, /audit restarts it from there, and every
    person is asked about exactly once, in the bulk lane."""
    hand_added(ctx, PEOPLE)
    start.apply(args=[command("/audit", "a:1")])  # its page task is what a dying worker loses
    (run_id,) = [args[0] for name, args in ctx.queued if name == task_names.AUDIT_CHECK_PAGE]
    ctx.queued = type(ctx.queued)(c for c in ctx.queued if c[0] != task_names.AUDIT_CHECK_PAGE)
    page = service.check_page(ctx, run_id, clock=lambda: datetime.now(UTC), page_size=4)
    assert (page.checked, page.next_in) == (4, 0.0)  # ... and the worker dies here

    ctx.send(task_names.AUDIT_START, command("/audit", "a:2"))
    assert task_names.AUDIT_CHECK_PAGE not in [name for name, _ in ctx.drain()]
    with ctx.sessions.begin() as session:
        assert session.scalar(select(AuditRun.checked)) == 4
        quiet = service.stall_after(ctx.settings) + timedelta(seconds=1)
        session.execute(update(AuditRun).values(updated_at=datetime.now(UTC) - quiet))
    ctx.send(task_names.AUDIT_START, command("/audit", "a:3"))
    ctx.drain()

    asked = [c.user_id for c in ctx.telegram.calls if isinstance(c, GetChatMember)]
    assert sorted(asked) == sorted([ADMIN, *PEOPLE])  # the admin too, each once
    assert {lane for c, lane in zip(ctx.telegram.calls, ctx.telegram.lanes, strict=True)
            if isinstance(c, GetChatMember)} == {Lane.BULK}
    with ctx.sessions() as session:
        run = session.scalars(select(AuditRun)).one()
        kinds = Counter(session.scalars(select(AuditFinding.finding)))
    assert (run.status, run.checked, run.reported_at is not None) == ("finished", 11, True)
    assert kinds == {"member_without_access": 10, "admin": 1}
    replies = texts_to_admin(ctx)
    assert "is running (one at a time): 4 of about 11 checked" in replies[1]
    assert "had stalled and goes on" in replies[2]
    assert [c.filename for c in (m.document for m in ctx.telegram.calls_of("sendDocument"))
            ] == [f"audit-{run_id}.csv"]


@pytest.fixture
def strict(db_url: str, engine: Any,
           session_factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    """The sweep's breaker set to trip above 3 removals in one run."""
    yield from pipeline(db_url, engine, session_factory, sweep_max_removals="3")


def test_the_breaker_holds_the_fixs_removals_until_confirmed(strict: Pipeline) -> None:
    """Ten removals trip the sweep's breaker: nobody is removed and the admin is told how to
    confirm (invites still go out); /audit fix confirm then removes them, once."""
    ctx = strict
    hand_added(ctx, PEOPLE)
    now = datetime.now(UTC)
    with ctx.sessions.begin() as session:  # one payer who is out
        session.add(User(id=700, first_name="payer", created_at=now))
        session.flush()
        session.add(Access(user_id=700, chat_id=CHAT, status="active",
                           paid_through=now + timedelta(days=9), created_at=now,
                           updated_at=now))
    ctx.send(task_names.AUDIT_START, command("/audit", "a:1"))
    ctx.drain()

    ctx.send(task_names.AUDIT_FIX, command("/audit fix", "f:1"), False)
    ctx.drain()
    assert ctx.telegram.calls_of("banChatMember") == []
    held = texts_to_admin(ctx)[-1]
    assert "Nobody was removed: 10 removals in chat" in held
    assert "more than 3 removals in one run" in held and "/audit fix confirm" in held
    assert "1 invited" in held
    with ctx.sessions() as session:
        outcomes = Counter(session.scalars(select(AuditFinding.fix_outcome)))
    assert outcomes == {None: 11, "invited": 1}  # 10 held, and the admin

    ctx.send(task_names.AUDIT_FIX, command("/audit fix confirm", "f:2"), True)
    ctx.drain()
    banned = [c.user_id for c in ctx.telegram.calls if isinstance(c, BanChatMember)]
    assert sorted(banned) == PEOPLE
    assert all(ctx.telegram.members[CHAT, p] == "left" for p in PEOPLE)
    assert "10 removed" in texts_to_admin(ctx)[-1]

    ctx.send(task_names.AUDIT_FIX, command("/audit fix confirm", "f:3"), True)
    ctx.drain()
    assert len([c for c in ctx.telegram.calls if isinstance(c, BanChatMember)]) == 10
    assert "nothing new to fix" in texts_to_admin(ctx)[-1]


def test_fix_without_a_finished_audit_says_so(ctx: Pipeline) -> None:
    """/audit fix before any audit changes nothing and tells the admin to run /audit first."""
    ctx.send(task_names.AUDIT_FIX, command("/audit fix", "f:1"), False)
    ctx.drain()
    assert [c for c in ctx.telegram.calls if not isinstance(c, SendMessage)] == []
    assert "Send /audit first" in texts_to_admin(ctx)[-1]
