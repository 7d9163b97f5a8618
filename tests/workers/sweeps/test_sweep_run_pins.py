"""The expiry run's inputs, pinned where mutation testing found them loose.

Who moves into grace (and that the move bumps the optimistic-lock version), who is due at
the cutoff, what the breaker counts as members and as recent churn, the text it gives an
operator, which hold a run reports and logs, and that due rows are read a page at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram.methods import BanChatMember
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from structlog.testing import capture_logs

from models.schema import Access, AccessHistory, SweepHold
from tests.workers.harness import Pipeline, add_user
from tests.workers.sweeps.conftest import CHANNEL, access_of, subscriber, sweep_pipeline
from workers.access.service import extend_access
from workers.context import use_context
from workers.sweeps import service

HOUR = timedelta(hours=1)
DAY = 24 * HOUR
OTHER_CHAT = CHANNEL - 1  # a channel the bot no longer sweeps; its rows are not ours
EMPTY_CHAT = CHANNEL - 2
USERS = [7601, 7602, 7603, 7604, 7605, 7606, 7607]


def a_moment() -> datetime:
    """A run's `now` an hour off the wall clock, in whole seconds for exact boundaries."""
    return datetime.now(UTC).replace(microsecond=0) - HOUR


def other_chat_row(ctx: Pipeline, user_id: int, *, paid_through: datetime,
                   chat_id: int = OTHER_CHAT) -> None:
    add_user(ctx.sessions, user_id)
    with ctx.sessions.begin() as session:
        session.add(Access(user_id=user_id, chat_id=chat_id, paid_through=paid_through,
                           status="active", created_at=paid_through, updated_at=paid_through))


def test_only_running_rows_of_this_channel_inside_the_grace_window_move_into_grace(
        ctx: Pipeline) -> None:
    """Paid time over at or before now, and after now - grace: grace, stamped `now`."""
    now, grace = a_moment(), DAY
    ended, ends_now, grace_over, long_over, expired, elsewhere, running = USERS
    subscriber(ctx, ended, paid_through=now - HOUR)
    subscriber(ctx, ends_now, paid_through=now, status="trialing")
    subscriber(ctx, grace_over, paid_through=now - grace)  # due: the sweep removes it
    subscriber(ctx, long_over, paid_through=now - 2 * grace)
    subscriber(ctx, expired, paid_through=now - 2 * HOUR, status="expired")
    other_chat_row(ctx, elsewhere, paid_through=now - HOUR)
    subscriber(ctx, running, paid_through=now + HOUR)

    with ctx.sessions.begin() as session:
        moved = service.move_into_grace(session, chat_id=CHANNEL, now=now, grace=grace)

    assert moved == 2
    assert {user_id: access_of(ctx, user_id).status for user_id in USERS} == {
        ended: "grace", ends_now: "grace", grace_over: "active", long_over: "active",
        expired: "expired", elsewhere: "active", running: "active"}
    assert access_of(ctx, ended).updated_at == access_of(ctx, ends_now).updated_at == now


def test_moving_into_grace_fails_every_stale_copy_of_the_row(
        session_factory: sessionmaker[Session], ctx: Pipeline) -> None:
    """A copy read before the move, even one from before an earlier change, cannot write over it.

    The bulk update bypasses the ORM's version counter, so it must move the version on to one
    no copy holds: neither the one before the move nor any earlier one.
    """
    now = a_moment()
    subscriber(ctx, USERS[0], paid_through=now - HOUR)
    access_id = access_of(ctx, USERS[0]).id

    def stale_copy() -> tuple[Session, Access]:
        session = session_factory()
        row = session.get_one(Access, access_id)
        session.commit()  # end the read (SQLite); the row keeps the version it was read at
        return session, row

    oldest = stale_copy()
    with ctx.sessions.begin() as session:  # an ordinary ORM change: version + 1
        session.get_one(Access, access_id).updated_at = now - 2 * HOUR
    newest = stale_copy()
    with ctx.sessions.begin() as session:
        assert service.move_into_grace(session, chat_id=CHANNEL, now=now, grace=DAY) == 1

    for session, row in (newest, oldest):
        with session:
            row.paid_through = now + DAY  # e.g. an admin's edit made from what they read
            with pytest.raises(StaleDataError):
                session.flush()
    assert access_of(ctx, USERS[0]).status == "grace"


def test_a_row_whose_paid_time_ends_at_the_cutoff_is_due(ctx: Pipeline) -> None:
    """due_counts: ended before or at the cutoff is due; without admins all of it removable."""
    now = a_moment()
    subscriber(ctx, USERS[0], paid_through=now - HOUR)
    subscriber(ctx, USERS[1], paid_through=now)
    subscriber(ctx, USERS[2], paid_through=now + timedelta(seconds=1))

    with ctx.sessions() as session:
        counts = service.due_counts(session, chat_id=CHANNEL, cutoff=now, admins=frozenset())

    assert counts == (2, 2)


def test_members_are_the_running_and_grace_rows_of_this_channel(ctx: Pipeline) -> None:
    """Trialing, active and grace rows count; expired, removed and other channels do not."""
    now = a_moment()
    for user_id, status in zip(USERS, ["trialing", "active", "grace", "expired", "removed"],
                               strict=False):
        subscriber(ctx, user_id, paid_through=now, status=status)
    other_chat_row(ctx, USERS[5], paid_through=now + DAY)

    with ctx.sessions() as session:
        assert service.member_count(session, chat_id=CHANNEL) == 3
        assert service.member_count(session, chat_id=EMPTY_CHAT) == 0


def history(ctx: Pipeline, *entries: tuple[str, datetime, int]) -> None:
    with ctx.sessions.begin() as session:
        session.add_all(AccessHistory(user_id=USERS[0], chat_id=chat_id, action=action,
                                      source="sweep", created_at=at)
                        for action, at, chat_id in entries)


def test_recent_churn_is_this_channels_sweep_expiries_of_the_last_day_per_run(
        ctx: Pipeline) -> None:
    """Expiries in (now - 24 h, now] of this channel, scaled to one run of `every`."""
    now = a_moment()
    history(ctx,
            ("expired_removed", now - HOUR, CHANNEL),
            ("expired", now - 23 * HOUR, CHANNEL),
            ("expired_kept", now, CHANNEL),  # counted: the window ends at now inclusive
            ("expired", now - DAY, CHANNEL),  # not: the window starts after now - 24 h
            ("expired", now - 30 * HOUR, CHANNEL),
            ("expired", now + timedelta(seconds=1), CHANNEL),
            ("removal_refused", now - HOUR, CHANNEL),  # not an expiry
            ("expired", now - HOUR, OTHER_CHAT))

    with ctx.sessions() as session:
        churn = service.recent_churn(session, chat_id=CHANNEL, now=now, every=HOUR)
        none = service.recent_churn(session, chat_id=EMPTY_CHAT, now=now, every=DAY)

    assert churn == pytest.approx(3 / 24)
    assert none == 0.0


def test_the_churn_rule_without_a_churn_given_counts_none_and_says_so() -> None:
    """breaker_reason's default churn is none; the reason names the window in whole hours."""
    reason = service.breaker_reason(due=2, members=1000, max_removals=None, max_share=1.0,
                                    share_min_due=1, max_churn_factor=2.0)
    assert reason == "more than 2x the recent churn (0.0 a run over the last 24 h)"


def test_the_newest_open_hold_is_the_one_a_run_reports_and_logs(ctx: Pipeline) -> None:
    """Two holds left open (two runs raced): the run stops on the newest and logs it."""
    now = a_moment()
    with ctx.sessions.begin() as session:
        older = SweepHold(due_count=5, member_count=9, reason="x", status="held",
                          created_at=now - HOUR)
        newer = SweepHold(due_count=7, member_count=9, reason="y", status="held",
                          created_at=now)
        session.add_all([older, newer])
        session.flush()
        newest = newer.id

    with capture_logs() as logs:
        summary = service.expire_subscriptions(ctx, now=now)

    assert summary.hold_id == newest
    assert {"event": "sweep_on_hold", "hold_id": newest, "due": 7,
            "log_level": "warning"} in logs


@pytest.fixture
def held_with_grace(db_url: str, engine: Engine,
                    session_factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    """A pipeline with a day of grace whose breaker holds any run of two removals or more."""
    pipeline = sweep_pipeline(db_url, engine, session_factory, grace_hours=24,
                              sweep_max_removals=1)
    with use_context(pipeline):
        yield pipeline


def test_a_held_run_still_reports_who_it_moved_into_grace(held_with_grace: Pipeline) -> None:
    """The move into grace is committed before the breaker's verdict; the held run says so."""
    ctx, now = held_with_grace, a_moment()
    subscriber(ctx, USERS[0], paid_through=now - HOUR)  # into grace
    subscriber(ctx, USERS[1], paid_through=now - 2 * DAY)  # due
    subscriber(ctx, USERS[2], paid_through=now - 3 * DAY)  # due

    report = service.expire_subscriptions(ctx, now=now).report()

    assert report["hold_id"] is not None and report["to_grace"] == 1 and report["due"] == 2
    assert access_of(ctx, USERS[0]).status == "grace"


def test_due_rows_are_read_a_page_at_a_time_as_the_run_goes(
        ctx: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of two: a payer on the second page who pays during the first is never read.

    The run does not load the whole due set up front (memory stays one page); the counted
    due set still says three.
    """
    monkeypatch.setattr(service, "PAGE_SIZE", 2)
    now = a_moment()
    for offset, user_id in enumerate(USERS[:3]):
        subscriber(ctx, user_id, paid_through=now - (3 - offset) * HOUR)
    payer = USERS[2]  # ends last: the second page
    call, paid = ctx.telegram.call, list[int]()

    def pay_on_first_ban(method: Any, **kwargs: Any) -> Any:
        if isinstance(method, BanChatMember) and not paid:
            paid.append(method.user_id)
            with ctx.sessions.begin() as session:
                extend_access(session, user_id=payer, chat_id=CHANNEL, days=30, now=now,
                              plan_id=None, action="payment_activated", source="payment")
        return call(method, **kwargs)

    monkeypatch.setattr(ctx.telegram, "call", pay_on_first_ban)

    report = service.expire_subscriptions(ctx, now=now).report()

    assert report == {**report, "due": 3, "expired": 2, "paid_meanwhile": 0}
    assert paid == [USERS[0]] and access_of(ctx, payer).status == "active"
