"""The sweep and the reminders walk their rows in keyset pages: each row once, none left over.

Pages of 2 make a handful of rows span several pages, with a refusal and a payment in between.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from infra import task_names
from infra.db import insert_ignore_rows
from infra.telegram import TelegramPermanent
from models.schema import AccessHistory, RenewalReminder, TelegramEffect
from tests.workers.harness import Pipeline
from tests.workers.sweeps.conftest import CHANNEL, access_of, count, membership, subscriber
from workers.sweeps import service

HOUR = timedelta(hours=1)
DUE = [7201, 7202, 7203, 7204, 7205]


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "PAGE_SIZE", 2)


def run(ctx: Pipeline, name: str) -> object:
    ctx.send(name)
    return ctx.drain()[0][1]


def test_every_due_row_across_pages_is_removed_once(ctx: Pipeline) -> None:
    """Five due rows in pages of two: all five removed and told once, the rest untouched."""
    now = datetime.now(UTC)
    for offset, user_id in enumerate(DUE):
        subscriber(ctx, user_id, paid_through=now - (offset + 1) * HOUR)
    subscriber(ctx, 7299, paid_through=now + HOUR)

    report = run(ctx, task_names.EXPIRE_SUBSCRIPTIONS)

    assert report == {**report, "due": 5, "removed": 5, "expired": 5}  # type: ignore[dict-item]
    assert sorted(c.user_id for c in ctx.telegram.calls_of("banChatMember")) == DUE
    assert count(ctx, TelegramEffect, TelegramEffect.status == "done") == 5
    assert membership(ctx, 7299) == "member" and access_of(ctx, 7299).status == "active"


def test_a_refused_row_does_not_stop_or_repeat_the_walk(ctx: Pipeline) -> None:
    """A refusal on the first page leaves that row due; the walk goes on past it, once."""
    now = datetime.now(UTC)
    for offset, user_id in enumerate(DUE):
        subscriber(ctx, user_id, paid_through=now - (offset + 1) * HOUR)
    ctx.telegram.fail_next("banChatMember", TelegramPermanent(description="Bad Request: no"))

    report = run(ctx, task_names.EXPIRE_SUBSCRIPTIONS)

    assert report == {**report, "removed": 4, "refused": 1}  # type: ignore[dict-item]
    assert len(ctx.telegram.calls_of("banChatMember")) == 5
    assert count(ctx, AccessHistory, AccessHistory.action == "removal_refused") == 1


def test_the_due_set_is_counted_in_sql_with_admins_apart(ctx: Pipeline) -> None:
    """(due, removable): a lapsed configured admin is due but never removable."""
    now = datetime.now(UTC)
    subscriber(ctx, DUE[0], paid_through=now - HOUR)
    subscriber(ctx, 100, paid_through=now - HOUR)  # the sandbox settings' admin
    subscriber(ctx, DUE[1], paid_through=now + HOUR)
    with ctx.sessions() as session:
        counts = service.due_counts(session, chat_id=CHANNEL, cutoff=now,
                                    admins=ctx.settings.admins)
    assert counts == (2, 1)


def test_reminders_across_pages_are_written_once_each(ctx: Pipeline) -> None:
    """Five reminders due in pages of two: five reminders and messages, none on a rerun."""
    now = datetime.now(UTC)
    for offset, user_id in enumerate(DUE):
        subscriber(ctx, user_id, paid_through=now + (offset + 1) * HOUR)

    first = run(ctx, task_names.SEND_RENEWAL_REMINDERS)
    again = run(ctx, task_names.SEND_RENEWAL_REMINDERS)

    assert (first, again) == ({"reminded": 5}, {"reminded": 0})
    with ctx.sessions() as session:
        reminded = session.scalars(select(RenewalReminder.access_id)).all()
    assert len(reminded) == len(set(reminded)) == 5
    assert count(ctx, TelegramEffect, TelegramEffect.status == "done") == 5


def test_insert_ignore_rows_returns_only_the_rows_it_wrote(ctx: Pipeline) -> None:
    """One statement for many rows; rows whose key exists are skipped and not returned."""
    now = datetime.now(UTC)
    subscriber(ctx, DUE[0], paid_through=now + HOUR)
    access_id = access_of(ctx, DUE[0]).id

    def rows(*days: int) -> list[dict[str, object]]:
        return [{"access_id": access_id, "days_before": d, "period_end": now, "sent_at": now}
                for d in days]

    conflict = ["access_id", "days_before", "period_end"]
    with ctx.sessions.begin() as session:
        first = insert_ignore_rows(session, RenewalReminder, rows(1, 3), conflict=conflict,
                                   returning=["days_before"])
        second = insert_ignore_rows(session, RenewalReminder, rows(3, 7), conflict=conflict,
                                    returning=["days_before"])
    assert sorted(row.days_before for row in first) == [1, 3]
    assert [row.days_before for row in second] == [7]


def test_a_long_run_hands_its_messages_over_as_it_goes(ctx: Pipeline) -> None:
    """With a dispatcher, each page's messages leave before the run ends, each exactly once."""
    now = datetime.now(UTC)
    for offset, user_id in enumerate(DUE):
        subscriber(ctx, user_id, paid_through=now - (offset + 1) * HOUR)
    handed: list[list[tuple[int, str]]] = []

    summary = service.expire_subscriptions(ctx, now=now, dispatch=handed.append)

    assert len(handed) >= 2 and all(handed)  # pages of two: at least two handovers mid-run
    ids = [effect_id for batch in handed for effect_id, _ in batch]
    ids += [effect_id for effect_id, _ in summary.effects]  # the last page: the task's job
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 5


def plan_of(engine: Engine, query: Any) -> str:
    """The database's plan for `query` as the sweep sends it (statuses inline, the rest bound)."""
    compiled = query.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # A tiny table is cheaper to scan; this asks whether the index can serve at all.
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            rows = connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params)
        else:
            args = tuple(compiled.params[name] for name in compiled.positiontup or ())
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", args)
        return "\n".join(str(row[-1]) for row in rows)


def test_due_and_reminder_pages_read_the_partial_unswept_index(engine: Engine) -> None:
    """Both page queries, as sent, can use ix_access_unswept_paid_through on either database."""
    now = datetime.now(UTC)
    due = service.due_query(chat_id=CHANNEL, cutoff=now, after=(now, 1), limit=500)
    remind = service.reminder_query(chat_id=CHANNEL, now=now, horizon=now + 72 * HOUR,
                                    after=None, limit=500)
    for query in (due, remind):
        assert "ix_access_unswept_paid_through" in plan_of(engine, query)
