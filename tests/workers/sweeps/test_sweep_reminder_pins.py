"""Renewal reminders, pinned where mutation testing found them loose.

Which rows a reminder page holds, the key it hands on, that a walk ends and sees every row once
whatever order the rows were written in, and the order and timestamps of the messages it queues.
Pages are made small so a handful of rows spans several; a walk that never ends fails on the
timeout instead of hanging the suite.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models.outbox import Effects, chats_of
from models.schema import Access, RenewalReminder, TelegramEffect
from tests.workers.harness import Pipeline
from tests.workers.sweeps.conftest import CHANNEL, access_of, subscriber
from workers.sweeps import service

HOUR = timedelta(hours=1)
DAY = 24 * HOUR
USERS = [7501, 7502, 7503, 7504, 7505]
WALK_TIMEOUT = 30  # seconds: a keyset walk of a few rows takes well under one


def now_() -> datetime:
    """A moment to run at, in whole seconds so a boundary row compares exactly."""
    return datetime.now(UTC).replace(microsecond=0)


def remind_page(ctx: Pipeline, now: datetime, *, after: tuple[datetime, int] | None = None,
                ) -> tuple[Effects, tuple[datetime, int] | None]:
    with ctx.sessions.begin() as session:
        return service.remind_page(session, chat_id=CHANNEL, now=now, after=after,
                                   reminder_days=ctx.settings.reminder_days)


def reminded(ctx: Pipeline) -> list[int]:
    """The user ids reminded so far, each once per reminder row."""
    with ctx.sessions() as session:
        return sorted(session.scalars(select(Access.user_id).join(
            RenewalReminder, RenewalReminder.access_id == Access.id)).all())


@pytest.mark.timeout(WALK_TIMEOUT)
def test_one_transaction_walk_returns_the_reminders_of_every_page(
        ctx: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """send_renewal_reminders over three pages of two: all five reminders' effects, then ends."""
    monkeypatch.setattr(service, "PAGE_SIZE", 2)
    now = now_()
    for offset, user_id in enumerate(USERS):
        subscriber(ctx, user_id, paid_through=now + (offset + 1) * HOUR)

    with ctx.sessions.begin() as session:
        effects = service.send_renewal_reminders(
            session, chat_id=CHANNEL, reminder_days=ctx.settings.reminder_days, now=now)

    assert len(effects) == len({effect_id for effect_id, _ in effects}) == 5
    assert reminded(ctx) == USERS


@pytest.mark.timeout(WALK_TIMEOUT)
def test_batches_are_pages_each_handed_over_after_its_commit(
        ctx: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """remind_in_batches with pages of two: five reminders handed over as 2, 2 and 1."""
    monkeypatch.setattr(service, "PAGE_SIZE", 2)
    now = now_()
    for offset, user_id in enumerate(USERS):
        subscriber(ctx, user_id, paid_through=now + (offset + 1) * HOUR)
    handed: list[Effects] = []

    total = service.remind_in_batches(ctx, now=now, dispatch=handed.append)

    assert total == 5 and [len(batch) for batch in handed] == [2, 2, 1]
    assert reminded(ctx) == USERS


@pytest.mark.timeout(WALK_TIMEOUT)
def test_pages_walk_in_paid_through_order_not_in_the_order_rows_were_written(
        ctx: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows written latest-ending first: a walk by id would skip three; all five are reminded."""
    monkeypatch.setattr(service, "PAGE_SIZE", 2)
    now = now_()
    for offset, user_id in enumerate(USERS):
        subscriber(ctx, user_id, paid_through=now + (len(USERS) - offset) * HOUR)

    assert service.remind_in_batches(ctx, now=now, dispatch=lambda effects: None) == 5
    assert reminded(ctx) == USERS


def test_reminder_pages_are_ordered_by_the_whole_keyset() -> None:
    """ORDER BY (paid_through, id): rows ending at the same moment come in a defined order.

    The keyset goes on after (paid_through, id) of a page's last row; ties left to the
    database's whim (a sequential scan after an update, on PostgreSQL) would skip rows.
    """
    now = now_()
    query = service.reminder_query(chat_id=CHANNEL, now=now, horizon=now + 3 * DAY,
                                   after=None, limit=2)
    assert " ORDER BY access.paid_through, access.id\n" in f"{query}\n"


def test_a_full_page_hands_on_the_key_of_its_last_row(
        ctx: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page of three hands on (paid_through, id) of its third row, and the next page the rest."""
    monkeypatch.setattr(service, "PAGE_SIZE", 3)
    now = now_()
    for offset, user_id in enumerate(USERS[:4]):
        subscriber(ctx, user_id, paid_through=now + (offset + 1) * HOUR)
    third = access_of(ctx, USERS[2])

    effects, key = remind_page(ctx, now)
    assert len(effects) == 3 and key == (third.paid_through, third.id)
    effects, key = remind_page(ctx, now, after=key)
    assert len(effects) == 1 and key is None


def test_a_page_holds_only_rows_that_may_be_reminded(
        ctx: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lapsed rows, one ending right now and rows past the horizon do not fill a page.

    With pages of two, the one row whose reminder is due is the whole page: it ends the walk.
    """
    monkeypatch.setattr(service, "PAGE_SIZE", 2)
    now = now_()
    subscriber(ctx, USERS[0], paid_through=now - HOUR)  # lapsed, not swept yet
    subscriber(ctx, USERS[1], paid_through=now)  # paid time ends this very moment
    subscriber(ctx, USERS[2], paid_through=now + 12 * HOUR)  # its 1-day reminder is due
    subscriber(ctx, USERS[3], paid_through=now + 10 * DAY)  # past the 3-day horizon
    subscriber(ctx, USERS[4], paid_through=now + 11 * DAY)

    effects, key = remind_page(ctx, now)

    assert len(effects) == 1 and key is None
    assert reminded(ctx) == [USERS[2]]


def test_a_row_ending_exactly_at_the_horizon_gets_its_largest_reminder(ctx: Pipeline) -> None:
    """Paid through now + 3 days: the 3-day window starts now, so the 3-day reminder is sent."""
    now = now_()
    subscriber(ctx, USERS[0], paid_through=now + 3 * DAY)

    effects, _ = remind_page(ctx, now)

    assert len(effects) == 1
    with ctx.sessions() as session:
        assert session.scalars(select(RenewalReminder.days_before)).all() == [3]


def test_a_row_in_grace_is_not_reminded_even_if_its_end_is_still_ahead(ctx: Pipeline) -> None:
    """A sweep on a clock ahead moved it into grace: it is lapsed, not up for a reminder."""
    now = now_()
    subscriber(ctx, USERS[0], paid_through=now + 12 * HOUR, status="grace")
    subscriber(ctx, USERS[1], paid_through=now + 12 * HOUR, status="trialing")

    effects, _ = remind_page(ctx, now)

    assert len(effects) == 1 and reminded(ctx) == [USERS[1]]


def test_a_page_queues_its_messages_soonest_end_first_stamped_with_the_run_time(
        ctx: Pipeline) -> None:
    """Whoever's paid time ends first is messaged first, whatever the row order; at `now`."""
    now = now_() - HOUR  # the run's moment, not the wall clock
    subscriber(ctx, USERS[0], paid_through=now + 60 * HOUR)  # both in the 3-day window
    subscriber(ctx, USERS[1], paid_through=now + 50 * HOUR)
    subscriber(ctx, USERS[2], paid_through=now + 12 * HOUR)  # the 1-day one

    effects, _ = remind_page(ctx, now)

    ids = [effect_id for effect_id, _ in effects]
    with ctx.sessions() as session:
        chats = chats_of(session, ids)
        stamps = session.execute(select(TelegramEffect.created_at, TelegramEffect.updated_at)
                                 .where(TelegramEffect.id.in_(ids))).all()
    assert [chats[effect_id] for effect_id in ids] == [USERS[2], USERS[1], USERS[0]]
    assert {tuple(row) for row in stamps} == {(now, now)}


@pytest.mark.timeout(WALK_TIMEOUT)
def test_rows_ending_at_the_same_moment_span_pages_without_a_skip_or_a_repeat(
        ctx: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three rows with one paid_through, pages of two: the id breaks the tie past the page."""
    monkeypatch.setattr(service, "PAGE_SIZE", 2)
    now = now_()
    for user_id in USERS[:3]:
        subscriber(ctx, user_id, paid_through=now + 12 * HOUR)
    handed: list[Effects] = []

    assert service.remind_in_batches(ctx, now=now, dispatch=handed.append) == 3
    assert [len(batch) for batch in handed] == [2, 1] and reminded(ctx) == USERS[:3]
