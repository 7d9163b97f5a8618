"""Plan switches through the task pipeline on a real database (SQLite and PostgreSQL): a
downgrade at once, an upgrade paid through the ordinary settle path, each exactly once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from infra.migrate import seed_plans
from infra.settings import load_settings
from models import switches
from models.domain import stats
from models.schema import (
    Access,
    AccessHistory,
    CommissionEntry,
    Invoice,
    Plan,
    PlanChat,
    Referral,
    Referrer,
    TelegramEffect,
)
from tests.workers.harness import Pipeline, add_user, make_pipeline
from tests.workers.payments.conftest import count, poll_sees, report, texts_to
from workers.context import use_context
from workers.stats.service import access_changes
from workers.switches import service

SUBSCRIBER, REFERRER = 5301, 5302
PLANS = "month:30:10.00:1 month,week:7:3.00:1 week,year:365:100.00:1 year"


@pytest.fixture
def ctx(db_url: str, engine: Any, session_factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    """Three plans on sale and a subscriber with 15 days and 1 hour left of the month plan."""
    with session_factory.begin() as session:
        seed_plans(session, load_settings(_env_file=None, plans=PLANS))
    add_user(session_factory, SUBSCRIBER)
    pipeline = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine, plans=PLANS)
    with use_context(pipeline):
        pipeline.send(task_names.CHECKOUT, SUBSCRIBER, "month", "buy")
        pipeline.drain()
        report(pipeline, last_invoice(pipeline), "paid")
        pipeline.drain()
        set_left(pipeline, timedelta(days=15, hours=1))
        yield pipeline


def set_left(ctx: Pipeline, left: timedelta) -> None:
    with ctx.sessions.begin() as session:
        row = session.scalars(select(Access).where(Access.user_id == SUBSCRIBER)).one()
        row.paid_through = datetime.now(UTC) + left


def access(ctx: Pipeline, chat_id: int | None = None) -> Access:
    with ctx.sessions() as session:
        return session.scalars(select(Access).where(
            Access.user_id == SUBSCRIBER,
            Access.chat_id == (chat_id or ctx.settings.channel))).one()


def plan_id(ctx: Pipeline, code: str) -> int:
    with ctx.sessions() as session:
        return session.scalars(select(Plan.id).where(Plan.code == code)).one()


def last_invoice(ctx: Pipeline) -> Invoice:
    with ctx.sessions() as session:
        return session.scalars(select(Invoice).order_by(Invoice.id.desc())).first()  # type: ignore[return-value]


def switched(ctx: Pipeline) -> list[AccessHistory]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AccessHistory).where(
            AccessHistory.action == "plan_switched").order_by(AccessHistory.id)))


def confirm(ctx: Pipeline, code: str, key: str, stamp: int | None = None) -> None:
    stamp = access(ctx).version if stamp is None else stamp
    ctx.send(task_names.SWITCH_PLAN, SUBSCRIBER, code, stamp, key)
    ctx.drain()


def test_a_downgrade_converts_the_unused_value_at_once(ctx: Pipeline) -> None:
    """$5.01 of month time becomes 11 days 16 h and a bit of the weekly plan, no invoice."""
    invoices = count(ctx, Invoice)
    confirm(ctx, "week", "k1")
    row = access(ctx)
    expected = datetime.now(UTC) + timedelta(days=15, hours=1) * 10 / 30 * 7 / 3
    assert row.plan_id == plan_id(ctx, "week")
    assert row.paid_through is not None
    assert abs(row.paid_through - expected) < timedelta(seconds=10)
    assert count(ctx, Invoice) == invoices
    [entry] = switched(ctx)
    assert json.loads(entry.details or "{}")["from_plan"] == "month"
    assert json.loads(entry.details or "{}")["to_plan"] == "week"
    assert texts_to(ctx, SUBSCRIBER)[-1] == texts.plan_switched(
        current="1 month", new="1 week", paid_through=row.paid_through)


def test_a_second_press_and_a_redelivery_apply_a_downgrade_once(ctx: Pipeline) -> None:
    """The same request twice answers once; a second press finds the user on the plan."""
    stamp = access(ctx).version
    confirm(ctx, "week", "k1", stamp)
    confirm(ctx, "week", "k1", stamp)
    confirm(ctx, "week", "k2", stamp)
    assert len(switched(ctx)) == 1
    assert texts_to(ctx, SUBSCRIBER)[-1] == texts.SWITCH_SAME_PLAN
    assert count(ctx, TelegramEffect, TelegramEffect.key.like("switch_reply:k1")) == 1


def test_an_upgrade_is_paid_through_the_ordinary_pipeline_once(ctx: Pipeline) -> None:
    """The difference is invoiced; paying it (reported twice) switches once, with the
    referrer's commission on the amount paid."""
    now = datetime.now(UTC)
    add_user(ctx.sessions, REFERRER)
    with ctx.sessions.begin() as session:
        session.add(Referrer(user_id=REFERRER, pct=Decimal(10), created_at=now, updated_at=now))
        session.add(Referral(referred_user_id=SUBSCRIBER, referrer_id=REFERRER, created_at=now))
    confirm(ctx, "year", "k1")
    invoice = last_invoice(ctx)
    assert (invoice.amount_usd, invoice.switch_credit_usd) == (Decimal("94.99"), Decimal("5.01"))
    assert invoice.switch_from_plan_id == plan_id(ctx, "month")
    assert texts_to(ctx, SUBSCRIBER)[-1].startswith(texts.switch_pay_invoice(
        current="1 month", new="1 year", amount=Decimal("94.99"), credit=Decimal("5.01"),
        expires_at=None))
    assert access(ctx).plan_id == plan_id(ctx, "month")  # nothing changes before payment
    report(ctx, invoice, "paid")
    report(ctx, invoice, "paid")
    ctx.drain()
    row = access(ctx)
    assert row.plan_id == plan_id(ctx, "year")
    assert row.paid_through is not None
    assert timedelta(days=365) <= row.paid_through - datetime.now(UTC) < timedelta(days=366)
    [entry] = switched(ctx)
    assert entry.invoice_id == invoice.id
    with ctx.sessions() as session:
        credits = session.scalars(select(CommissionEntry.amount)
                                  .where(CommissionEntry.invoice_id == invoice.id)).all()
    assert credits == [Decimal("9.50")]
    assert texts.plan_switched(current="1 month", new="1 year", paid_through=row.paid_through,
                               paid=Decimal("94.99")) in texts_to(ctx, SUBSCRIBER)


def test_a_second_upgrade_press_reuses_the_invoice(ctx: Pipeline) -> None:
    """Confirming the same upgrade again sends the same invoice's link: one invoice."""
    confirm(ctx, "year", "k1")
    first = last_invoice(ctx)
    confirm(ctx, "year", "k2")
    assert last_invoice(ctx).id == first.id
    assert count(ctx, Invoice, Invoice.switch_from_plan_id.is_not(None)) == 1


def test_another_switch_while_one_waits_for_payment_is_refused(ctx: Pipeline) -> None:
    """With an upgrade invoice open, a switch to another plan is refused with its pay link."""
    confirm(ctx, "year", "k1")
    confirm(ctx, "week", "k2")
    assert texts_to(ctx, SUBSCRIBER)[-1] == texts.SWITCH_PENDING
    assert access(ctx).plan_id == plan_id(ctx, "month")


def test_an_expired_switch_invoice_is_told_and_changes_nothing(ctx: Pipeline) -> None:
    """CryptoCloud cancels the unpaid switch invoice: the subscriber learns it, keeps the plan."""
    confirm(ctx, "year", "k1")
    poll_sees(ctx, last_invoice(ctx), "canceled")
    assert texts_to(ctx, SUBSCRIBER)[-1] == texts.SWITCH_INVOICE_EXPIRED
    assert access(ctx).plan_id == plan_id(ctx, "month")
    assert switched(ctx) == []


def test_an_ordinary_checkout_never_reuses_a_switch_invoice(ctx: Pipeline) -> None:
    """Buying the year plan outright while a switch to it is open invoices its full price."""
    confirm(ctx, "year", "k1")
    ctx.send(task_names.CHECKOUT, SUBSCRIBER, "year", "buy-year")
    ctx.drain()
    assert last_invoice(ctx).amount_usd == Decimal("100.00")


@pytest.mark.parametrize(("case", "text"), [
    ("gone", texts.SWITCH_PLAN_GONE),
    ("trial", texts.SWITCH_NOTHING),
    ("same", texts.SWITCH_SAME_PLAN),
    ("stale", texts.SWITCH_QUOTE_CHANGED),
])
def test_refusals_reach_the_subscriber(ctx: Pipeline, case: str, text: str) -> None:
    """Plan off sale, nothing to switch, same plan, quote out of date: a precise answer each,
    a history row, and no change."""
    stamp = access(ctx).version
    if case == "gone":
        week_id = plan_id(ctx, "week")
        with ctx.sessions.begin() as session:
            session.get_one(Plan, week_id).active = False
    if case == "trial":
        with ctx.sessions.begin() as session:
            session.scalars(select(Access)).one().plan_id = None
    if case == "stale":
        set_left(ctx, timedelta(days=20))
    confirm(ctx, "month" if case == "same" else "week", "k1", stamp)
    assert texts_to(ctx, SUBSCRIBER)[-1] == text
    assert switched(ctx) == []
    assert count(ctx, AccessHistory, AccessHistory.action == "switch_refused") == 1


def test_the_chat_sets_of_both_plans_are_honoured(ctx: Pipeline) -> None:
    """Chats both plans grant carry the new end; the new plan's others are granted it with an
    invite; the old plan's others end now."""
    shared, old_only, new_only = ctx.settings.channel, -100777, -100888
    month_id, week_id = plan_id(ctx, "month"), plan_id(ctx, "week")
    with ctx.sessions.begin() as session:
        session.add(PlanChat(plan_id=month_id, chat_id=old_only))
        session.add(PlanChat(plan_id=week_id, chat_id=new_only))
        month = session.get_one(Plan, month_id)
        week = session.get_one(Plan, week_id)
        now = datetime.now(UTC)
        after, effects = service.apply(session, user_id=SUBSCRIBER, from_plan=month,
                                       to_plan=week, paid=Decimal("0.00"), now=now, key="t")
    assert access(ctx, shared).paid_through == after == access(ctx, new_only).paid_through
    assert access(ctx, new_only).plan_id == week_id
    ended = access(ctx, old_only)
    assert (ended.paid_through, ended.status) == (now, "grace")
    assert len(effects) == 1
    with ctx.sessions() as session:
        grant = session.get_one(TelegramEffect, effects[0][0])
    assert json.loads(grant.request or "{}")["chat_id"] == new_only


def test_stats_count_switched_time_as_paid_at_the_new_plans_rate(ctx: Pipeline) -> None:
    """/stats reads a switch as paid time at the new plan's price per 30 days, not a grant."""
    confirm(ctx, "week", "k1")
    with ctx.sessions() as session:
        changes = list(access_changes(session, as_of=datetime.now(UTC) + timedelta(seconds=1)))
    assert (changes[-1].change, changes[-1].monthly) == (stats.Change.PAYMENT,
                                                         Fraction(3 * 30, 7))


@pytest.mark.parametrize("code", ["week", "year"])
def test_the_quote_the_bot_shows_is_what_applying_it_then_does(ctx: Pipeline, code: str) -> None:
    """Quoted and applied at the same moment with the quoted payment: the same new end."""
    now = datetime.now(UTC)
    month_id, new_id = plan_id(ctx, "month"), plan_id(ctx, code)
    with ctx.sessions() as session:
        quote, _ = switches.quote_for(session, user_id=SUBSCRIBER, plan_code=code, now=now)
    with ctx.sessions.begin() as session:
        after, _ = service.apply(
            session, user_id=SUBSCRIBER, from_plan=session.get_one(Plan, month_id),
            to_plan=session.get_one(Plan, new_id), paid=quote.pay_usd, now=now, key="t")
    assert after == quote.paid_through_after
