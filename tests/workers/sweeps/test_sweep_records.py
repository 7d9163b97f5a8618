"""What the sweeps leave behind for an operator: the run's report, the hold and its alert, the
history of each expiry and refusal, and the confirmation's totals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from infra.telegram import TelegramPermanent
from models.schema import AccessHistory, RenewalReminder, SweepHold, TelegramEffect
from tests.workers.harness import Pipeline
from tests.workers.sweeps.conftest import ADMIN, CHANNEL, access_of, membership, subscriber
from workers.sweeps import service

ANN, BOB, CAT = 7201, 7202, 7203
HOUR = timedelta(hours=1)


def entries(ctx: Pipeline, user_id: int) -> list[AccessHistory]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AccessHistory).where(AccessHistory.user_id == user_id)
                                    .order_by(AccessHistory.id)))


def outbox(ctx: Pipeline) -> list[tuple[str, int | None, Any]]:
    with ctx.sessions() as session:
        rows = session.scalars(select(TelegramEffect).order_by(TelegramEffect.id)).all()
        return [(row.key, row.chat_id, json.loads(row.request or "{}")) for row in rows]


def test_the_report_names_every_count_and_nothing_internal(ctx: Pipeline) -> None:
    """What `celery call` prints: each count of the run, never the effects or the error."""
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now - HOUR)
    summary = service.expire_subscriptions(ctx, now=now)
    assert summary.report() == {"due": 1, "removed": 1, "expired": 1, "kept": 0,
                                "paid_meanwhile": 0, "refused": 0, "to_grace": 0,
                                "hold_id": None, "dry_run": False}


def test_an_expiry_is_recorded_with_the_standing_it_was_judged_on(ctx: Pipeline) -> None:
    """The history entry says the status before and after and the person's standing; the
    message is keyed by the access and its paid-through, with the renew button."""
    now = datetime.now(UTC)
    paid_through = now - HOUR
    subscriber(ctx, ANN, paid_through=paid_through, status="trialing")
    service.expire_subscriptions(ctx, now=now)
    started, expired = entries(ctx, ANN)
    assert (started.action, started.chat_id, started.paid_through_before) == (
        "removal_started", CHANNEL, paid_through)
    assert json.loads(started.details or "{}") == {"standing": "member"}
    assert (expired.action, expired.chat_id, expired.source) == ("expired_removed", CHANNEL,
                                                                 "sweep")
    assert json.loads(expired.details or "{}") == {
        "status_before": "trialing", "status_after": "expired", "standing": "member"}
    access = access_of(ctx, ANN)
    assert access.updated_at == now
    [(key, chat, request)] = outbox(ctx)
    assert (key, chat) == (f"sweep_expired:{access.id}:{paid_through.isoformat()}", ANN)
    assert request["text"].startswith("Your access to the channel ended on ")
    assert request["buttons"] == service.renew_buttons()


def test_a_held_run_records_the_hold_and_alerts_each_admin_once(ctx: Pipeline) -> None:
    """Over the count limit: a held SweepHold with the figures and the reason, one alert per
    admin under the hold's key, and a report that names the hold."""
    ctx.settings = ctx.settings.model_copy(update={"sweep_max_removals": 1})
    now = datetime.now(UTC)
    for user_id in (ANN, BOB):
        subscriber(ctx, user_id, paid_through=now - HOUR)
    subscriber(ctx, CAT, paid_through=now + HOUR)
    summary = service.expire_subscriptions(ctx, now=now)
    with ctx.sessions() as session:
        hold = session.scalars(select(SweepHold)).one()
    assert (hold.status, hold.due_count, hold.member_count, hold.reason) == (
        "held", 2, 3, "more than 1 removals in one run")
    assert hold.created_at == now
    assert (summary.due, summary.hold_id, summary.removed, len(summary.effects)) == (
        2, hold.id, 0, len(ctx.settings.admins))
    [(key, chat, request)] = outbox(ctx)
    assert (key, chat) == (f"sweep_hold:{hold.id}:{ADMIN}", ADMIN)
    assert request["text"] == (
        f"⚠️ Expiry sweep on hold (#{hold.id}): it would remove 2 of 3 members (more than 1 "
        "removals in one run). Nobody was removed. Check payments, then send /sweep_confirm "
        "to run the removal once.")


def test_the_breaker_explains_itself() -> None:
    """The count rule is checked first; the share rule names its ceiling as a percentage."""
    assert service.breaker_reason(due=5, members=10, max_removals=4, max_share=0.1,
                                  share_min_due=1) == "more than 4 removals in one run"
    assert service.breaker_reason(due=2, members=10, max_removals=4, max_share=0.1,
                                  share_min_due=1) == "more than 10% of the members"
    assert service.breaker_reason(due=2, members=0, max_removals=4, max_share=0.1,
                                  share_min_due=1) is None


def test_a_refusal_is_recorded_once_per_period_with_what_telegram_said(ctx: Pipeline) -> None:
    """The ban refused twice (two runs): one history entry naming the method and the error,
    and the row stays due."""
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now - HOUR)
    refusal = TelegramPermanent(description="Bad Request: not enough rights",
                                method="banChatMember")
    ctx.telegram.fail_next("banChatMember", refusal, times=2)
    for _ in range(2):
        assert service.expire_subscriptions(ctx, now=now).refused == 1
    refused = [entry for entry in entries(ctx, ANN) if entry.action == "removal_refused"]
    assert len(refused) == 1
    assert (refused[0].source, refused[0].chat_id, refused[0].paid_through_before) == (
        "sweep", CHANNEL, now - HOUR)
    assert json.loads(refused[0].details or "{}") == {
        "error": "Bad Request: not enough rights", "method": "banChatMember"}
    assert access_of(ctx, ANN).status == "active"


def test_the_confirmation_reports_removals_and_expiries_separately(ctx: Pipeline) -> None:
    """Held, then confirmed: the admin hears how many were removed from the channel and how
    many rows expired in all (someone not in the channel expires without a removal)."""
    ctx.settings = ctx.settings.model_copy(update={"sweep_max_removals": 1})
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now - HOUR)
    subscriber(ctx, BOB, paid_through=now - HOUR, member=False)
    service.expire_subscriptions(ctx, now=now)
    confirmation = service.confirm_hold(ctx, admin_id=ADMIN, now=now + HOUR)
    assert confirmation.outcome == "confirmed" and confirmation.summary is not None
    assert (confirmation.summary.removed, confirmation.summary.expired) == (1, 2)
    [key, chat, request] = outbox(ctx)[-1]
    assert chat == ADMIN and key.startswith("sweep_confirmed:")
    assert "1 removed from the channel, 2 marked expired in all" in request["text"]
    with ctx.sessions() as session:
        hold = session.scalars(select(SweepHold)).one()
    assert (hold.confirmed_by, hold.confirmed_at) == (ADMIN, now + HOUR)


def test_a_confirmed_hold_removes_only_who_was_past_grace_when_it_was_held(
    ctx: Pipeline,
) -> None:
    """Grace of 6 h: confirming a hold removes the one past grace at the hold; the one in grace
    then keeps their place, and so does the one still paying, however late the admin confirms."""
    ctx.settings = ctx.settings.model_copy(update={"sweep_max_removals": 0, "grace_hours": 6})
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now - 7 * HOUR)
    subscriber(ctx, BOB, paid_through=now - 2 * HOUR)
    subscriber(ctx, CAT, paid_through=now + 2 * HOUR)
    service.expire_subscriptions(ctx, now=now)
    with ctx.sessions() as session:
        assert session.scalars(select(SweepHold.status)).one() == "held"
    confirmation = service.confirm_hold(ctx, admin_id=ADMIN, now=now + HOUR)
    assert confirmation.summary is not None and confirmation.summary.removed == 1
    assert [membership(ctx, user) for user in (ANN, BOB, CAT)] == ["left", "member", "member"]
    assert access_of(ctx, BOB).status != "expired" and access_of(ctx, CAT).status == "active"


def test_a_confirmation_settles_every_hold_left_open(ctx: Pipeline) -> None:
    """Two holds opened side by side (two beats): confirming one supersedes the other."""
    ctx.settings = ctx.settings.model_copy(update={"sweep_max_removals": 0})
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now - HOUR)
    with ctx.sessions.begin() as session:
        for _ in range(2):
            session.add(SweepHold(due_count=1, member_count=1, reason="r", status="held",
                                  created_at=now))
    assert service.confirm_hold(ctx, admin_id=ADMIN, now=now).outcome == "confirmed"
    with ctx.sessions() as session:
        statuses = session.scalars(select(SweepHold.status).order_by(SweepHold.id)).all()
    assert sorted(statuses) == ["confirmed", "superseded"]


def test_a_reminder_is_written_with_its_period_and_the_renew_button(ctx: Pipeline) -> None:
    """The reminder row records access, days and period end; the message is keyed by them."""
    now = datetime.now(UTC)
    paid_through = now + 12 * HOUR
    subscriber(ctx, ANN, paid_through=paid_through)
    with ctx.sessions.begin() as session:
        written = service.send_renewal_reminders(session, chat_id=CHANNEL, reminder_days=(1, 3),
                                                 now=now)
        assert service.send_renewal_reminders(session, chat_id=CHANNEL, reminder_days=(),
                                              now=now) == []
    assert len(written) == 1
    access = access_of(ctx, ANN)
    with ctx.sessions() as session:
        row = session.scalars(select(RenewalReminder)).one()
    assert (row.access_id, row.days_before, row.period_end, row.sent_at) == (
        access.id, 1, paid_through, now)
    [(key, chat, request)] = outbox(ctx)
    assert (key, chat) == (f"reminder:{access.id}:1:{paid_through.isoformat()}", ANN)
    assert request["text"].startswith("Your access ends in less than 1 day, on ")
    assert request["buttons"] == service.renew_buttons()
