"""Renewal reminders: once per access period, the smallest due one only, none after renewal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from infra import buttons, task_names
from infra.telegram import Lane
from models.schema import RenewalReminder
from tests.workers.harness import Pipeline
from tests.workers.sweeps.conftest import CHANNEL, subscriber, texts_to
from workers.access.service import extend_access
from workers.sweeps import service

ANN, BOB = 7101, 7102
HOUR = timedelta(hours=1)


def remind(ctx: Pipeline, now: datetime) -> int:
    """One reminder run at `now`; how many reminders it wrote."""
    with ctx.sessions.begin() as session:
        effects = service.send_renewal_reminders(
            session, chat_id=CHANNEL, reminder_days=ctx.settings.reminder_days, now=now)
    return len(effects)


def sent(ctx: Pipeline) -> list[tuple[int, int]]:
    with ctx.sessions() as session:
        rows = session.execute(select(RenewalReminder.access_id, RenewalReminder.days_before)
                               .order_by(RenewalReminder.id))
        return [(row.access_id, row.days_before) for row in rows]


def test_each_reminder_is_sent_once_per_period(ctx: Pipeline) -> None:
    """2.5 days left: the 3-day reminder once however often the task runs, then the 1-day one."""
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now + 60 * HOUR)
    subscriber(ctx, BOB, paid_through=now + 30 * 24 * HOUR)  # nothing due

    for _ in range(3):
        ctx.send(task_names.SEND_RENEWAL_REMINDERS)
        ctx.drain()

    [message] = texts_to(ctx, ANN)
    assert "less than 3 days" in message.text
    assert message.reply_markup.inline_keyboard[0][0].callback_data == buttons.SHOW_PLANS
    assert texts_to(ctx, BOB) == []
    assert remind(ctx, now + 40 * HOUR) == 1 and remind(ctx, now + 50 * HOUR) == 0
    assert [days for _, days in sent(ctx)] == [3, 1]


def test_only_the_smallest_due_reminder_is_sent(ctx: Pipeline) -> None:
    """12 h left and nothing sent yet: the 1-day reminder alone, not the 3-day one with it."""
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now + 12 * HOUR)

    assert remind(ctx, now) == 1
    assert [days for _, days in sent(ctx)] == [1]
    assert remind(ctx, now + HOUR) == 0


def test_a_renewal_opens_a_new_period_and_ends_the_old_ones(ctx: Pipeline) -> None:
    """After paying again no reminder about the old end; the new end gets its own reminders."""
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now + 60 * HOUR)
    assert remind(ctx, now) == 1
    with ctx.sessions.begin() as session:
        change = extend_access(session, user_id=ANN, chat_id=CHANNEL, days=30, now=now,
                               plan_id=None, action="payment_activated", source="payment")
    assert change.after is not None

    assert remind(ctx, now + 50 * HOUR) == 0  # the old period's 1-day reminder is not sent
    assert remind(ctx, change.after - 60 * HOUR) == 1
    assert remind(ctx, change.after - 60 * HOUR) == 0
    assert [days for _, days in sent(ctx)] == [3, 3]


def test_no_reminder_once_paid_time_is_over(ctx: Pipeline) -> None:
    """A lapsed or removed subscriber is not reminded to renew ahead of time."""
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now - HOUR)
    subscriber(ctx, BOB, paid_through=now + 10 * HOUR, status="removed")

    assert remind(ctx, now) == 0


def test_a_reminder_is_a_bulk_message_sent_in_the_bulk_lane(ctx: Pipeline) -> None:
    """Reminders go out as the bulk task, whose sendMessage yields the budget to payers."""
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now + 60 * HOUR)

    ctx.send(task_names.SEND_RENEWAL_REMINDERS)
    ran = [name for name, _ in ctx.drain()]

    assert task_names.SEND_BULK_MESSAGE in ran and task_names.SEND_MESSAGE not in ran
    sends = [lane for call, lane in zip(ctx.telegram.calls, ctx.telegram.lanes, strict=True)
             if call.__api_method__ == "sendMessage"]
    assert sends == [Lane.BULK]
