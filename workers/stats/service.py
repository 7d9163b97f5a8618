"""The /stats use case: read the history and the ledger as of a moment, hand them to the rules.

The arithmetic is `models.domain.stats`; this module only asks the database, in ways that
stay flat at a million subscribers: the access history streams through in pages (a server-side
cursor on PostgreSQL) in the order of its (user_id, created_at) index, and revenue and
commissions are summed by the database. Nothing here writes except the audit row. The chart
and the figures go to the admin directly (like the CSV exports): a report is read-only, so a
retry that sends it again costs a message, never a wrong figure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import Date, Select, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from infra import texts
from infra.logging import get_logger
from models.domain import stats
from models.domain.money import ZERO
from models.schema import AccessHistory, CommissionEntry, Invoice, Plan
from workers.admin.service import Command, audit, authorized
from workers.context import WorkerContext

log = get_logger("workers.stats")

# Rows per page of the history stream: big enough to amortise round trips, small in memory.
PAGE = 10_000


class utc_date(FunctionElement[date]):
    """The UTC calendar day of a stored timestamp, computed by the database."""

    type = Date()
    inherit_cache = True


@compiles(utc_date, "postgresql")
def _utc_date_postgresql(element: utc_date, compiler: Any, **kw: Any) -> str:
    return f"CAST(timezone('UTC', {compiler.process(element.clauses, **kw)}) AS DATE)"


@compiles(utc_date, "sqlite")
def _utc_date_sqlite(element: utc_date, compiler: Any, **kw: Any) -> str:
    # SQLite stores our timestamps as UTC text (models.types.UTCDateTime).
    return f"date({compiler.process(element.clauses, **kw)})"


def report(session: Session, *, as_of: datetime) -> stats.Report:
    """Every figure of /stats as of `as_of` (see models.domain.stats for the convention)."""
    days = stats.chart_days(as_of)
    figures = stats.access_figures(access_changes(session, as_of=as_of), as_of=as_of,
                                   days=days)
    first_day = stats.midnight(days[0])
    window = as_of - stats.RECENT_DAYS * stats.DAY
    owed, paid = _commissions(session, as_of=as_of)
    return stats.Report(
        as_of=as_of, access=figures, days=days,
        revenue_per_day=stats.revenue_series(_revenue_per_day(session, since=first_day,
                                                              as_of=as_of), days),
        revenue_recent=stats.by_plan(_revenue_by_plan(session, since=window, as_of=as_of)),
        revenue_all=stats.by_plan(_revenue_by_plan(session, since=None, as_of=as_of)),
        commissions_owed=owed, commissions_paid=paid,
    )


def access_changes(session: Session, *, as_of: datetime) -> Iterator[stats.AccessChange]:
    """Every line that set someone's paid-through time before `as_of`, by user, oldest first.

    A payment line carries its invoice's price per 30 days: the invoice amount is the price
    the subscriber was asked (kept on the invoice, so a later price change does not rewrite
    the past); the days are the plan's. A plan switch's line carries the price per 30 days of
    the plan switched to, as its history recorded it: the time is paid time, paid or not.
    """
    statement = (
        select(AccessHistory.user_id, AccessHistory.created_at, AccessHistory.action,
               AccessHistory.paid_through_after, Invoice.amount_usd, Plan.days,
               AccessHistory.details)
        .outerjoin(Invoice, (Invoice.id == AccessHistory.invoice_id)
                   & (AccessHistory.action == stats.PAYMENT_ACTION))
        .outerjoin(Plan, Plan.id == Invoice.plan_id)
        .where(AccessHistory.created_at < as_of,
               or_(AccessHistory.paid_through_after.is_not(None),
                   AccessHistory.action == stats.RESET_ACTION))
        .order_by(AccessHistory.user_id, AccessHistory.created_at, AccessHistory.id)
        .execution_options(yield_per=PAGE)
    )
    rates: dict[tuple[Decimal, int], Fraction] = {}
    for user_id, at, action, paid_through, amount, plan_days, details in session.execute(
            statement):
        change = stats.classify(action)
        monthly = Fraction(0)
        if action == stats.SWITCH_ACTION:
            terms = json.loads(details or "{}")
            monthly = stats.monthly_rate(price_usd=Decimal(terms["to_price_usd"]),
                                         plan_days=int(terms["to_days"]))
        elif change is stats.Change.PAYMENT and amount is not None:
            key = (amount, plan_days)
            if key not in rates:
                rates[key] = stats.monthly_rate(price_usd=amount, plan_days=plan_days)
            monthly = rates[key]
        yield stats.AccessChange(user_id=user_id, at=at, change=change,
                                 paid_through=paid_through, monthly=monthly)


def _received() -> Any:
    # What the invoice brought in (an overpayment counts in full); the invoiced amount if a
    # manual settlement left no received amount.
    return func.coalesce(Invoice.paid_usd, Invoice.amount_usd)


def _paid_invoices(statement: Select[Any], *, since: datetime | None,
                   as_of: datetime) -> Select[Any]:
    statement = statement.where(Invoice.activated_at.is_not(None),
                                Invoice.activated_at < as_of)
    return statement if since is None else statement.where(Invoice.activated_at >= since)


def _revenue_per_day(session: Session, *, since: datetime,
                     as_of: datetime) -> list[tuple[date, Decimal]]:
    day = utc_date(Invoice.activated_at)
    statement = _paid_invoices(select(day, func.sum(_received())), since=since, as_of=as_of)
    return [(found, amount) for found, amount in session.execute(statement.group_by(day))]


def _revenue_by_plan(session: Session, *, since: datetime | None,
                     as_of: datetime) -> list[tuple[str, int, Decimal]]:
    statement = _paid_invoices(
        select(Plan.code, func.count(Invoice.id), func.sum(_received()))
        .join(Plan, Plan.id == Invoice.plan_id),
        since=since, as_of=as_of)
    return [(code, count, amount)
            for code, count, amount in session.execute(statement.group_by(Plan.code))]


def _commissions(session: Session, *, as_of: datetime) -> tuple[Decimal, Decimal]:
    """(owed, paid out): credits less debits, and the debits, recorded before `as_of`."""
    sums: dict[str, Decimal] = {kind: amount for kind, amount in session.execute(
        select(CommissionEntry.kind, func.sum(CommissionEntry.amount))
        .where(CommissionEntry.created_at < as_of)
        .group_by(CommissionEntry.kind))}
    credits, debits = sums.get("credit") or ZERO, sums.get("debit") or ZERO
    return credits - debits, debits


# The admin's /stats, end to end -------------------------------------------------------------

STATS_ACTION = "admin_stats"


@dataclass(frozen=True, kw_only=True)
class Built:
    """A report ready to send: its moment, the figures as text, the chart as PNG."""

    as_of: datetime
    text: str
    chart: bytes
    caption: str


def resolve_as_of(*, day: str | None, pinned: str | None, now: datetime) -> datetime:
    """The moment to report on: a retry's pinned one, the end of `day`, or now.

    Raises BadStatsDate for a day after today and ValueError for one that is not a date (the
    bot checks both first; a task from elsewhere is not trusted to have).
    """
    if pinned is not None:
        return datetime.fromisoformat(pinned)
    if day is None:
        return now
    return stats.as_of_date(date.fromisoformat(day), now=now)


def build(ctx: WorkerContext, *, command: Command, day: str | None, pinned: str | None,
          now: datetime) -> Built | None:
    """Check the admin, compute the report and draw the chart; None if there is nothing to send.

    A refused date is told to the admin here. The report is read in a transaction of its own,
    after the audit row committed: on PostgreSQL a long read blocks nobody (on SQLite, where
    every transaction takes the write lock, writers wait for it; SQLite is for small engines).
    """
    with ctx.sessions.begin() as session:
        if not authorized(session, command=command, admins=ctx.settings.admins, action="stats",
                          now=now):
            log.warning("admin_task_refused", actor_id=command.actor_id, command=command.text)
            return None
        audit(session, command=command, user_id=command.actor_id, action=STATS_ACTION, now=now)
    try:
        as_of = resolve_as_of(day=day, pinned=pinned, now=now)
    except stats.BadStatsDate as refused:
        ctx.telegram.send_message(chat_id=command.actor_id, text=texts.stats_future_date(
            word=str(day), today=now.date().isoformat()))
        log.warning("admin_stats_date_refused", reason=refused.reason, day=day)
        return None
    except ValueError as error:
        ctx.telegram.send_message(chat_id=command.actor_id, text=texts.stats_invalid_date(
            word=str(day), error=str(error)))
        return None
    # matplotlib loads on the first /stats, not when a worker starts (its first import builds
    # a font cache, which would slow every worker's start for a command admins rarely send).
    from workers.stats import chart

    with ctx.sessions.begin() as session:
        figures = report(session, as_of=as_of)
    first, last = figures.days[0], figures.days[-1]
    return Built(as_of=as_of, text=texts.stats_report(figures), chart=chart.render(figures),
                 caption=texts.stats_chart_caption(first=first.isoformat(),
                                                   last=last.isoformat()))


def send_chart(ctx: WorkerContext, *, command: Command, built: Built) -> None:
    ctx.telegram.send_photo(chat_id=command.actor_id, photo=built.chart, filename="stats.png",
                            caption=built.caption)


def send_figures(ctx: WorkerContext, *, command: Command, built: Built) -> None:
    ctx.telegram.send_message(chat_id=command.actor_id, text=built.text)
