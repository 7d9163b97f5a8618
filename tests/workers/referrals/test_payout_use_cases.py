"""Payout requests and decisions run in-process: the rules, and the debit written exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from infra.migrate import seed_plans
from infra.settings import load_settings
from models.schema import AccessHistory, CommissionEntry, Invoice, PayoutRequest, Plan, Referrer
from tests.workers.harness import Pipeline, add_user, make_pipeline
from workers.context import use_context

ADMIN, REFERRER, BUYER = 100, 9001, 9002
ERC20 = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"  # EIP-55 checksummed
TRC20 = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"


@pytest.fixture
def ctx(db_url: str, engine: Any, session_factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    """A referrer at 10 % with $5.00 earned from one paid invoice of the user they brought."""
    with session_factory.begin() as session:
        seed_plans(session, load_settings(_env_file=None))
    add_user(session_factory, REFERRER)
    add_user(session_factory, BUYER, referred_by=REFERRER)
    with session_factory.begin() as session:
        now = datetime.now(UTC)
        session.add(Referrer(user_id=REFERRER, pct=Decimal(10), created_at=now, updated_at=now))
        plan = session.scalars(select(Plan)).one()
        invoice = Invoice(order_id="o1", user_id=BUYER, plan_id=plan.id,
                          amount_usd=Decimal("50.00"), status="paid", activated_at=now)
        session.add(invoice)
        session.flush()
        session.add(CommissionEntry(referrer_id=REFERRER, kind="credit", amount=Decimal("5.00"),
                                    invoice_id=invoice.id, created_at=now))
    pipeline = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine,
                             admin_ids=str(ADMIN))
    with use_context(pipeline):
        yield pipeline


def ask(ctx: Pipeline, amount: str, *, key: str = "cb1", network: str = "ERC20",
        wallet: str = ERC20, user_id: int = REFERRER) -> None:
    ctx.send(task_names.REQUEST_PAYOUT, user_id, network, wallet, amount, key)
    ctx.drain()


def decide(ctx: Pipeline, request_id: int, *, approve: bool) -> list[tuple[str, Any]]:
    ctx.send(task_names.DECIDE_PAYOUT, request_id, approve, ADMIN, "payout_decide")
    return ctx.drain()


def last_text(ctx: Pipeline, chat_id: int) -> str:
    return str([c.text for c in ctx.telegram.calls_of("sendMessage") if c.chat_id == chat_id][-1])


def requests(ctx: Pipeline) -> list[PayoutRequest]:
    with ctx.sessions() as session:
        return list(session.scalars(select(PayoutRequest).order_by(PayoutRequest.id)))


def debits(ctx: Pipeline) -> int:
    with ctx.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(CommissionEntry)
                                  .where(CommissionEntry.kind == "debit")) or 0)


def test_request_opens_and_tells_user_and_admins(ctx: Pipeline) -> None:
    """A valid request is stored open; the referrer and every admin hear of it."""
    ask(ctx, "4.50", network="TRC20", wallet=f"  {TRC20} ")
    (request,) = requests(ctx)
    assert (request.status, request.amount, request.wallet) == ("open", Decimal("4.50"), TRC20)
    assert last_text(ctx, REFERRER) == texts.payout_received(amount=Decimal("4.50"))
    assert f"#{request.id}" in last_text(ctx, ADMIN)


@pytest.mark.parametrize(
    ("amount", "network", "wallet", "reason"),
    [
        ("5.01", "ERC20", ERC20, "above_available"),
        ("0.50", "ERC20", ERC20, "below_minimum"),
        ("3.00", "TRC20", TRC20[:-1] + "7", "bad_wallet"),
        ("3.00", "BEP20", "0x123", "bad_wallet"),
    ],
)
def test_request_refused(ctx: Pipeline, amount: str, network: str, wallet: str,
                         reason: str) -> None:
    """A request breaking a rule opens nothing and the referrer is told which rule."""
    ask(ctx, amount, network=network, wallet=wallet)
    assert requests(ctx) == []
    assert last_text(ctx, REFERRER) == (
        texts.payout_refused(reason=reason) if reason == "bad_wallet" else
        texts.payout_refused_amount(reason=reason, asked=Decimal(amount),
                                    minimum=Decimal("1.00"), available=Decimal("5.00")))


def test_non_referrer_cannot_request(ctx: Pipeline) -> None:
    """Someone who is not a referrer gets the explanation and no request."""
    ask(ctx, "1.00", user_id=BUYER)
    assert requests(ctx) == []
    assert last_text(ctx, BUYER) == texts.payout_refused(reason="not_a_referrer")


def test_one_open_request_at_a_time(ctx: Pipeline) -> None:
    """A second request while one is open is refused; a redelivery of the first stays quiet."""
    ask(ctx, "2.00", key="cb1")
    ask(ctx, "2.00", key="cb1")
    assert len([c for c in ctx.telegram.calls_of("sendMessage") if c.chat_id == REFERRER]) == 1
    ask(ctx, "1.00", key="cb2")
    assert len(requests(ctx)) == 1
    assert last_text(ctx, REFERRER) == texts.payout_refused(reason="open_request_exists")


def test_approve_debits_exactly_once(ctx: Pipeline) -> None:
    """Approving twice writes one debit; the second approval only says it was decided."""
    ask(ctx, "4.00")
    (request,) = requests(ctx)
    assert decide(ctx, request.id, approve=True)[0][1] is True
    assert decide(ctx, request.id, approve=True)[0][1] is False
    assert debits(ctx) == 1
    (decided,) = requests(ctx)
    assert (decided.status, decided.decided_by) == ("approved", ADMIN)
    assert "approved" in [c.text for c in ctx.telegram.calls_of("sendMessage")
                          if c.chat_id == REFERRER][-1]
    assert last_text(ctx, ADMIN) == texts.payout_already_decided(request_id=request.id)
    with ctx.sessions() as session:
        row = session.scalars(select(AccessHistory)
                              .where(AccessHistory.action == "payout_approved")).one()
        assert (row.source, row.actor_id) == ("admin", ADMIN)


def test_after_approval_only_the_rest_is_available(ctx: Pipeline) -> None:
    """The approved amount leaves the balance: asking for more than what is left is refused."""
    ask(ctx, "4.00", key="cb1")
    decide(ctx, requests(ctx)[0].id, approve=True)
    ask(ctx, "1.01", key="cb2")
    assert last_text(ctx, REFERRER) == texts.payout_refused_amount(
        reason="above_available", asked=Decimal("1.01"), minimum=Decimal("1.00"),
        available=Decimal("1.00"))
    ask(ctx, "1.00", key="cb3")
    assert [r.status for r in requests(ctx)] == ["approved", "open"]


def test_reject_debits_nothing(ctx: Pipeline) -> None:
    """A rejected request writes no debit and frees the referrer to ask again."""
    ask(ctx, "4.00", key="cb1")
    decide(ctx, requests(ctx)[0].id, approve=False)
    assert debits(ctx) == 0
    assert last_text(ctx, REFERRER) == texts.payout_rejected(amount=Decimal("4.00"))
    ask(ctx, "5.00", key="cb2")
    assert [r.status for r in requests(ctx)] == ["rejected", "open"]
