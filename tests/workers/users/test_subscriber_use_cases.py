"""Subscriber use cases run in-process: registration and referral, terms, trial, resend invite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from infra.migrate import seed_plans
from infra.settings import SANDBOX_CHANNEL_ID, load_settings
from models.schema import Access, AccessHistory, Invoice, Plan, Referral, TelegramEffect, User
from tests.workers.harness import Pipeline, add_user, make_pipeline
from workers.context import use_context

ANN, BOB, CAROL = 7001, 7002, 7003


def profile(user_id: int, **names: Any) -> dict[str, Any]:
    return {"user_id": user_id, "first_name": f"user{user_id}", **names}


@pytest.fixture
def ctx(db_url: str, engine: Any, session_factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    """A pipeline on a fresh database with the default plan seeded."""
    with session_factory.begin() as session:
        seed_plans(session, load_settings(_env_file=None))
    pipeline = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine)
    with use_context(pipeline):
        yield pipeline


def run(ctx: Pipeline, name: str, *args: Any) -> list[tuple[str, Any]]:
    ctx.send(name, *args)
    return ctx.drain()


def scalar(ctx: Pipeline, statement: Any) -> Any:
    with ctx.sessions() as session:
        return session.scalar(statement)


def texts_sent(ctx: Pipeline, user_id: int) -> list[str]:
    return [call.text for call in ctx.telegram.calls_of("sendMessage") if call.chat_id == user_id]


def pay(ctx: Pipeline, user_id: int) -> None:
    """Record an activated invoice, as a settled payment leaves it."""
    with ctx.sessions.begin() as session:
        plan = session.scalars(select(Plan)).one()
        now = datetime.now(UTC)
        session.add(Invoice(order_id=f"ord-{user_id}", user_id=user_id, plan_id=plan.id,
                            amount_usd=Decimal("10.00"), status="paid", activated_at=now))


def test_register_creates_then_refreshes_names(ctx: Pipeline) -> None:
    """A second contact updates the names Telegram reports instead of failing."""
    run(ctx, task_names.REGISTER_USER, profile(ANN, username="ann"), None)
    run(ctx, task_names.REGISTER_USER, profile(ANN, username="ann2"), None)
    assert scalar(ctx, select(User.username).where(User.id == ANN)) == "ann2"


def test_first_referral_touch_wins(ctx: Pipeline) -> None:
    """The first referrer sticks; a later deep link of someone else changes nothing."""
    add_user(ctx.sessions, BOB)
    add_user(ctx.sessions, CAROL)
    run(ctx, task_names.REGISTER_USER, profile(ANN), BOB)
    run(ctx, task_names.REGISTER_USER, profile(ANN), CAROL)
    assert scalar(ctx, select(Referral.referrer_id).where(Referral.referred_user_id == ANN)) == BOB
    assert scalar(ctx, select(User.referred_by_id).where(User.id == ANN)) == BOB


def test_never_self_referred(ctx: Pipeline) -> None:
    """A user's own referral link does not make them their own referrer."""
    run(ctx, task_names.REGISTER_USER, profile(ANN), ANN)
    assert scalar(ctx, select(func.count()).select_from(Referral)) == 0


def test_no_referral_after_paying(ctx: Pipeline) -> None:
    """Someone who has already paid was not brought by whoever's link they open later."""
    add_user(ctx.sessions, ANN)
    add_user(ctx.sessions, BOB)
    pay(ctx, ANN)
    run(ctx, task_names.REGISTER_USER, profile(ANN), BOB)
    assert scalar(ctx, select(func.count()).select_from(Referral)) == 0


def test_unknown_referrer_is_ignored(ctx: Pipeline) -> None:
    """A referral id the bot has never seen is dropped rather than breaking registration."""
    run(ctx, task_names.REGISTER_USER, profile(ANN), 999_999)
    assert scalar(ctx, select(func.count()).select_from(Referral)) == 0
    assert scalar(ctx, select(func.count()).select_from(User)) == 1


def test_accept_terms_keeps_the_first_acceptance(ctx: Pipeline) -> None:
    """Accepting twice keeps the original acceptance time."""
    run(ctx, task_names.ACCEPT_TERMS, profile(ANN))
    first = scalar(ctx, select(User.terms_accepted_at).where(User.id == ANN))
    run(ctx, task_names.ACCEPT_TERMS, profile(ANN))
    assert first is not None
    assert scalar(ctx, select(User.terms_accepted_at).where(User.id == ANN)) == first


def test_trial_before_the_user_is_registered_still_starts(ctx: Pipeline) -> None:
    """Workers restarted and the trial task ran before users.register: it records the user
    from the profile it carries and the trial starts."""
    run(ctx, task_names.START_TRIAL, profile(ANN, username="ann"), "trial-0")
    with ctx.sessions() as session:
        assert session.get_one(User, ANN).username == "ann"
        access = session.scalars(select(Access).where(Access.user_id == ANN)).one()
    assert access.is_trial
    assert any("invite link" in text for text in texts_sent(ctx, ANN))


def test_trial_for_a_bare_id_nobody_registered_tells_the_user(ctx: Pipeline) -> None:
    """An older bot's bare id with no user row: no silent drop, the user is told to /start."""
    run(ctx, task_names.START_TRIAL, ANN, "trial-0")
    assert texts_sent(ctx, ANN) == [texts.ACCOUNT_NOT_FOUND]


def test_trial_grants_access_and_sends_the_invite(ctx: Pipeline) -> None:
    """A trial gives TRIAL_DAYS of access and the invite arrives through the grant effect."""
    add_user(ctx.sessions, ANN)
    run(ctx, task_names.START_TRIAL, ANN, "trial-1")
    with ctx.sessions() as session:
        access = session.scalars(select(Access).where(Access.user_id == ANN)).one()
        assert access.is_trial and access.status == "trialing"
        assert access.paid_through is not None
        assert access.paid_through - datetime.now(UTC) > timedelta(days=2, hours=23)
        assert session.get_one(User, ANN).trial_used_at is not None
        actions = session.scalars(select(AccessHistory.action)
                                  .where(AccessHistory.user_id == ANN)).all()
        assert "trial_started" in actions
    assert len(ctx.telegram.calls_of("createChatInviteLink")) == 1
    assert any("invite link" in text for text in texts_sent(ctx, ANN))


def test_trial_only_once(ctx: Pipeline) -> None:
    """A second trial request is refused with a message and grants nothing."""
    add_user(ctx.sessions, ANN)
    run(ctx, task_names.START_TRIAL, ANN, "trial-2")
    with ctx.sessions.begin() as session:  # let the trial run out
        session.execute(update(Access).values(
            paid_through=datetime.now(UTC) - timedelta(days=1), version=Access.version + 1))
    run(ctx, task_names.START_TRIAL, ANN, "trial-3")
    assert texts_sent(ctx, ANN)[-1] == texts.TRIAL_ALREADY_USED
    assert len(ctx.telegram.calls_of("createChatInviteLink")) == 1


def test_remove_does_not_give_the_trial_back_but_resettrial_does(ctx: Pipeline) -> None:
    """After an admin removal the trial stays used; an admin's resettrial makes it available."""
    add_user(ctx.sessions, ANN)
    run(ctx, task_names.START_TRIAL, ANN, "trial-4")
    admin = {"actor_id": 100, "text": "/edit", "request_key": "k1"}
    run(ctx, task_names.ADMIN_EDIT, admin, ANN, "remove", None)
    run(ctx, task_names.START_TRIAL, ANN, "trial-5")
    assert texts_sent(ctx, ANN)[-1] == texts.TRIAL_ALREADY_USED
    run(ctx, task_names.ADMIN_EDIT, {**admin, "request_key": "k2"}, ANN, "resettrial", None)
    run(ctx, task_names.START_TRIAL, ANN, "trial-6")
    with ctx.sessions() as session:
        access = session.scalars(select(Access).where(Access.user_id == ANN)).one()
        assert access.status == "trialing" and access.removed_at is None


def test_trial_refused_while_paid_access_runs(ctx: Pipeline) -> None:
    """A trial on top of running paid time would add nothing, so it is refused."""
    add_user(ctx.sessions, ANN)
    run(ctx, task_names.ADMIN_ACTIVATE, {"actor_id": 100, "text": "/activate", "request_key": "a"},
        ANN, 30)
    run(ctx, task_names.START_TRIAL, ANN, "trial-7")
    assert texts_sent(ctx, ANN)[-1] == texts.TRIAL_HAS_ACCESS
    assert scalar(ctx, select(User.trial_used_at).where(User.id == ANN)) is None


def test_trial_disabled(db_url: str, engine: Any, session_factory: sessionmaker[Session]) -> None:
    """With TRIAL_DAYS=0 a trial request only gets an explanation."""
    add_user(session_factory, ANN)
    pipeline = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine, trial_days=0)
    with use_context(pipeline):
        run(pipeline, task_names.START_TRIAL, ANN, "trial-8")
    assert texts_sent(pipeline, ANN) == [texts.TRIAL_DISABLED]


def test_resend_invite_uses_a_fresh_key_each_time(ctx: Pipeline) -> None:
    """Each resend request queues its own grant; the existing unused link is sent again."""
    add_user(ctx.sessions, ANN)
    run(ctx, task_names.START_TRIAL, ANN, "trial-9")
    run(ctx, task_names.RESEND_INVITE, ANN, "tap-1")
    run(ctx, task_names.RESEND_INVITE, ANN, "tap-1")  # a redelivery: nothing new
    run(ctx, task_names.RESEND_INVITE, ANN, "tap-2")
    grants = scalar(ctx, select(func.count()).select_from(TelegramEffect)
                    .where(TelegramEffect.key.like("grant:resend:%")))
    assert grants == 2
    assert len(ctx.telegram.calls_of("createChatInviteLink")) == 1
    assert sum("invite link" in text for text in texts_sent(ctx, ANN)) == 3


def test_trial_redelivered_is_quiet(ctx: Pipeline) -> None:
    """The same trial request run twice grants once and does not say "already used"."""
    add_user(ctx.sessions, ANN)
    run(ctx, task_names.START_TRIAL, ANN, "tap")
    run(ctx, task_names.START_TRIAL, ANN, "tap")
    assert texts.TRIAL_ALREADY_USED not in texts_sent(ctx, ANN)
    assert len(ctx.telegram.calls_of("createChatInviteLink")) == 1


def test_resend_invite_without_access_explains(ctx: Pipeline) -> None:
    """Without running access there is no invite to send, and the user is told so."""
    add_user(ctx.sessions, ANN)
    run(ctx, task_names.RESEND_INVITE, ANN, "tap-1")
    assert texts_sent(ctx, ANN) == [texts.NO_ACCESS_FOR_INVITE]
    assert scalar(ctx, select(func.count()).select_from(Access)
                  .where(Access.chat_id == SANDBOX_CHANNEL_ID, Access.status != "none")) == 0


def test_resend_invite_for_someone_never_registered_is_answered(ctx: Pipeline) -> None:
    """A resend from a user with no row (database restored, or a bare id) is told to /start."""
    run(ctx, task_names.RESEND_INVITE, ANN, "tap-1")
    run(ctx, task_names.RESEND_INVITE, ANN, "tap-1")  # redelivered: told once
    assert texts_sent(ctx, ANN) == [texts.ACCOUNT_NOT_FOUND]
