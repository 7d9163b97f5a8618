"""Admin use cases run in-process: activate, edit, referrers, exports, audit rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiogram.methods import SendDocument
from aiogram.types import BufferedInputFile
from celery.exceptions import MaxRetriesExceededError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.migrate import seed_plans
from infra.settings import SANDBOX_CHANNEL_ID, load_settings
from infra.telegram import TelegramTransient
from models.schema import (
    Access,
    AccessHistory,
    CommissionEntry,
    Invoice,
    Plan,
    Referral,
    Referrer,
    User,
)
from tests.workers.harness import Pipeline, add_user, make_pipeline
from workers.context import use_context
from workers.retrying import MAX_RETRIES

ADMIN, ANN, BOB = 100, 8001, 8002


@pytest.fixture
def ctx(db_url: str, engine: Any, session_factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    """A pipeline on a fresh database with the default plan and two users."""
    with session_factory.begin() as session:
        seed_plans(session, load_settings(_env_file=None))
    add_user(session_factory, ANN)
    add_user(session_factory, BOB)
    pipeline = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine)
    with use_context(pipeline):
        yield pipeline


def command(key: str, text: str = "/cmd") -> dict[str, Any]:
    return {"actor_id": ADMIN, "text": text, "request_key": key}


def run(ctx: Pipeline, name: str, *args: Any) -> None:
    ctx.send(name, *args)
    ctx.drain()


def access(ctx: Pipeline, user_id: int = ANN) -> Access:
    with ctx.sessions() as session:
        return session.scalars(select(Access).where(Access.user_id == user_id,
                                                    Access.chat_id == SANDBOX_CHANNEL_ID)).one()


def admin_rows(ctx: Pipeline, action: str) -> list[AccessHistory]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AccessHistory).where(AccessHistory.action == action)))


def near(moment: datetime | None, expected: datetime) -> bool:
    return moment is not None and abs(moment - expected) < timedelta(minutes=1)


def test_activate_stacks_and_sends_the_invite(ctx: Pipeline) -> None:
    """Two activations add up, each is audited, and the invite goes out."""
    run(ctx, task_names.ADMIN_ACTIVATE, command("m1", "/activate 8001 10"), ANN, 10)
    run(ctx, task_names.ADMIN_ACTIVATE, command("m2", "/activate 8001 5"), ANN, 5)
    assert near(access(ctx).paid_through, datetime.now(UTC) + timedelta(days=15))
    rows = admin_rows(ctx, "admin_activated")
    assert [(r.source, r.actor_id, r.command) for r in rows] == [
        ("admin", ADMIN, "/activate 8001 10"), ("admin", ADMIN, "/activate 8001 5")]
    assert len(ctx.telegram.calls_of("createChatInviteLink")) == 1
    replies = [c.text for c in ctx.telegram.calls_of("sendMessage") if c.chat_id == ADMIN]
    assert len(replies) == 2 and all("8001" in text for text in replies)


def test_activate_redelivered_applies_once(ctx: Pipeline) -> None:
    """The same admin message delivered twice adds its days once."""
    run(ctx, task_names.ADMIN_ACTIVATE, command("m1"), ANN, 10)
    run(ctx, task_names.ADMIN_ACTIVATE, command("m1"), ANN, 10)
    assert near(access(ctx).paid_through, datetime.now(UTC) + timedelta(days=10))
    assert len(admin_rows(ctx, "admin_activated")) == 1


def test_setdays_zero_ends_access_now(ctx: Pipeline) -> None:
    """setdays 0 makes paid time end now, whatever was left."""
    run(ctx, task_names.ADMIN_ACTIVATE, command("m1"), ANN, 30)
    run(ctx, task_names.ADMIN_EDIT, command("m2", "/edit 8001 setdays 0"), ANN, "setdays", 0)
    row = access(ctx)
    assert near(row.paid_through, datetime.now(UTC))
    assert row.status == "grace"  # over; the expiry sweep removes the member and marks it
    (audit,) = admin_rows(ctx, "admin_set_days")
    assert (audit.actor_id, audit.command) == (ADMIN, "/edit 8001 setdays 0")


def test_setdays_overrides_and_lifts_a_removal(ctx: Pipeline) -> None:
    """setdays N counts from now, not on top, and brings a removed user back."""
    run(ctx, task_names.ADMIN_ACTIVATE, command("m1"), ANN, 30)
    run(ctx, task_names.ADMIN_EDIT, command("m2"), ANN, "remove", None)
    run(ctx, task_names.ADMIN_EDIT, command("m3"), ANN, "setdays", 7)
    row = access(ctx)
    assert near(row.paid_through, datetime.now(UTC) + timedelta(days=7))
    assert row.removed_at is None and row.status == "active"


def test_remove_bans_then_unbans(ctx: Pipeline) -> None:
    """remove ends access and kicks without a lasting ban; a redelivery repeats only the kick."""
    run(ctx, task_names.ADMIN_ACTIVATE, command("m1"), ANN, 30)
    ctx.telegram.members[SANDBOX_CHANNEL_ID, ANN] = "member"
    run(ctx, task_names.ADMIN_EDIT, command("m2", "/edit 8001 remove"), ANN, "remove", None)
    run(ctx, task_names.ADMIN_EDIT, command("m2", "/edit 8001 remove"), ANN, "remove", None)
    assert access(ctx).status == "removed"
    assert [c.__api_method__ for c in ctx.telegram.calls
            if c.__api_method__ in ("banChatMember", "unbanChatMember")] == [
        "banChatMember", "unbanChatMember", "banChatMember", "unbanChatMember"]
    assert ctx.telegram.members[SANDBOX_CHANNEL_ID, ANN] == "left"
    assert len(admin_rows(ctx, "admin_removed")) == 1


def test_remove_keeps_a_ban_an_admin_set_by_hand(ctx: Pipeline) -> None:
    """remove of someone an admin banned by hand in Telegram ends access and leaves the ban."""
    run(ctx, task_names.ADMIN_ACTIVATE, command("m1"), ANN, 30)
    ctx.telegram.members[SANDBOX_CHANNEL_ID, ANN] = "kicked"
    run(ctx, task_names.ADMIN_EDIT, command("m2", "/edit 8001 remove"), ANN, "remove", None)
    assert access(ctx).status == "removed"
    assert ctx.telegram.members[SANDBOX_CHANNEL_ID, ANN] == "kicked"


def test_remove_finishes_its_own_ban_on_redelivery(ctx: Pipeline) -> None:
    """A removal cut short after its ban lifts that ban when the command is redelivered."""
    run(ctx, task_names.ADMIN_ACTIVATE, command("m1"), ANN, 30)
    ctx.telegram.members[SANDBOX_CHANNEL_ID, ANN] = "member"
    ctx.telegram.fail_next("unbanChatMember", TelegramTransient(description="timeout"),
                           times=MAX_RETRIES + 1)
    with pytest.raises(MaxRetriesExceededError):
        run(ctx, task_names.ADMIN_EDIT, command("m2", "/edit 8001 remove"), ANN, "remove", None)
    assert ctx.telegram.members[SANDBOX_CHANNEL_ID, ANN] == "kicked"
    run(ctx, task_names.ADMIN_EDIT, command("m2", "/edit 8001 remove"), ANN, "remove", None)
    assert ctx.telegram.members[SANDBOX_CHANNEL_ID, ANN] == "left"


@pytest.mark.parametrize("answer", [
    "Forbidden: bot was kicked from the channel chat",
    "Forbidden: bot is not a member of the channel chat",
    "Bad Request: not enough rights to restrict/unrestrict chat member",
])
def test_remove_refused_by_telegram_is_recorded_and_told_once(ctx: Pipeline, answer: str) -> None:
    """A kick Telegram refuses is a final answer: one history row, one message to the admin."""
    run(ctx, task_names.ADMIN_ACTIVATE, command("m1"), ANN, 30)
    ctx.telegram.members[SANDBOX_CHANNEL_ID, ANN] = "member"
    ctx.telegram.answer_next("banChatMember", answer, times=2)
    for _ in range(2):  # the same admin message delivered twice
        run(ctx, task_names.ADMIN_EDIT, command("m2", "/edit 8001 remove"), ANN, "remove",
            None)
    assert access(ctx).status == "removed"
    (refusal,) = admin_rows(ctx, "removal_refused")
    assert (refusal.source, refusal.actor_id) == ("admin", ADMIN)
    assert answer in (refusal.details or "")
    told = [c.text for c in ctx.telegram.calls_of("sendMessage")
            if c.chat_id == ADMIN and answer in c.text]
    assert len(told) == 1


def test_marktrial_and_resettrial(ctx: Pipeline) -> None:
    """marktrial spends the trial, resettrial gives it back; both are audited."""
    run(ctx, task_names.ADMIN_EDIT, command("m1"), ANN, "marktrial", None)
    with ctx.sessions() as session:
        assert session.get_one(User, ANN).trial_used_at is not None
    run(ctx, task_names.ADMIN_EDIT, command("m2"), ANN, "resettrial", None)
    with ctx.sessions() as session:
        assert session.get_one(User, ANN).trial_used_at is None
    assert len(admin_rows(ctx, "admin_mark_trial")) == 1
    assert len(admin_rows(ctx, "admin_reset_trial")) == 1


def test_referrer_add_change_and_remove(ctx: Pipeline) -> None:
    """refree_add creates or re-rates a referrer; refree_remove deactivates but keeps them."""
    run(ctx, task_names.ADMIN_ADD_REFERRER, command("m1"), BOB, "10")
    run(ctx, task_names.ADMIN_ADD_REFERRER, command("m2"), BOB, "12.5")
    with ctx.sessions() as session:
        referrer = session.get_one(Referrer, BOB)
        assert (referrer.pct, referrer.active) == (Decimal("12.50"), True)
    run(ctx, task_names.ADMIN_REMOVE_REFERRER, command("m3"), BOB)
    with ctx.sessions() as session:
        assert session.get_one(Referrer, BOB).active is False
    assert len(admin_rows(ctx, "referrer_added")) == 2
    assert len(admin_rows(ctx, "referrer_removed")) == 1


def test_removing_a_non_referrer_changes_nothing(ctx: Pipeline) -> None:
    """refree_remove of someone who is not a referrer says so and writes no row."""
    run(ctx, task_names.ADMIN_REMOVE_REFERRER, command("m1"), ANN)
    assert admin_rows(ctx, "referrer_removed") == []
    assert "not a referrer" in ctx.telegram.calls_of("sendMessage")[-1].text


def _document(ctx: Pipeline) -> list[dict[str, str]]:
    (call,) = ctx.telegram.calls_of("sendDocument")
    assert isinstance(call, SendDocument) and isinstance(call.document, BufferedInputFile)
    assert call.chat_id == ADMIN
    return list(csv.DictReader(io.StringIO(call.document.data.decode())))


def test_export_users_csv(ctx: Pipeline) -> None:
    """The users export lists everyone with live status, paid-through, trial and referrer."""
    with ctx.sessions.begin() as session:
        session.get_one(User, ANN).referred_by_id = BOB
    run(ctx, task_names.ADMIN_ACTIVATE, command("m1"), ANN, 30)
    run(ctx, task_names.ADMIN_EXPORT_USERS, command("m2", "/export"))
    rows = {row["user_id"]: row for row in _document(ctx)}
    assert rows[str(ANN)]["status"] == "active"
    assert rows[str(ANN)]["referrer_id"] == str(BOB)
    assert rows[str(ANN)]["paid_through"]
    assert rows[str(BOB)]["status"] == "none"
    assert len(admin_rows(ctx, "admin_export_users")) == 1


def test_export_referrers_csv(ctx: Pipeline) -> None:
    """The referrers export sums referred users, paid invoices, earnings, payouts, balance."""
    run(ctx, task_names.ADMIN_ADD_REFERRER, command("m1"), BOB, "10")
    with ctx.sessions.begin() as session:
        now = datetime.now(UTC)
        session.add(Referral(referred_user_id=ANN, referrer_id=BOB, created_at=now))
        plan = session.scalars(select(Plan)).one()
        invoice = Invoice(order_id="o1", user_id=ANN, plan_id=plan.id, amount_usd=Decimal(10),
                          status="paid", activated_at=now)
        session.add(invoice)
        session.flush()
        session.add(CommissionEntry(referrer_id=BOB, kind="credit", amount=Decimal("1.00"),
                                    invoice_id=invoice.id, created_at=now))
    run(ctx, task_names.ADMIN_EXPORT_REFERRERS, command("m2", "/export_refree"))
    (row,) = _document(ctx)
    assert row["referrer_id"] == str(BOB)
    assert (row["pct"], row["referred"], row["paid_invoices"]) == ("10.00", "1", "1")
    assert (row["earned_usd"], row["paid_out_usd"], row["balance_usd"]) == (
        "1.00", "0.00", "1.00")


def test_audit_records_a_refusal(ctx: Pipeline) -> None:
    """A refused admin command leaves an admin_refused row naming who tried what."""
    refused = {"actor_id": ANN, "text": "/activate 1 2", "request_key": "x"}
    run(ctx, task_names.ADMIN_AUDIT, refused, ANN, "admin_refused")
    (row,) = admin_rows(ctx, "admin_refused")
    assert (row.user_id, row.actor_id, row.command, row.source) == (
        ANN, ANN, "/activate 1 2", "admin")


def test_every_admin_change_is_one_history_row(ctx: Pipeline) -> None:
    """Each admin command leaves its history row with the admin's id and the command text."""
    run(ctx, task_names.ADMIN_ACTIVATE, command("m1", "/activate 8001 3"), ANN, 3)
    with ctx.sessions() as session:
        rows = session.scalars(select(AccessHistory).where(AccessHistory.source == "admin")).all()
        assert [(r.action, r.actor_id, r.command) for r in rows] == [
            ("admin_activated", ADMIN, "/activate 8001 3")]
        assert session.scalar(select(func.count()).select_from(AccessHistory)
                              .where(AccessHistory.action == "invite_sent")) == 1
