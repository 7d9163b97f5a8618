"""The expiry sweep's walk over its pages and what each removal leaves behind for an operator.

Pins what the other sweep tests leave loose: page sizes and keysets read as such, exact
handover batches, the counts of a run with several skips or refusals, the entries, effects and
log lines of a reinvite, a refusal, a kept admin, an expiry, a dry run and an interrupted run,
and the totals a confirmation reports.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from infra.telegram import TelegramPermanent, TelegramTransient
from models.history import record_history
from models.outbox import SEND_BULK_MESSAGE
from models.schema import Access, AccessHistory, TelegramEffect
from tests.workers.harness import Pipeline, add_user
from tests.workers.sweeps.conftest import (
    ADMIN,
    CHANNEL,
    access_of,
    subscriber,
    sweep_pipeline,
)
from workers.access.service import extend_access
from workers.context import use_context
from workers.sweeps import service

ANN, BOB, CAT = 7301, 7302, 7303
WALK = [7311, 7312, 7313, 7314, 7315, 7316, 7317]
HOUR = timedelta(hours=1)


def entries(ctx: Pipeline, user_id: int, action: str | None = None) -> list[AccessHistory]:
    with ctx.sessions() as session:
        query = select(AccessHistory).where(AccessHistory.user_id == user_id)
        if action is not None:
            query = query.where(AccessHistory.action == action)
        return list(session.scalars(query.order_by(AccessHistory.id)))


def lines(logs: list[MutableMapping[str, Any]], event: str) -> list[MutableMapping[str, Any]]:
    return [line for line in logs if line["event"] == event]


def pay(ctx: Pipeline, user_id: int, *, now: datetime) -> None:
    with ctx.sessions.begin() as session:
        extend_access(session, user_id=user_id, chat_id=CHANNEL, days=30, now=now,
                      plan_id=None, action="payment_activated", source="payment")


def due_now(ctx: Pipeline, now: datetime) -> list[service.Due]:
    with ctx.sessions() as session:
        return service.due_access(session, chat_id=CHANNEL, cutoff=now)


# The walk -------------------------------------------------------------------------------------

def test_due_access_returns_at_most_its_limit_oldest_first(ctx: Pipeline) -> None:
    """One keyset page is `limit` rows: the two oldest of three due rows."""
    now = datetime.now(UTC)
    for hours, user_id in ((1, ANN), (3, BOB), (2, CAT)):
        subscriber(ctx, user_id, paid_through=now - hours * HOUR)
    with ctx.sessions() as session:
        page = service.due_access(session, chat_id=CHANNEL, cutoff=now, limit=2)
    assert [row.user_id for row in page] == [BOB, CAT]


def test_due_pages_of_three_yield_each_due_row_once_in_order(
    ctx: Pipeline, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seven due rows read in pages of three (nothing changes between pages): each row once,
    oldest first; the keyset carries on after the last row of each page."""
    monkeypatch.setattr(service, "PAGE_SIZE", 3)
    now = datetime.now(UTC)
    for offset, user_id in enumerate(WALK):
        subscriber(ctx, user_id, paid_through=now - (10 - offset) * HOUR)
    walked = service.due_pages(ctx, chat_id=CHANNEL, cutoff=now)
    assert [row.user_id for row in walked] == WALK


def test_due_pages_read_the_next_page_only_when_the_last_is_done(
    ctx: Pipeline, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pages of two: a row paid for while the first page is worked is not in the second page
    (the walk holds one page, never the whole due set)."""
    monkeypatch.setattr(service, "PAGE_SIZE", 2)
    now = datetime.now(UTC)
    for offset, user_id in enumerate(WALK[:4]):
        subscriber(ctx, user_id, paid_through=now - (10 - offset) * HOUR)
    walk = service.due_pages(ctx, chat_id=CHANNEL, cutoff=now)
    first = next(walk)
    pay(ctx, WALK[2], now=now)
    assert [first.user_id, *(row.user_id for row in walk)] == [WALK[0], WALK[1], WALK[3]]


def test_a_long_run_hands_over_exactly_a_page_of_messages_at_a_time(
    ctx: Pipeline, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five removals in pages of two: two handovers of two messages, the last one left to the
    task."""
    monkeypatch.setattr(service, "PAGE_SIZE", 2)
    now = datetime.now(UTC)
    for offset, user_id in enumerate(WALK[:5]):
        subscriber(ctx, user_id, paid_through=now - (10 - offset) * HOUR)
    handed: list[Any] = []
    summary = service.expire_subscriptions(ctx, now=now, dispatch=handed.append)
    assert [len(batch) for batch in handed] == [2, 2] and len(summary.effects) == 1


def test_remove_due_counts_a_list_it_is_given(ctx: Pipeline) -> None:
    """Without a count, the run's `due` is the length of the rows it was handed."""
    now = datetime.now(UTC)
    for user_id in (ANN, BOB):
        subscriber(ctx, user_id, paid_through=now - HOUR)
    summary = service.remove_due(ctx, due_now(ctx, now), now=now)
    assert (summary.due, summary.expired) == (2, 2)


# Interruptions and refusals -------------------------------------------------------------------

def test_a_send_budget_outage_interrupts_the_run_as_a_transient_failure(ctx: Pipeline) -> None:
    """Redis failing under the first row stops the run with a TelegramTransient naming the
    outage (the task retries on it), logs who it stopped at, and the run's report."""
    now = datetime.now(UTC)
    for user_id in (ANN, BOB):
        subscriber(ctx, user_id, paid_through=now - HOUR)
    outage = RedisConnectionError("budget down")

    def down(**_: Any) -> Any:
        raise outage

    ctx.telegram.get_chat_member = down
    with capture_logs() as logs:
        summary = service.remove_due(ctx, due_now(ctx, now), now=now)
    assert isinstance(summary.interrupted, TelegramTransient)
    assert summary.interrupted.description == f"send budget unavailable: {outage!r}"
    [stopped] = lines(logs, "sweep_interrupted")
    assert (stopped["user_id"], stopped["error"]) == (ANN, "budget down")
    [done] = lines(logs, "sweep_done")
    assert {key: done.get(key) for key in summary.report()} == summary.report()
    assert summary.report()["due"] == 2 and summary.expired == 0


def test_refusals_in_one_run_are_each_counted_recorded_and_logged(ctx: Pipeline) -> None:
    """Two users of the same paid-through refused in one run: refused is 2, each has their own
    entry written at the run's time, and each refusal is logged with the row and the error."""
    now = datetime.now(UTC)
    paid_through = now - HOUR
    for user_id in (ANN, BOB):
        subscriber(ctx, user_id, paid_through=paid_through)
    refusal = TelegramPermanent("Bad Request: not enough rights", method="banChatMember")
    ctx.telegram.fail_next("banChatMember", refusal, times=2)
    with capture_logs() as logs:
        summary = service.expire_subscriptions(ctx, now=now)
    assert summary.refused == 2
    for user_id in (ANN, BOB):
        [entry] = entries(ctx, user_id, "removal_refused")
        assert (entry.created_at, entry.paid_through_before) == (now, paid_through)
        assert len(entries(ctx, user_id, "removal_started")) == 1
    assert [(line["user_id"], line["access_id"], line["error"])
            for line in lines(logs, "sweep_removal_refused")] == [
        (user_id, access_of(ctx, user_id).id, str(refusal)) for user_id in (ANN, BOB)]


def test_a_refusal_is_recorded_once_per_paid_period_in_this_channel(ctx: Pipeline) -> None:
    """An entry for another channel does not count; a new paid period is recorded afresh."""
    now = datetime.now(UTC)
    first_period = now - 2 * HOUR
    subscriber(ctx, ANN, paid_through=first_period)
    with ctx.sessions.begin() as session:
        record_history(session, user_id=ANN, chat_id=CHANNEL - 1, action="removal_refused",
                       source="sweep", now=now, before=first_period)
    ctx.telegram.fail_next("banChatMember", TelegramPermanent("Bad Request: no"), times=2)
    service.expire_subscriptions(ctx, now=now)
    with ctx.sessions.begin() as session:  # paid again, and lapsed again since
        session.execute(update(Access).where(Access.user_id == ANN)
                        .values(paid_through=now - HOUR))
    service.expire_subscriptions(ctx, now=now)
    mine = [entry.paid_through_before for entry in entries(ctx, ANN, "removal_refused")
            if entry.chat_id == CHANNEL]
    assert mine == [first_period, now - HOUR]


# Rows paid for meanwhile ----------------------------------------------------------------------

def test_rows_paid_before_their_turn_are_each_counted_and_logged(ctx: Pipeline) -> None:
    """Two rows paid between the scan and their re-check: paid_meanwhile 2, a log line each."""
    now = datetime.now(UTC)
    for user_id in (ANN, BOB):
        subscriber(ctx, user_id, paid_through=now - HOUR)
    due = due_now(ctx, now)
    for user_id in (ANN, BOB):
        pay(ctx, user_id, now=now)
    with capture_logs() as logs:
        summary = service.remove_due(ctx, due, now=now)
    assert (summary.paid_meanwhile, summary.expired) == (2, 0)
    assert [(line["user_id"], line["access_id"])
            for line in lines(logs, "sweep_skip_no_longer_due")] == [
        (row.user_id, row.access_id) for row in due]


def test_rows_paid_during_their_removal_are_each_invited_back_once(ctx: Pipeline) -> None:
    """Paid while Telegram was asked: each member removed gets a grant and an entry with the
    new paid-through at the run's time; someone who was never removed gets neither."""
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now - HOUR)
    subscriber(ctx, BOB, paid_through=now - HOUR)
    subscriber(ctx, CAT, paid_through=now - HOUR, member=False)
    ask = ctx.telegram.get_chat_member

    def paying_while_asked(**kwargs: Any) -> Any:
        pay(ctx, kwargs["user_id"], now=now)
        return ask(**kwargs)

    ctx.telegram.get_chat_member = paying_while_asked
    with capture_logs() as logs:
        summary = service.remove_due(ctx, due_now(ctx, now), now=now)

    assert (summary.paid_meanwhile, summary.removed, summary.expired) == (3, 0, 0)
    with ctx.sessions() as session:
        grants = session.scalars(select(TelegramEffect).where(
            TelegramEffect.method == "grantAccess").order_by(TelegramEffect.id)).all()
    assert [effect_id for effect_id, _ in summary.effects] == [g.id for g in grants]
    assert [(g.chat_id, json.loads(g.request or "{}")) for g in grants] == [
        (user_id, {"user_id": user_id, "chat_id": CHANNEL,
                   "access_id": access_of(ctx, user_id).id}) for user_id in (ANN, BOB)]
    for user_id in (ANN, BOB):
        [entry] = entries(ctx, user_id, "sweep_removed_paid_meanwhile")
        assert (entry.chat_id, entry.source, entry.created_at) == (CHANNEL, "sweep", now)
        assert entry.paid_through_after == access_of(ctx, user_id).paid_through
    assert entries(ctx, CAT, "sweep_removed_paid_meanwhile") == []
    assert [line["user_id"] for line in lines(logs, "sweep_removed_paid_meanwhile")] == [
        ANN, BOB]


# What a kept admin and an expiry leave behind -------------------------------------------------

def test_a_kept_administrator_and_a_removal_are_logged_with_their_row(ctx: Pipeline) -> None:
    """The channel's creator is kept with a log line naming their standing; a removed member's
    line says removed and the paid-through; both carry the user and the access row."""
    now = datetime.now(UTC)
    paid_through = now - HOUR
    subscriber(ctx, ANN, paid_through=paid_through)
    subscriber(ctx, BOB, paid_through=paid_through)
    ctx.telegram.staff[BOB] = "creator"
    with capture_logs() as logs:
        service.expire_subscriptions(ctx, now=now)
    [kept] = lines(logs, "sweep_kept_protected")
    assert (kept["user_id"], kept["access_id"], kept["standing"]) == (
        BOB, access_of(ctx, BOB).id, "creator")
    [expired] = lines(logs, "sweep_expired")
    assert expired == {**expired, "user_id": ANN, "access_id": access_of(ctx, ANN).id,
                       "removed": True, "paid_through": paid_through.isoformat()}


def test_the_expiry_message_is_a_bulk_message(ctx: Pipeline) -> None:
    """The "your access ended" notes of a run are a wave: they yield to messages awaited now."""
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now - HOUR)
    summary = service.expire_subscriptions(ctx, now=now)
    assert [method for _, method in summary.effects] == [SEND_BULK_MESSAGE]
    with ctx.sessions() as session:
        assert session.scalars(select(TelegramEffect.method)).all() == [SEND_BULK_MESSAGE]


# Dry run --------------------------------------------------------------------------------------

@pytest.fixture
def dry(db_url: str, engine: Any,
        session_factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    """A dry-run pipeline whose breaker holds more than one removal."""
    ctx = sweep_pipeline(db_url, engine, session_factory, sweep_dry_run=True,
                         sweep_max_removals=1)
    with use_context(ctx):
        yield ctx


def test_a_dry_run_names_admins_and_the_hold_it_would_make(dry: Pipeline) -> None:
    """Each would-be expiry says whether it is an admin's; a run the breaker would stop says
    so with the figures the hold would carry."""
    now = datetime.now(UTC)
    for user_id in (ADMIN, ANN, CAT):
        subscriber(dry, user_id, paid_through=now - HOUR)
    subscriber(dry, BOB, paid_through=now + HOUR)
    with capture_logs() as logs:
        summary = service.expire_subscriptions(dry, now=now)
    assert summary.dry_run and summary.hold_id is None
    assert sorted((line["user_id"], line["admin"])
                  for line in lines(logs, "sweep_dry_run_would_expire")) == [
        (ADMIN, True), (ANN, False), (CAT, False)]
    [hold] = lines(logs, "sweep_dry_run_would_hold")
    assert (hold["due"], hold["members"], hold["reason"]) == (
        2, 4, "more than 1 removals in one run")


def test_a_dry_run_the_breaker_lets_through_says_nothing_of_a_hold(dry: Pipeline) -> None:
    """One removable and an admin due, one removal allowed: no would-hold line."""
    for user_id in (ADMIN, ANN):
        subscriber(dry, user_id, paid_through=datetime.now(UTC) - HOUR)
    with capture_logs() as logs:
        service.expire_subscriptions(dry, now=datetime.now(UTC))
    assert len(lines(logs, "sweep_dry_run_would_expire")) == 2
    assert lines(logs, "sweep_dry_run_would_hold") == []


# The confirmation's totals --------------------------------------------------------------------

def test_the_confirmation_counts_only_what_it_did(ctx: Pipeline) -> None:
    """A removal by an earlier run is not the confirmation's; none removed reads "0 removed"."""
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now - 5 * HOUR)
    assert service.expire_subscriptions(ctx, now=now - 2 * HOUR).removed == 1
    ctx.settings = ctx.settings.model_copy(update={"sweep_max_removals": 0})
    subscriber(ctx, BOB, paid_through=now - HOUR, member=False)
    assert service.expire_subscriptions(ctx, now=now).hold_id is not None
    confirmation = service.confirm_hold(ctx, admin_id=ADMIN, now=now + HOUR)
    assert confirmation.summary is not None and confirmation.summary.expired == 1
    with ctx.sessions() as session:
        [report] = session.scalars(select(TelegramEffect.request)
                                   .where(TelegramEffect.key.startswith("sweep_confirmed:")))
    text = json.loads(report or "{}")["text"]
    assert "0 removed from the channel, 1 marked expired in all" in text


def test_due_rows_of_the_same_paid_through_come_in_id_order(ctx: Pipeline) -> None:
    """Ties on paid-through are broken by id, the keyset's second key: a page of one is the
    lower id, and the page after it the higher, whatever order the rows were stored in."""
    paid_through = datetime.now(UTC) - HOUR
    for access_id, user_id in ((902, BOB), (901, ANN)):  # stored higher id first
        add_user(ctx.sessions, user_id)
        with ctx.sessions.begin() as session:
            session.add(Access(id=access_id, user_id=user_id, chat_id=CHANNEL,
                               paid_through=paid_through, status="active", is_trial=False,
                               created_at=paid_through, updated_at=paid_through))
    with ctx.sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            # The plan of a large table: read in storage order, then sorted.
            for setting in ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan"):
                session.execute(text(f"SET LOCAL {setting} = off"))
        walked = [row.access_id for row in service.due_access(session, chat_id=CHANNEL,
                                                              cutoff=datetime.now(UTC))]
        first = service.due_access(session, chat_id=CHANNEL, cutoff=datetime.now(UTC),
                                   limit=1)
        after = service.due_access(session, chat_id=CHANNEL, cutoff=datetime.now(UTC),
                                   after=(paid_through, first[0].access_id), limit=1)
    assert (walked, [row.access_id for row in first + after]) == ([901, 902], [901, 902])
