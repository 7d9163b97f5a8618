"""/stats in the worker: the report read from a real database, and the admin task around it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiogram.methods import SendMessage, SendPhoto
from aiogram.types import BufferedInputFile
from celery.exceptions import SoftTimeLimitExceeded
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from infra.celery_config import MAX_COUNTDOWN, RETRY_BACKOFF_MAX, VISIBILITY_TIMEOUT
from infra.telegram import TelegramTransient
from models.domain import stats
from models.schema import (
    AccessHistory,
    CommissionEntry,
    Invoice,
    PayoutRequest,
    Plan,
    Referrer,
    User,
)
from tests.models.domain.stats_model import (
    BASE,
    HOUR,
    PLANS,
    World,
    as_of_hours,
    cents,
    expected_access,
    expected_commissions,
    expected_revenue,
    worlds,
)
from tests.workers.harness import Pipeline, add_user, make_pipeline
from workers.context import use_context
from workers.stats import service
from workers.stats import tasks as stats_tasks

ADMIN, STRANGER, ANN = 100, 702, 8001
CHAT = -1001000000001
# Each example of the property test lives this much further in the past than the one before:
# a report as of a moment reads only what was recorded before it, so earlier examples' rows
# (all later in time) are invisible to it, and one database serves every example.
ERA = timedelta(days=1000)
USERS_PER_ERA = 100


@pytest.fixture
def plans(session_factory: sessionmaker[Session]) -> dict[str, int]:
    """The model's plans in the database: code -> id."""
    with session_factory.begin() as session:
        rows = [Plan(code=code, title=code, days=days, price_usd=price)
                for code, (price, days) in PLANS.items()]
        session.add_all(rows)
        session.flush()
        return {row.code: row.id for row in rows}


def write(session: Session, world: World, *, shift: timedelta, users: int,
          plans: dict[str, int]) -> None:
    """The world's history and ledger as the engine writes them, moved by `shift`, with noise
    the report must ignore (lines without time, invoices never activated)."""
    referrer = users + USERS_PER_ERA - 1
    session.add(User(id=referrer, first_name="referrer", created_at=BASE + shift))
    session.flush()
    session.add(Referrer(user_id=referrer, pct=Decimal(10), created_at=BASE + shift,
                         updated_at=BASE + shift))
    session.flush()
    known: set[int] = set()
    for number, line in enumerate(world.lines):
        at, user_id = line.at + shift, users + line.user_id
        if user_id not in known:
            session.add(User(id=user_id, first_name=f"user{user_id}", created_at=at))
            session.flush()
            known.add(user_id)
        invoice_id = None
        if line.action == "payment_activated":
            assert line.plan is not None and line.paid is not None
            invoice = Invoice(order_id=f"{shift.days}-{number}", user_id=user_id,
                              plan_id=plans[line.plan], amount_usd=PLANS[line.plan][0],
                              status="paid", paid_usd=line.paid, activated_at=at, created_at=at)
            session.add(invoice)
            session.flush()
            invoice_id = invoice.id
            if line.commission is not None:
                session.add(CommissionEntry(referrer_id=referrer, kind="credit",
                                            amount=line.commission, invoice_id=invoice.id,
                                            created_at=at))
            # Money that arrived short and never activated anything is not revenue.
            session.add(Invoice(order_id=f"{shift.days}-{number}-part", user_id=user_id,
                                plan_id=plans[line.plan], amount_usd=PLANS[line.plan][0],
                                status="partial", paid_usd=Decimal("1.00"), created_at=at))
        session.add(AccessHistory(
            user_id=user_id, chat_id=CHAT, action=line.action, source="admin", created_at=at,
            invoice_id=invoice_id, paid_through_after=(
                None if line.through is None else BASE + line.through * HOUR + shift)))
        session.add(AccessHistory(user_id=user_id, chat_id=CHAT, action="invite_sent",
                                  source="system", created_at=at))
    for number, payout in enumerate(world.payouts):
        at = BASE + payout.hour * HOUR + shift
        request = PayoutRequest(referrer_id=referrer, amount=payout.amount, network="TRC20",
                                wallet=f"T{number}", status="approved", created_at=at,
                                decided_at=at, decided_by=ADMIN)
        session.add(request)
        session.flush()
        session.add(CommissionEntry(referrer_id=referrer, kind="debit", amount=payout.amount,
                                    payout_request_id=request.id, created_at=at))


def test_the_report_matches_a_replay_of_a_random_history(
        session_factory: sessionmaker[Session], plans: dict[str, int]) -> None:
    """Subscribers, MRR, churn, conversion, revenue and commissions as a plain replay says."""
    eras = itertools.count(1)

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(world=worlds(), data=st.data())
    def check(world: World, data: st.DataObject) -> None:
        as_of_hour = data.draw(as_of_hours(world), label="as_of_hour")
        era = next(eras)
        shift = -era * ERA
        with session_factory.begin() as session:
            write(session, world, shift=shift, users=era * USERS_PER_ERA, plans=plans)
        as_of = BASE + as_of_hour * HOUR + shift
        with session_factory() as session:
            report = service.report(session, as_of=as_of)

        checkpoints = [int((stats.checkpoint(day, as_of=as_of) - shift - BASE) / HOUR)
                       for day in report.days]
        want = expected_access(world, as_of_hour=as_of_hour, checkpoints=checkpoints)
        figures = report.access
        assert (figures.active, figures.paying, figures.trialing, figures.mrr) == (
            want.active, want.paying, want.trialing, cents(want.mrr))
        assert {w.days: (w.new, w.churned) for w in figures.windows} == {
            d: (want.new[d], want.churned[d]) for d in (7, 30)}  # type: ignore[index]
        assert (figures.conversion_all.trials, figures.conversion_all.converted,
                figures.conversion_recent.trials, figures.conversion_recent.converted) == (
            want.trials, want.converted, want.recent_trials, want.recent_converted)
        assert list(figures.active_per_day) == want.per_day
        per_day, recent, every = expected_revenue(
            world, as_of_hour=as_of_hour, days=[day - shift for day in report.days])
        assert list(report.revenue_per_day) == per_day
        assert {r.plan: (r.invoices, r.amount) for r in report.revenue_recent} == recent
        assert {r.plan: (r.invoices, r.amount) for r in report.revenue_all} == every
        assert (report.commissions_owed, report.commissions_paid) == expected_commissions(
            world, as_of_hour=as_of_hour)

    check()


# The admin task ------------------------------------------------------------------------------

@pytest.fixture
def ctx(db_url: str, engine: Any, session_factory: sessionmaker[Session],
        plans: dict[str, int]) -> Iterator[Pipeline]:
    """A worker pipeline whose only admin is ADMIN; ANN paid a month yesterday."""
    add_user(session_factory, ANN)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    with session_factory.begin() as session:
        invoice = Invoice(order_id="o1", user_id=ANN, plan_id=plans["month"],
                          amount_usd=Decimal("10.00"), status="paid", paid_usd=Decimal("10.00"),
                          activated_at=yesterday, created_at=yesterday)
        session.add(invoice)
        session.flush()
        session.add(AccessHistory(user_id=ANN, chat_id=CHAT, action="payment_activated",
                                  source="payment", invoice_id=invoice.id, created_at=yesterday,
                                  paid_through_after=yesterday + timedelta(days=30)))
    pipeline = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine,
                             admin_ids=str(ADMIN))
    with use_context(pipeline):
        yield pipeline


def command(actor: int = ADMIN, text: str = "/stats") -> dict[str, Any]:
    return {"actor_id": actor, "text": text, "request_key": f"{actor}:7"}


def audit_rows(ctx: Pipeline) -> list[tuple[str, int | None]]:
    with ctx.sessions() as session:
        return [(row.action, row.actor_id) for row in session.scalars(
            select(AccessHistory).where(AccessHistory.action.in_(
                ["admin_stats", "admin_refused"])))]


def test_the_admin_gets_the_chart_then_the_figures(ctx: Pipeline) -> None:
    """One PNG photo, then the figures as text, both in the admin's chat; the run is audited."""
    ctx.send(task_names.ADMIN_STATS, command(), None)
    ctx.drain()

    photo, figures = ctx.telegram.calls
    assert isinstance(photo, SendPhoto) and photo.chat_id == ADMIN
    assert isinstance(photo.photo, BufferedInputFile)
    assert photo.photo.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert isinstance(figures, SendMessage) and figures.chat_id == ADMIN
    assert "Subscribers: 1 active (1 paying, 0 on granted time), 0 trialing" in figures.text
    assert "MRR: $10.00" in figures.text
    assert "  month: $10.00 (1) | $10.00 (1)" in figures.text
    assert audit_rows(ctx) == [("admin_stats", ADMIN)]


def test_a_past_day_reports_what_was_known_then(ctx: Pipeline) -> None:
    """/stats for the day before the payment: nobody active, no revenue."""
    day = (datetime.now(UTC) - timedelta(days=3)).date()
    ctx.send(task_names.ADMIN_STATS, command(text=f"/stats {day}"), day.isoformat())
    ctx.drain()
    figures = ctx.telegram.calls_of("sendMessage")[0].text
    assert figures.startswith(f"Stats as of {day + timedelta(days=1)} 00:00 UTC")
    assert "Subscribers: 0 active" in figures
    assert "no paid invoices yet" in figures


def test_a_forged_task_from_a_non_admin_sends_nothing_and_is_recorded(ctx: Pipeline) -> None:
    """Anything that can publish is not an admin: the task re-checks ADMIN_IDS and refuses."""
    ctx.send(task_names.ADMIN_STATS, command(actor=STRANGER), None)
    ctx.drain()
    assert ctx.telegram.calls == []
    assert audit_rows(ctx) == [("admin_refused", STRANGER)]


@pytest.mark.parametrize(("day", "told"), [
    ("2999-01-01", lambda today: texts.stats_future_date(word="2999-01-01", today=today)),
    ("2026-02-30", lambda today: texts.stats_invalid_date(
        word="2026-02-30", error="day is out of range for month")),
])
def test_a_bad_day_that_got_past_the_bot_is_told(ctx: Pipeline, day: str,
                                                 told: Callable[[str], str]) -> None:
    """A date the bot would have refused still gets a precise message, and no report."""
    ctx.send(task_names.ADMIN_STATS, command(text=f"/stats {day}"), day)
    ctx.drain()
    (reply,) = ctx.telegram.calls
    assert isinstance(reply, SendMessage)
    assert reply.text == told(datetime.now(UTC).date().isoformat())


def test_a_flood_wait_on_the_figures_does_not_send_the_chart_twice(ctx: Pipeline) -> None:
    """The retry pins the moment and knows the chart went out: one photo, figures once sent."""
    ctx.telegram.fail_next("sendMessage", TelegramTransient(description="flood", retry_after=1))
    ctx.send(task_names.ADMIN_STATS, command(), None)
    ctx.drain()
    assert len(ctx.telegram.calls_of("sendPhoto")) == 1
    first, second = ctx.telegram.calls_of("sendMessage")
    assert first.text == second.text  # the same moment, the same figures


def test_a_report_cut_short_by_its_time_limit_is_told(ctx: Pipeline,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The soft time limit stops a report over a huge history: the admin hears why."""
    def too_slow(session: Session, *, as_of: datetime) -> None:
        raise SoftTimeLimitExceeded

    monkeypatch.setattr(service, "report", too_slow)
    ctx.send(task_names.ADMIN_STATS, command(), None)
    ctx.drain()
    (reply,) = ctx.telegram.calls
    assert isinstance(reply, SendMessage) and reply.text == texts.STATS_TOO_SLOW


def test_the_report_may_run_longer_than_other_tasks_but_within_the_visibility_timeout() -> None:
    """A retry's longest wait plus the report's hard limit never outlasts the visibility timeout,
    or Redis would hand the same report to a second worker."""
    assert stats_tasks.SOFT_TIME_LIMIT < stats_tasks.TIME_LIMIT
    assert MAX_COUNTDOWN + stats_tasks.TIME_LIMIT < VISIBILITY_TIMEOUT
    assert RETRY_BACKOFF_MAX + stats_tasks.TIME_LIMIT < VISIBILITY_TIMEOUT
