"""Payments end to end in-process: checkout, settlement, exactly-once grant, poll, commission."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from infra import task_names, texts
from infra.telegram import TelegramBlocked, TelegramTransient
from models import inbox
from models.schema import (
    Access,
    AccessHistory,
    CommissionEntry,
    InviteLink,
    Invoice,
    Referral,
    Referrer,
    TelegramEffect,
    User,
)
from tests.workers.harness import Pipeline, add_user
from tests.workers.payments.conftest import (
    REFERRER,
    SUBSCRIBER,
    access_of,
    checkout,
    count,
    poll_sees,
    report,
    texts_to,
)
from workers.payments import service


def test_checkout_sends_one_pay_link_and_reuses_the_open_invoice(pipeline: Pipeline) -> None:
    """Two taps on a plan: one CryptoCloud invoice, two messages carrying its link."""
    first = checkout(pipeline, "tap-1")
    second = checkout(pipeline, "tap-2")
    assert first.id == second.id and first.pay_link
    assert len(pipeline.payments.created) == 1  # type: ignore[attr-defined]
    buttons = [
        call.reply_markup.inline_keyboard[0][0].url
        for call in pipeline.telegram.calls_of("sendMessage")
    ]
    assert buttons == [first.pay_link, first.pay_link]


def test_paid_invoice_grants_access_once_however_often_it_is_reported(pipeline: Pipeline) -> None:
    """paid reported three times: one activation, one invite link, one DM with it."""
    invoice = checkout(pipeline)
    before = datetime.now(UTC)
    for _ in range(3):
        report(pipeline, invoice, "paid")
        pipeline.drain()
    access = access_of(pipeline)
    assert access is not None and access.status == "active"
    assert access.paid_through is not None
    assert before + timedelta(days=30) <= access.paid_through <= datetime.now(UTC) + timedelta(
        days=30)
    assert count(pipeline, AccessHistory, AccessHistory.action == "payment_activated") == 1
    assert len(pipeline.telegram.calls_of("createChatInviteLink")) == 1
    assert count(pipeline, InviteLink) == 1
    invites = [text for text in texts_to(pipeline, SUBSCRIBER) if "invite link" in text]
    assert len(invites) == 1


def refer(ctx: Pipeline, *, pct: Decimal) -> None:
    """REFERRER, an active referrer at `pct`, brought SUBSCRIBER."""
    add_user(ctx.sessions, REFERRER)
    with ctx.sessions.begin() as session:
        now = datetime.now(UTC)
        session.add(Referrer(user_id=REFERRER, pct=pct, created_at=now, updated_at=now))
        session.flush()
        session.add(Referral(referred_user_id=SUBSCRIBER, referrer_id=REFERRER, created_at=now))


def test_commission_is_credited_once_to_the_referrer(pipeline: Pipeline) -> None:
    """A referred subscriber pays: one ledger credit of pct × paid, never repeated."""
    refer(pipeline, pct=Decimal("12.50"))
    invoice = checkout(pipeline)
    report(pipeline, invoice, "paid")
    report(pipeline, invoice, "overpaid", paid_usd=Decimal("10.00"))
    pipeline.drain()
    with pipeline.sessions() as session:
        credits = session.scalars(select(CommissionEntry)).all()
    assert [(c.referrer_id, c.amount, c.invoice_id) for c in credits] == [
        (REFERRER, Decimal("1.25"), invoice.id)
    ]


def test_partial_then_top_up_activates_once(pipeline: Pipeline) -> None:
    """A partial payment tells the exact remainder; the top-up activates exactly once."""
    invoice = checkout(pipeline)
    report(pipeline, invoice, "partial", paid_usd=Decimal("4.00"))
    pipeline.drain()
    assert access_of(pipeline) is None
    assert any("$6.00 is still missing" in text for text in texts_to(pipeline, SUBSCRIBER))
    report(pipeline, invoice, "paid", paid_usd=Decimal("10.00"))
    pipeline.drain()
    access = access_of(pipeline)
    assert access is not None and access.status == "active"
    assert count(pipeline, AccessHistory, AccessHistory.action == "payment_activated") == 1


def test_overpayment_becomes_extra_days(pipeline: Pipeline) -> None:
    """$15 paid for a $10 / 30-day plan adds 15 days on top."""
    invoice = checkout(pipeline)
    report(pipeline, invoice, "overpaid", paid_usd=Decimal("15.00"))
    pipeline.drain()
    access = access_of(pipeline)
    assert access is not None and access.paid_through is not None
    assert access.paid_through > datetime.now(UTC) + timedelta(days=44)
    with pipeline.sessions() as session:
        stored = session.get_one(Invoice, invoice.id)
    assert stored.surplus_usd == Decimal("5.00")


def test_unknown_invoice_alerts_admins_and_grants_nothing(pipeline: Pipeline) -> None:
    """A verified event about an invoice nobody ordered: history row, admin alert, no access."""
    with pipeline.sessions.begin() as session:
        entry = inbox.record_payment_event(
            session, invoice_uuid="ZZZZ9999", reported_status="paid", source="postback",
            payload="{}", now=datetime.now(UTC),
        )
    pipeline.send(task_names.PROCESS_PAYMENT_EVENT, entry.id)
    pipeline.drain()
    assert count(pipeline, Access) == 0
    assert count(pipeline, AccessHistory, AccessHistory.action == "payment_unknown") == 1
    admin = next(iter(pipeline.settings.admins))
    assert any("unknown invoice" in text for text in texts_to(pipeline, admin))


def test_amount_mismatch_grants_nothing(pipeline: Pipeline) -> None:
    """CryptoCloud reporting another amount than we invoiced is refused and reported."""
    invoice = checkout(pipeline)
    with pipeline.sessions.begin() as session:
        session.get_one(Invoice, invoice.id).amount_usd = Decimal("9.99")
    report(pipeline, invoice, "paid")
    pipeline.drain()
    assert access_of(pipeline) is None
    assert count(pipeline, AccessHistory, AccessHistory.action == "payment_mismatch") == 1


def test_poll_finds_a_payment_whose_postback_never_came(pipeline: Pipeline) -> None:
    """No postback at all: the fallback poll feeds the paid invoice into the same pipeline."""
    invoice = checkout(pipeline)
    assert invoice.uuid is not None
    poll_sees(pipeline, invoice, "paid")
    access = access_of(pipeline)
    assert access is not None and access.status == "active"
    with pipeline.sessions() as session:
        assert session.get_one(Invoice, invoice.id).last_polled_at is not None


def test_poll_honours_money_that_arrives_after_the_invoice_was_canceled(
    pipeline: Pipeline,
) -> None:
    """Canceled at expiry, then paid late with no postback: the poll still activates it."""
    invoice = checkout(pipeline)
    poll_sees(pipeline, invoice, "canceled")
    with pipeline.sessions() as session:
        assert session.get_one(Invoice, invoice.id).status == "canceled"
    assert access_of(pipeline) is None
    poll_sees(pipeline, invoice, "paid")
    access = access_of(pipeline)
    assert access is not None and access.status == "active"
    assert count(pipeline, AccessHistory, AccessHistory.action == "payment_activated") == 1


def test_an_invoice_that_expires_unpaid_tells_the_subscriber_once(pipeline: Pipeline) -> None:
    """CryptoCloud cancels an unpaid invoice at expiry (no postback): the poll tells them once,
    with a button back to the plans."""
    invoice = checkout(pipeline)
    for _ in range(2):
        poll_sees(pipeline, invoice, "canceled")
    told = [call for call in pipeline.telegram.calls_of("sendMessage")
            if call.chat_id == SUBSCRIBER and call.text == texts.invoice_canceled()]
    assert len(told) == 1
    # Its button is pressed through the bot by tests/bot_frontend/test_bot_buttons.py.
    assert told[0].reply_markup is not None


def test_an_unpaid_invoice_a_newer_checkout_replaced_expires_quietly(pipeline: Pipeline) -> None:
    """The subscriber already has a newer invoice: the old one's expiry is not news to them."""
    invoice = checkout(pipeline)
    with pipeline.sessions.begin() as session:
        newer = session.get_one(Invoice, invoice.id)
        session.add(Invoice(order_id="ord_newer", user_id=SUBSCRIBER, plan_id=newer.plan_id,
                            amount_usd=newer.amount_usd, currency="USD", status="created",
                            created_at=datetime.now(UTC), updated_at=datetime.now(UTC)))
    poll_sees(pipeline, invoice, "canceled")
    with pipeline.sessions() as session:
        assert session.get_one(Invoice, invoice.id).status == "canceled"
    assert texts.invoice_canceled() not in texts_to(pipeline, SUBSCRIBER)


def test_blocked_subscriber_is_recorded_not_retried(pipeline: Pipeline) -> None:
    """A user who blocked the bot: the DM effect fails once and the user is marked blocked."""
    invoice = checkout(pipeline)
    pipeline.telegram.fail_next(
        "sendMessage", TelegramBlocked(user_id=SUBSCRIBER, description="bot was blocked")
    )
    report(pipeline, invoice, "paid")
    pipeline.drain()
    with pipeline.sessions() as session:
        user = session.get_one(User, SUBSCRIBER)
        failed = session.scalars(
            select(TelegramEffect).where(TelegramEffect.status == "failed")).all()
    assert user.blocked_bot_at is not None
    assert len(failed) == 1
    access = access_of(pipeline)
    assert access is not None and access.status == "active"  # paid access is kept regardless


def test_partial_payment_on_an_expired_invoice_is_told_recorded_and_later_money_honoured(
    pipeline: Pipeline,
) -> None:
    """Part paid, then expired: subscriber and admins are told once, the amount stays recorded,
    and a payment confirmed later still activates."""
    invoice = checkout(pipeline)
    report(pipeline, invoice, "partial", paid_usd=Decimal("4.00"))
    pipeline.drain()
    for _ in range(2):
        poll_sees(pipeline, invoice, "canceled", paid_usd=Decimal(0))
    expired = [text for text in texts_to(pipeline, SUBSCRIBER) if "expired" in text]
    assert len(expired) == 1 and "$4.00 of $10.00" in expired[0]
    for admin in pipeline.settings.admins:
        alerts = [text for text in texts_to(pipeline, admin) if f"INV-{invoice.uuid}" in text]
        assert len(alerts) == 1 and "$4.00" in alerts[0]
    with pipeline.sessions() as session:
        stored = session.get_one(Invoice, invoice.id)
    assert stored.status == "canceled" and stored.paid_usd == Decimal("4.00")
    assert count(pipeline, AccessHistory, AccessHistory.action == "payment_partial_expired") == 1

    poll_sees(pipeline, invoice, "paid", paid_usd=Decimal("10.00"))
    access = access_of(pipeline)
    assert access is not None and access.status == "active"


def test_poll_reports_each_top_up_of_a_partial_payment(pipeline: Pipeline) -> None:
    """Two partial amounts seen only by the poll: each one tells the subscriber the new
    remainder (the poll's inbox key carries the amount)."""
    invoice = checkout(pipeline)
    for paid in ("3.00", "7.00"):
        poll_sees(pipeline, invoice, "partial", paid_usd=Decimal(paid))
    remainders = [text for text in texts_to(pipeline, SUBSCRIBER) if "still missing" in text]
    assert ["$7.00" in remainders[0], "$3.00" in remainders[-1]] == [True, True]
    assert len(remainders) == 2
    with pipeline.sessions() as session:
        assert session.get_one(Invoice, invoice.id).paid_usd == Decimal("7.00")


def test_a_second_settlement_past_the_status_machine_still_activates_once(
    pipeline: Pipeline,
) -> None:
    """The invoice's status is rewound to created (by hand, or a restored backup) and a
    distinct event settles it again: activated_at, not the status, keeps the grant to one."""
    invoice = checkout(pipeline)
    report(pipeline, invoice, "paid")
    pipeline.drain()
    first = access_of(pipeline)
    assert first is not None and first.paid_through is not None
    with pipeline.sessions.begin() as session:
        session.get_one(Invoice, invoice.id).status = "created"
    assert invoice.uuid is not None
    with pipeline.sessions.begin() as session:
        settlement = service.settle_invoice(
            session, state=pipeline.payments.invoice_info([invoice.uuid])[0],
            now=datetime.now(UTC), admins=pipeline.settings.admins)
    pipeline.drain()
    assert settlement.effects == []
    assert count(pipeline, AccessHistory, AccessHistory.action == "payment_activated") == 1
    again = access_of(pipeline)
    assert again is not None and again.paid_through == first.paid_through


def test_commission_is_a_share_of_the_amount_paid_not_of_the_price(pipeline: Pipeline) -> None:
    """$15 paid on a $10 plan at 12.5 %: the referrer earns $1.88 (15 × 12.5 %, rounded half
    up once), not $1.25."""
    refer(pipeline, pct=Decimal("12.50"))
    invoice = checkout(pipeline)
    report(pipeline, invoice, "overpaid", paid_usd=Decimal("15.00"))
    pipeline.drain()
    with pipeline.sessions() as session:
        amounts = session.scalars(select(CommissionEntry.amount)).all()
    assert amounts == [Decimal("1.88")]

def test_the_invite_message_confirms_the_payment_first(pipeline: Pipeline) -> None:
    """Settled (twice reported): one message, once, opening with "payment received" and then
    carrying the invite link (Telegram allows one message a second per chat: two would hold
    the invite back a second)."""
    invoice = checkout(pipeline)
    report(pipeline, invoice, "overpaid", paid_usd=Decimal("15.00"))
    report(pipeline, invoice, "overpaid", paid_usd=Decimal("15.00"))
    pipeline.drain()
    after_pay_link = texts_to(pipeline, SUBSCRIBER)[1:]
    assert len(after_pay_link) == 1, after_pay_link
    [message] = after_pay_link
    received, invite = message.split("\n", 1)
    assert received.startswith("Payment received") and "15 extra days" in received
    assert "invite link" in invite


def test_checkout_makes_the_invite_link_so_payment_costs_no_link_call(pipeline: Pipeline) -> None:
    """The link is made at checkout (one, however often the plan is tapped) and the payment's
    invite carries it: after payment no createChatInviteLink, only the invite message."""
    first = checkout(pipeline, "tap-1")
    checkout(pipeline, "tap-2")
    assert len(pipeline.telegram.calls_of("createChatInviteLink")) == 1
    with pipeline.sessions() as session:
        [link] = session.scalars(select(InviteLink)).all()
    assert (link.user_id, link.invoice_id, link.used_at, link.revoked_at) == (
        SUBSCRIBER, first.id, None, None)
    before_payment = len(pipeline.telegram.calls)
    report(pipeline, first, "paid")
    pipeline.drain()
    after = [call.__api_method__ for call in pipeline.telegram.calls[before_payment:]]
    assert "createChatInviteLink" not in after, after
    [invite] = [text for text in texts_to(pipeline, SUBSCRIBER) if "invite link" in text]
    assert link.link in invite


def test_a_link_telegram_refuses_at_checkout_is_made_at_the_grant(pipeline: Pipeline) -> None:
    """Telegram failing the link at checkout costs nothing but time: the pay link still goes
    out, and the grant makes the link after payment."""
    pipeline.telegram.fail_next(
        "createChatInviteLink", TelegramTransient(description="Too Many Requests", retry_after=3))
    invoice = checkout(pipeline)
    assert invoice.pay_link
    assert count(pipeline, InviteLink) == 0
    report(pipeline, invoice, "paid")
    pipeline.drain()
    assert len(pipeline.telegram.calls_of("createChatInviteLink")) == 2
    [invite] = [text for text in texts_to(pipeline, SUBSCRIBER) if "invite link" in text]
    with pipeline.sessions() as session:
        assert session.scalars(select(InviteLink.link)).one() in invite


def test_a_grant_with_no_access_left_still_confirms_the_payment(pipeline: Pipeline) -> None:
    """Access ended between the payment and its invite (an admin removed it): no invite, but
    the subscriber is still told that the payment arrived."""
    from celery import current_app

    invoice = checkout(pipeline)
    report(pipeline, invoice, "paid")
    name, args = pipeline.queued.popleft()
    assert name == task_names.PROCESS_PAYMENT_EVENT
    current_app.tasks[name].apply(args=args).get()  # activates; the grant is queued
    with pipeline.sessions.begin() as session:
        access = session.scalars(select(Access)).one()
        access.paid_through = datetime.now(UTC) - timedelta(days=60)
    pipeline.drain()
    assert texts_to(pipeline, SUBSCRIBER)[1:] == ["Payment received, thank you!"]
