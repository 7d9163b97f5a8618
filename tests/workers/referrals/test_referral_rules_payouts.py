"""Referral rules in the worker: the minimum payout, the hold period, risk flags, exactly once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from infra.migrate import seed_plans
from infra.settings import load_settings
from models.domain.payout_risk import Churn, Relation, SharedWallet, WalletUse
from models.schema import (
    AccessHistory,
    CommissionEntry,
    Invoice,
    PayoutRequest,
    Plan,
    Referral,
    Referrer,
)
from tests.workers.harness import Pipeline, add_user, make_pipeline
from workers.context import use_context
from workers.dispatch import dispatch
from workers.referrals import service

ADMIN, REFERRER, BUYER, OTHER, FRIEND, SECOND, THIRD = 100, 9101, 9102, 9103, 9104, 9105, 9106
ERC20 = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"  # EIP-55 checksummed
OTHER_ERC20 = "0xCdCDCdCdcdcdcdCdcDcDCdcDcDCdCdcdCdcDCDcD"
EARNED_AT = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)  # long past: no hold left
WEEK = timedelta(days=7)
TICK = timedelta(microseconds=1)


def make_referrer(sessions: sessionmaker[Session], user_id: int, *,
                  referred_by: int | None = None) -> None:
    """A user who is a 10 % referrer (brought in by `referred_by`, if given)."""
    add_user(sessions, user_id, referred_by=referred_by)
    with sessions.begin() as session:
        now = datetime.now(UTC)
        session.add(Referrer(user_id=user_id, pct=Decimal(10), created_at=now, updated_at=now))
        if referred_by is not None:
            session.add(Referral(referred_user_id=user_id, referrer_id=referred_by,
                                 created_at=now))


def bring_in(sessions: sessionmaker[Session], referrer_id: int, user_id: int) -> None:
    """`referrer_id` brought `user_id` in."""
    add_user(sessions, user_id, referred_by=referrer_id)
    with sessions.begin() as session:
        session.add(Referral(referred_user_id=user_id, referrer_id=referrer_id,
                             created_at=datetime.now(UTC)))


def pay(sessions: sessionmaker[Session], user_id: int, *, commission: str | None = None,
        at: datetime = EARNED_AT) -> None:
    """`user_id` paid one invoice at `at`; their referrer earned `commission` then, if given."""
    with sessions.begin() as session:
        plan = session.scalars(select(Plan)).one()
        count = session.scalar(select(func.count()).select_from(Invoice))
        invoice = Invoice(order_id=f"o{count}", user_id=user_id, plan_id=plan.id,
                          amount_usd=Decimal("50.00"), status="paid", activated_at=at)
        session.add(invoice)
        session.flush()
        if commission is not None:
            referrer_id = session.scalars(select(Referral.referrer_id)
                                          .where(Referral.referred_user_id == user_id)).one()
            session.add(CommissionEntry(referrer_id=referrer_id, kind="credit",
                                        amount=Decimal(commission), invoice_id=invoice.id,
                                        created_at=at))


@pytest.fixture
def seeded(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Plans seeded; REFERRER earned $8.00 at EARNED_AT from BUYER's one payment."""
    with session_factory.begin() as session:
        seed_plans(session, load_settings(_env_file=None))
    make_referrer(session_factory, REFERRER)
    bring_in(session_factory, REFERRER, BUYER)
    pay(session_factory, BUYER, commission="8.00")
    return session_factory


def pipeline(db_url: str, engine: Any, sessions: sessionmaker[Session],
             **settings: str) -> Iterator[Pipeline]:
    ctx = make_pipeline(db_url=db_url, sessions=sessions, engine=engine, admin_ids=str(ADMIN),
                        **settings)
    with use_context(ctx):
        yield ctx


@pytest.fixture
def ctx(db_url: str, engine: Any, seeded: sessionmaker[Session]) -> Iterator[Pipeline]:
    """The pipeline with the default rules (no hold, $1.00 minimum)."""
    yield from pipeline(db_url, engine, seeded)


def ask(ctx: Pipeline, amount: str, *, key: str = "cb1", wallet: str = ERC20,
        network: str = "ERC20", user_id: int = REFERRER) -> None:
    ctx.send(task_names.REQUEST_PAYOUT, user_id, network, wallet, amount, key)
    ctx.drain()


def ask_at(ctx: Pipeline, now: datetime, amount: str, *, key: str) -> None:
    """The use case run at `now` (the injected clock) with a 7-day hold."""
    with ctx.sessions.begin() as session:
        effects = service.request_payout(
            session, user_id=REFERRER, network="ERC20", wallet=ERC20, amount=Decimal(amount),
            request_key=key, admins=frozenset({ADMIN}), now=now, hold=WEEK,
            minimum=Decimal("1.00"))
    dispatch(effects)
    ctx.drain()


def decide(ctx: Pipeline, request_id: int, *, approve: bool) -> None:
    ctx.send(task_names.DECIDE_PAYOUT, request_id, approve, ADMIN, "payout_decide")
    ctx.drain()


def texts_to(ctx: Pipeline, chat_id: int) -> list[str]:
    return [str(c.text) for c in ctx.telegram.calls_of("sendMessage") if c.chat_id == chat_id]


def open_requests(ctx: Pipeline) -> list[PayoutRequest]:
    with ctx.sessions() as session:
        return list(session.scalars(select(PayoutRequest).where(PayoutRequest.status == "open")))


def history_details(ctx: Pipeline, action: str) -> dict[str, Any]:
    with ctx.sessions() as session:
        row = session.scalars(select(AccessHistory).where(AccessHistory.action == action)
                              .order_by(AccessHistory.id.desc())).first()
        assert row is not None and row.details is not None
        return dict(json.loads(row.details))


def old_request(sessions: sessionmaker[Session], user_id: int, wallet: str,
                network: str = "ERC20") -> int:
    """A decided (rejected) payout request of `user_id` to `wallet`; its id."""
    now = datetime.now(UTC)
    with sessions.begin() as session:
        request = PayoutRequest(referrer_id=user_id, amount=Decimal("2.00"), network=network,
                                wallet=wallet, status="rejected", created_at=now,
                                decided_at=now, decided_by=ADMIN)
        session.add(request)
        session.flush()
        return request.id


# The minimum payout -----------------------------------------------------------------------

@pytest.fixture
def minimum_5(db_url: str, engine: Any, seeded: sessionmaker[Session]) -> Iterator[Pipeline]:
    """The pipeline with PAYOUT_MIN_USD=5."""
    yield from pipeline(db_url, engine, seeded, payout_min_usd="5")


def test_a_request_under_the_minimum_is_refused_with_the_numbers(minimum_5: Pipeline) -> None:
    """$4.99 with a $5.00 minimum opens nothing; the referrer reads the minimum and what is
    available now."""
    ask(minimum_5, "4.99")
    assert open_requests(minimum_5) == []
    (told,) = texts_to(minimum_5, REFERRER)
    assert told == ("Payout request not accepted: $4.99 is below the minimum payout of $5.00; "
                    "you have $8.00 available now.")


def test_the_minimum_itself_is_accepted(minimum_5: Pipeline) -> None:
    """Exactly the minimum opens a request."""
    ask(minimum_5, "5.00")
    assert [r.amount for r in open_requests(minimum_5)] == [Decimal("5.00")]


def test_more_than_available_is_refused_with_the_numbers(ctx: Pipeline) -> None:
    """Asking for more than is available names the available amount and the minimum."""
    ask(ctx, "8.01")
    assert open_requests(ctx) == []
    assert texts_to(ctx, REFERRER) == [
        "Payout request not accepted: $8.01 is more than the $8.00 available now (the minimum "
        "payout is $1.00)."]


# The hold period -------------------------------------------------------------------------

def test_hold_is_respected_across_the_boundary(ctx: Pipeline) -> None:
    """A microsecond before payment + 7 days nothing is available; at that instant it all is."""
    ask_at(ctx, EARNED_AT + WEEK - TICK, "1.00", key="early")
    assert open_requests(ctx) == []
    assert texts_to(ctx, REFERRER) == [texts.payout_refused_amount(
        reason="above_available", asked=Decimal("1.00"), minimum=Decimal("1.00"),
        available=Decimal("0.00"))]
    ask_at(ctx, EARNED_AT + WEEK, "8.00", key="on-time")
    assert [r.amount for r in open_requests(ctx)] == [Decimal("8.00")]


def test_only_the_part_past_its_hold_is_available(ctx: Pipeline) -> None:
    """With one old and one young commission, only the old one can be asked for."""
    bring_in(ctx.sessions, REFERRER, SECOND)
    pay(ctx.sessions, SECOND, commission="3.00", at=EARNED_AT + timedelta(days=5))
    now = EARNED_AT + WEEK + timedelta(days=1)
    ask_at(ctx, now, "8.01", key="too-much")
    assert open_requests(ctx) == []
    ask_at(ctx, now, "8.00", key="right")
    assert [r.amount for r in open_requests(ctx)] == [Decimal("8.00")]


@pytest.fixture
def hold_7(db_url: str, engine: Any, seeded: sessionmaker[Session]) -> Iterator[Pipeline]:
    """The pipeline with REFERRAL_HOLD_DAYS=7."""
    yield from pipeline(db_url, engine, seeded, referral_hold_days="7")


def test_the_task_applies_the_hold_setting(hold_7: Pipeline) -> None:
    """Through the task, a commission earned just now is on hold; one past its week is not."""
    bring_in(hold_7.sessions, REFERRER, SECOND)
    pay(hold_7.sessions, SECOND, commission="3.00", at=datetime.now(UTC) - timedelta(hours=1))
    ask(hold_7, "8.01", key="cb1")
    assert open_requests(hold_7) == []
    assert "$8.00 available now" in texts_to(hold_7, REFERRER)[-1]
    ask(hold_7, "8.00", key="cb2")
    assert [r.amount for r in open_requests(hold_7)] == [Decimal("8.00")]


# Risk flags ------------------------------------------------------------------------------

def test_no_flag_on_an_ordinary_request(ctx: Pipeline) -> None:
    """Another user's different wallet and a single payer raise nothing: the alert is plain."""
    make_referrer(ctx.sessions, OTHER)
    old_request(ctx.sessions, OTHER, OTHER_ERC20)
    ask(ctx, "4.00")
    (request,) = open_requests(ctx)
    assert texts_to(ctx, ADMIN) == [texts.payout_request_alert(
        request_id=request.id, referrer_id=REFERRER, amount=Decimal("4.00"))]
    assert "flags" not in history_details(ctx, "payout_requested")


@pytest.mark.parametrize(
    ("setup", "relation"),
    [("referred", Relation.REFERRED), ("referrer", Relation.REFERRER),
     ("other", Relation.OTHER)],
)
def test_shared_wallet_is_flagged_with_who_shares_it(ctx: Pipeline, setup: str,
                                                     relation: Relation) -> None:
    """The wallet of another user's earlier request (someone the referrer brought in, who
    brought the referrer in, or any other referrer; in any letter case, on another EVM
    network) flags the request: the admins' alert and the history say so."""
    if setup == "referred":
        make_referrer(ctx.sessions, FRIEND, referred_by=REFERRER)
    elif setup == "referrer":
        make_referrer(ctx.sessions, FRIEND)
        with ctx.sessions.begin() as session:
            session.add(Referral(referred_user_id=REFERRER, referrer_id=FRIEND,
                                 created_at=datetime.now(UTC)))
    else:
        make_referrer(ctx.sessions, FRIEND)
    shared = old_request(ctx.sessions, FRIEND, ERC20.lower(), network="BEP20")
    ask(ctx, "4.00")
    flag = SharedWallet(uses=(WalletUse(request_id=shared, user_id=FRIEND, relation=relation),))
    assert texts_to(ctx, ADMIN)[-1].endswith(texts.payout_alert_flagged(flags=(flag,)))
    details = history_details(ctx, "payout_requested")
    assert details["flags"] == ["shared_wallet"]
    assert details["flag_reasons"] == [texts.payout_flag(flag)]


def test_churn_is_flagged_from_three_payers_who_paid_once(ctx: Pipeline) -> None:
    """Three referred payers (BUYER included) who each paid once flag the request as churn."""
    for user_id in (SECOND, THIRD):
        bring_in(ctx.sessions, REFERRER, user_id)
        pay(ctx.sessions, user_id)
    ask(ctx, "4.00")
    assert texts_to(ctx, ADMIN)[-1].endswith(
        texts.payout_alert_flagged(flags=(Churn(payers=3, paid_once=3),)))
    assert history_details(ctx, "payout_requested")["flags"] == ["churn"]


@pytest.mark.parametrize("second_payment", [False, True])
def test_churn_is_not_flagged_with_too_few_payers_or_returning_ones(
    ctx: Pipeline, second_payment: bool
) -> None:
    """Two once-payers are too few to judge; three of whom two paid again are no churn."""
    bring_in(ctx.sessions, REFERRER, SECOND)
    pay(ctx.sessions, SECOND)
    if second_payment:
        bring_in(ctx.sessions, REFERRER, THIRD)
        pay(ctx.sessions, THIRD)
        pay(ctx.sessions, THIRD)
        pay(ctx.sessions, SECOND)
    ask(ctx, "4.00")
    assert "Flagged" not in texts_to(ctx, ADMIN)[-1]


def test_approving_a_flagged_request_works_and_records_the_flags(ctx: Pipeline) -> None:
    """A flagged request is approved like any other (one debit); the decision's history row
    and the admin's reply carry the flags."""
    make_referrer(ctx.sessions, FRIEND, referred_by=REFERRER)
    shared = old_request(ctx.sessions, FRIEND, ERC20)
    ask(ctx, "4.00")
    (request,) = open_requests(ctx)
    decide(ctx, request.id, approve=True)
    flag = SharedWallet(uses=(WalletUse(request_id=shared, user_id=FRIEND,
                                        relation=Relation.REFERRED),))
    details = history_details(ctx, "payout_approved")
    assert (details["flags"], details["flag_reasons"]) == (["shared_wallet"],
                                                           [texts.payout_flag(flag)])
    assert texts_to(ctx, ADMIN)[-1] == texts.payout_decided_flagged(
        request_id=request.id, approved=True, flags=(flag,))
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CommissionEntry)
                              .where(CommissionEntry.kind == "debit")) == 1


def test_rejecting_an_unflagged_request_records_no_flags(ctx: Pipeline) -> None:
    """A decision without flags says nothing about flags."""
    ask(ctx, "4.00")
    (request,) = open_requests(ctx)
    decide(ctx, request.id, approve=False)
    assert "flags" not in history_details(ctx, "payout_rejected")
    assert texts_to(ctx, ADMIN)[-1] == texts.payout_decided(request_id=request.id,
                                                             approved=False)


# Exactly once ----------------------------------------------------------------------------

@pytest.mark.parametrize("second", [True, False], ids=["approve-approve", "approve-reject"])
def test_two_concurrent_decisions_change_the_ledger_once(ctx: Pipeline, second: bool) -> None:
    """Two admins' decisions on one flagged request racing in two transactions: one wins, the
    ledger holds at most one debit, and exactly one decision is recorded."""
    make_referrer(ctx.sessions, FRIEND, referred_by=REFERRER)
    old_request(ctx.sessions, FRIEND, ERC20)
    ask(ctx, "4.00")
    (request,) = open_requests(ctx)
    start = threading.Barrier(2)
    outcomes: list[bool] = []
    errors: list[BaseException] = []

    def decide_in_thread(approve: bool) -> None:
        try:
            start.wait(timeout=10)
            with ctx.sessions.begin() as session:
                decision = service.decide_payout(
                    session, request_id=request.id, approve=approve, actor_id=ADMIN,
                    command="payout_decide", admins=frozenset({ADMIN}), now=datetime.now(UTC))
            outcomes.append(decision.decided)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=decide_in_thread, args=(approve,))
               for approve in (True, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(outcomes) == [False, True]
    with ctx.sessions() as session:
        status = session.get_one(PayoutRequest, request.id).status
        debits = session.scalar(select(func.count()).select_from(CommissionEntry)
                                .where(CommissionEntry.kind == "debit"))
        decisions = session.scalar(select(func.count()).select_from(AccessHistory).where(
            AccessHistory.action.in_(("payout_approved", "payout_rejected"))))
    assert debits == (1 if status == "approved" else 0)
    assert decisions == 1
