"""Telegram Stars in-process: the invoice, duplicate payments, the commission, /refund."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from infra.migrate import seed_plans
from models.domain.stars import payment_seal
from models.schema import (
    AccessHistory,
    CommissionEntry,
    Invoice,
    PaymentEvent,
    Referral,
    Referrer,
    StarPayment,
)
from tests.workers.harness import Pipeline, add_user, make_pipeline
from tests.workers.payments.conftest import REFERRER, SUBSCRIBER, access_of, count, texts_to
from workers.access.service import extend_access
from workers.context import use_context

ADMIN = 9001
STARS = 500


@pytest.fixture
def stars_pipeline(
    db_url: str, engine: Any, session_factory: sessionmaker[Session]
) -> Iterator[Pipeline]:
    """A context whose one plan sells for $10 or 500 Stars, one subscriber and one admin."""
    ctx = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine,
                        plans=f"month:30:10.00/{STARS}:1 month", admin_ids=str(ADMIN),
                        stars_usd_rate="0.02")
    with session_factory.begin() as session:
        seed_plans(session, ctx.settings)
    add_user(session_factory, SUBSCRIBER)
    with use_context(ctx):
        yield ctx


def profile(user_id: int = SUBSCRIBER) -> dict[str, Any]:
    return {"user_id": user_id, "username": None, "first_name": f"user{user_id}",
            "last_name": None, "language_code": "en"}


def stars_checkout(ctx: Pipeline, key: str = "tap-1") -> Invoice:
    ctx.send(task_names.STARS_CHECKOUT, profile(), "month", key)
    ctx.drain()
    with ctx.sessions() as session:
        invoice = session.scalars(select(Invoice).order_by(Invoice.id.desc())).first()
    assert invoice is not None
    return invoice


def pay(ctx: Pipeline, invoice: Invoice, *, charge: str = "stxCHARGE1", times: int = 1,
        amount: int = STARS) -> None:
    """Telegram charges the invoice and delivers `successful_payment` `times` times."""
    ctx.telegram.star_charges[charge] = SUBSCRIBER
    for _ in range(times):
        ctx.send(task_names.STARS_PAYMENT, sealed(ctx, charge=charge, payload=invoice.order_id,
                                                  amount=amount))
        ctx.drain()


def sealed(ctx: Pipeline, *, charge: str, payload: str, amount: int = STARS) -> dict[str, Any]:
    """The payment task as the bot sends it: Telegram's fields and the bot's seal on them."""
    fields = {"user_id": SUBSCRIBER, "charge_id": charge, "payload": payload,
              "currency": "XTR", "total_amount": amount}
    seal = payment_seal(key=ctx.settings.telegram_token.get_secret_value().encode(),
                        user_id=SUBSCRIBER, charge_id=charge, payload=payload, currency="XTR",
                        total_amount=amount)
    return {**fields, "provider_charge_id": None, "seal": seal}


def refund(ctx: Pipeline, key: str) -> None:
    command = {"actor_id": ADMIN, "text": f"/refund {SUBSCRIBER}", "request_key": key}
    ctx.send(task_names.ADMIN_STARS_REFUND, command, SUBSCRIBER)
    ctx.drain()


def refer(ctx: Pipeline, *, pct: Decimal) -> None:
    add_user(ctx.sessions, REFERRER)
    with ctx.sessions.begin() as session:
        now = datetime.now(UTC)
        session.add(Referrer(user_id=REFERRER, pct=pct, created_at=now, updated_at=now))
        session.flush()
        session.add(Referral(referred_user_id=SUBSCRIBER, referrer_id=REFERRER, created_at=now))


def history(ctx: Pipeline, action: str) -> list[AccessHistory]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AccessHistory).where(AccessHistory.action == action)
                                    .order_by(AccessHistory.id)))


def test_stars_button_sends_one_xtr_invoice_valued_at_the_rate(stars_pipeline: Pipeline) -> None:
    """A Stars checkout records a Stars invoice worth stars × STARS_USD_RATE and sends it in XTR."""
    invoice = stars_checkout(stars_pipeline)
    again = stars_checkout(stars_pipeline, "tap-2")
    assert again.id == invoice.id  # the open invoice is reused
    assert (invoice.method, invoice.amount_stars, invoice.amount_usd, invoice.stars_usd_rate) == (
        "stars", STARS, Decimal("10.00"), "0.02")
    sent = stars_pipeline.telegram.calls_of("sendInvoice")
    assert [(call.currency, call.payload, [p.amount for p in call.prices]) for call in sent] == [
        ("XTR", invoice.order_id, [STARS])] * 2
    assert not sent[0].provider_token


def test_a_crypto_checkout_never_reuses_an_open_stars_invoice(stars_pipeline: Pipeline) -> None:
    """Stars invoice open, then the crypto button: a CryptoCloud invoice of its own at $10."""
    stars_invoice = stars_checkout(stars_pipeline)
    stars_pipeline.send(task_names.CHECKOUT, profile(), "month", "tap-crypto")
    stars_pipeline.drain()
    with stars_pipeline.sessions() as session:
        crypto = session.scalars(select(Invoice).where(Invoice.method == "cryptocloud")).one()
    assert crypto.id != stars_invoice.id and crypto.amount_usd == Decimal("10.00")
    assert crypto.uuid is not None
    with stars_pipeline.sessions() as session:
        assert session.get_one(Invoice, stars_invoice.id).uuid is None


def test_plan_without_stars_price_is_refused_with_a_message(
    db_url: str, engine: Any, session_factory: sessionmaker[Session]
) -> None:
    """A Stars tap on a plan with no Stars price: no invoice, and the subscriber is told why."""
    ctx = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine)
    with session_factory.begin() as session:
        seed_plans(session, ctx.settings)
    add_user(session_factory, SUBSCRIBER)
    with use_context(ctx):
        ctx.send(task_names.STARS_CHECKOUT, profile(), "month", "tap-1")
        ctx.drain()
        assert count(ctx, Invoice) == 0
        assert texts.STARS_NOT_SOLD in texts_to(ctx, SUBSCRIBER)


def test_duplicate_successful_payment_activates_invites_and_credits_once(
    stars_pipeline: Pipeline,
) -> None:
    """successful_payment delivered three times: one activation, one invite, one commission."""
    refer(stars_pipeline, pct=Decimal("10"))
    invoice = stars_checkout(stars_pipeline)
    before = datetime.now(UTC)
    pay(stars_pipeline, invoice, times=3)
    access = access_of(stars_pipeline)
    assert access is not None and access.status == "active" and access.paid_through is not None
    assert access.paid_through >= before + timedelta(days=30)
    assert count(stars_pipeline, StarPayment) == 1
    assert count(stars_pipeline, PaymentEvent, PaymentEvent.provider == "stars") == 1
    assert len(history(stars_pipeline, "payment_activated")) == 1
    assert len(stars_pipeline.telegram.calls_of("createChatInviteLink")) == 1
    with stars_pipeline.sessions() as session:
        credits = session.scalars(select(CommissionEntry)).all()
    # The ledger is in USD: 500 Stars at $0.02 are $10.00, 10% of which is $1.00.
    assert [(c.referrer_id, c.amount, c.invoice_id) for c in credits] == [
        (REFERRER, Decimal("1.00"), invoice.id)]
    (credited,) = history(stars_pipeline, "commission_credited")
    assert credited.details is not None
    assert {"stars": STARS, "usd_per_star": "0.02"}.items() <= json.loads(credited.details).items()


def test_payment_for_an_unknown_payload_grants_nothing_and_alerts(stars_pipeline: Pipeline) -> None:
    """A charge whose payload names no Stars invoice: no access, a history row, an admin alert."""
    stars_pipeline.telegram.star_charges["stxODD"] = SUBSCRIBER
    stars_pipeline.send(task_names.STARS_PAYMENT,
                        sealed(stars_pipeline, charge="stxODD", payload="not-ours"))
    stars_pipeline.drain()
    assert access_of(stars_pipeline) is None
    assert len(history(stars_pipeline, "stars_payment_unmatched")) == 1
    assert any("stxODD" in text for text in texts_to(stars_pipeline, ADMIN))


@pytest.mark.parametrize("seal", [None, "0" * 64, "tampered"])
def test_a_payment_task_without_the_bots_seal_grants_nothing(
    stars_pipeline: Pipeline, seal: str | None,
) -> None:
    """Whatever can publish to the broker cannot forge a payment: unsealed or altered, refused."""
    invoice = stars_checkout(stars_pipeline)
    task = sealed(stars_pipeline, charge="stxFORGED", payload=invoice.order_id)
    if seal == "tampered":
        task["total_amount"] = 1  # the seal no longer covers what the task says
    else:
        task["seal"] = seal
    stars_pipeline.send(task_names.STARS_PAYMENT, task)
    stars_pipeline.drain()
    assert access_of(stars_pipeline) is None
    assert count(stars_pipeline, StarPayment) == 0
    assert len(history(stars_pipeline, "stars_payment_forged")) == 1


def test_second_charge_of_a_paid_invoice_is_not_activated_again(stars_pipeline: Pipeline) -> None:
    """Two charges for one invoice: one activation; the second is reported to the admins."""
    invoice = stars_checkout(stars_pipeline)
    pay(stars_pipeline, invoice, charge="stx1")
    pay(stars_pipeline, invoice, charge="stx2")
    assert len(history(stars_pipeline, "payment_activated")) == 1
    assert any("stx2" in text for text in texts_to(stars_pipeline, ADMIN))


def test_refund_twice_calls_telegram_once_and_takes_the_days_back_once(
    stars_pipeline: Pipeline,
) -> None:
    """/refund twice: one refundStarPayment, one history row, days back, commission reversed."""
    refer(stars_pipeline, pct=Decimal("10"))
    add_user(stars_pipeline.sessions, ADMIN)
    invoice = stars_checkout(stars_pipeline)
    pay(stars_pipeline, invoice)
    refund(stars_pipeline, "admin:1")
    refund(stars_pipeline, "admin:2")
    refund(stars_pipeline, "admin:1")  # the first command redelivered
    assert len(stars_pipeline.telegram.calls_of("refundStarPayment")) == 1
    assert len(history(stars_pipeline, "stars_refunded")) == 1
    assert count(stars_pipeline, CommissionEntry) == 0
    assert len(history(stars_pipeline, "commission_reversed")) == 1
    replies = texts_to(stars_pipeline, ADMIN)
    assert sum("Refunded 500 Stars" in text for text in replies) == 1
    assert texts.admin_refund_already(user_id=SUBSCRIBER) in replies
    with stars_pipeline.sessions() as session:
        star = session.scalars(select(StarPayment)).one()
    assert star.refunded_at is not None and star.refunded_by == ADMIN
    # 30 days were all the time there was: the subscriber is removed, as /edit remove does.
    access = access_of(stars_pipeline)
    assert access is not None and access.status == "removed"
    assert stars_pipeline.telegram.calls_of("banChatMember")
    assert any("refunded" in text for text in texts_to(stars_pipeline, SUBSCRIBER))


def test_refund_keeps_time_bought_otherwise(stars_pipeline: Pipeline) -> None:
    """A refund takes back only the payment's 30 days: 10 days bought before stay."""
    add_user(stars_pipeline.sessions, ADMIN)
    with stars_pipeline.sessions.begin() as session:
        extend_access(session, user_id=SUBSCRIBER, chat_id=stars_pipeline.settings.channel,
                      days=10, now=datetime.now(UTC), plan_id=None, action="admin_activated",
                      source="admin")
    pay(stars_pipeline, stars_checkout(stars_pipeline))
    refund(stars_pipeline, "admin:1")
    access = access_of(stars_pipeline)
    assert access is not None and access.status == "active" and access.paid_through is not None
    left = access.paid_through - datetime.now(UTC)
    assert timedelta(days=9, hours=23) < left <= timedelta(days=10)
    assert not stars_pipeline.telegram.calls_of("banChatMember")


def test_charge_already_refunded_at_telegram_counts_as_done(stars_pipeline: Pipeline) -> None:
    """An earlier attempt got through (400 CHARGE_ALREADY_REFUNDED): applied once, no error."""
    add_user(stars_pipeline.sessions, ADMIN)
    pay(stars_pipeline, stars_checkout(stars_pipeline))
    stars_pipeline.telegram.answer_next("refundStarPayment",
                                        "Bad Request: CHARGE_ALREADY_REFUNDED")
    refund(stars_pipeline, "admin:1")
    assert len(history(stars_pipeline, "stars_refunded")) == 1
    assert any("Refunded 500 Stars" in text for text in texts_to(stars_pipeline, ADMIN))


def test_refund_telegram_refuses_is_told_and_can_be_tried_again(stars_pipeline: Pipeline) -> None:
    """Telegram refuses: the admin reads its words, nothing changes, a later /refund works."""
    add_user(stars_pipeline.sessions, ADMIN)
    pay(stars_pipeline, stars_checkout(stars_pipeline))
    stars_pipeline.telegram.answer_next("refundStarPayment", "Bad Request: BALANCE_TOO_LOW")
    refund(stars_pipeline, "admin:1")
    assert texts.admin_refund_refused(user_id=SUBSCRIBER, error="Bad Request: BALANCE_TOO_LOW"
                                      ) in texts_to(stars_pipeline, ADMIN)
    assert history(stars_pipeline, "stars_refunded") == []
    assert access_of(stars_pipeline).status == "active"  # type: ignore[union-attr]
    refund(stars_pipeline, "admin:2")
    assert len(history(stars_pipeline, "stars_refunded")) == 1


def test_refund_without_a_stars_payment_says_so(stars_pipeline: Pipeline) -> None:
    """/refund for a user who never paid in Stars: no Telegram call, a precise answer."""
    refund(stars_pipeline, "admin:1")
    assert not stars_pipeline.telegram.calls_of("refundStarPayment")
    assert texts_to(stars_pipeline, ADMIN) == [texts.admin_refund_none(user_id=SUBSCRIBER)]


def test_refund_task_from_a_non_admin_is_refused(stars_pipeline: Pipeline) -> None:
    """A forged refund task from someone not in ADMIN_IDS: no refund, a refusal recorded."""
    pay(stars_pipeline, stars_checkout(stars_pipeline))
    command = {"actor_id": SUBSCRIBER, "text": "/refund 5001", "request_key": "forged"}
    stars_pipeline.send(task_names.ADMIN_STARS_REFUND, command, SUBSCRIBER)
    stars_pipeline.drain()
    assert not stars_pipeline.telegram.calls_of("refundStarPayment")
    assert len(history(stars_pipeline, "admin_refused")) == 1
