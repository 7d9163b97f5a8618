"""Settlement writes exactly what happened: which invoice it matched, what it refused, what it
granted, who was paid commission and who was told, in the history and the outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra.cryptocloud import InvoiceState
from models.domain.invoices import InvoiceStatus
from models.schema import (
    Access,
    AccessHistory,
    CommissionEntry,
    Invoice,
    Plan,
    PlanChat,
    Referral,
    Referrer,
    TelegramEffect,
    User,
)
from workers.payments import service
from workers.payments.service import Outcome

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
SUBSCRIBER, REFERRER = 5001, 5002
ADMINS = frozenset({100, 200})
CHANNEL, SECOND_CHANNEL = -1001000000001, -1001000000002


@pytest.fixture
def sessions(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """A database with a $10 / 30-day plan on one channel and one subscriber."""
    with session_factory.begin() as session:
        session.add(User(id=SUBSCRIBER, first_name="Ann", created_at=T0))
        session.add(Plan(id=1, code="month", title="1 month", days=30,
                         price_usd=Decimal("10.00")))
        session.flush()
        session.add(PlanChat(plan_id=1, chat_id=CHANNEL))
    return session_factory


def add_invoice(sessions: sessionmaker[Session], *, uuid: str | None = "AAAA1111",
                order_id: str = "ord_1", status: str = "created", currency: str = "USD",
                paid: Decimal | None = None, expires_at: datetime | None = None,
                amount: str = "10.00", pay_link: str | None = "https://pay/1") -> int:
    with sessions.begin() as session:
        invoice = Invoice(uuid=uuid, order_id=order_id, user_id=SUBSCRIBER, plan_id=1,
                          amount_usd=Decimal(amount), currency=currency, status=status,
                          paid_usd=paid, expires_at=expires_at, pay_link=pay_link,
                          created_at=T0, updated_at=T0)
        session.add(invoice)
        session.flush()
        return invoice.id


def state(status: str, *, uuid: str = "AAAA1111", order_id: str | None = "ord_1",
          amount: str = "10.00", paid: str = "10.00", currency: str = "USD") -> InvoiceState:
    return InvoiceState(uuid=uuid, status=InvoiceStatus(status), order_id=order_id,
                        amount_usd=Decimal(amount), paid_usd=Decimal(paid), currency=currency,
                        expires_at=None, test_mode=True)


def settle(sessions: sessionmaker[Session], reported: InvoiceState,
           now: datetime = T0) -> service.Settlement:
    with sessions.begin() as session:
        return service.settle_invoice(session, state=reported, now=now, admins=ADMINS)


def history(sessions: sessionmaker[Session], action: str) -> list[AccessHistory]:
    with sessions() as session:
        return list(session.scalars(select(AccessHistory).where(AccessHistory.action == action)
                                    .order_by(AccessHistory.id)))


def details(entry: AccessHistory) -> Any:
    return json.loads(entry.details or "{}")


def effects(sessions: sessionmaker[Session]) -> list[tuple[str, str, int | None, Any]]:
    """(key, method, chat, request) of every outbox row, in the order written."""
    with sessions() as session:
        rows = session.scalars(select(TelegramEffect).order_by(TelegramEffect.id)).all()
        return [(row.key, row.method, row.chat_id, json.loads(row.request or "{}"))
                for row in rows]


def invoice_row(sessions: sessionmaker[Session], invoice_id: int) -> Invoice:
    with sessions() as session:
        return session.get_one(Invoice, invoice_id)


def refer(sessions: sessionmaker[Session], *, pct: str = "10", active: bool = True) -> None:
    with sessions.begin() as session:
        session.add(User(id=REFERRER, first_name="Ref", created_at=T0))
        session.flush()
        session.add(Referrer(user_id=REFERRER, pct=Decimal(pct), active=active,
                             created_at=T0, updated_at=T0))
        session.flush()
        session.add(Referral(referred_user_id=SUBSCRIBER, referrer_id=REFERRER, created_at=T0))


# Matching the invoice ----------------------------------------------------------------------


def test_an_invoice_whose_provider_id_was_never_stored_is_found_by_order_and_completed(
    sessions: sessionmaker[Session],
) -> None:
    """We crashed after CryptoCloud made the invoice: its order id finds ours, which then gets
    CryptoCloud's id and is settled like any other."""
    invoice_id = add_invoice(sessions, uuid=None)
    settlement = settle(sessions, state("paid", uuid="BBBB2222"))
    assert (settlement.outcome, settlement.invoice_id) == (Outcome.ACTIVATED, invoice_id)
    stored = invoice_row(sessions, invoice_id)
    assert (stored.uuid, stored.status, stored.paid_usd) == ("BBBB2222", "paid", Decimal("10.00"))


def test_an_invoice_is_found_by_cryptocloud_id_whatever_order_id_comes_with_it(
    sessions: sessionmaker[Session],
) -> None:
    """The second of two invoices is paid and CryptoCloud's answer carries no order id, or
    one we never issued: its own id finds it, not the other invoice."""
    add_invoice(sessions, uuid="AAAA1111", order_id="ord_1")
    second = add_invoice(sessions, uuid="BBBB2222", order_id="ord_2")
    for order_id in (None, "ord_not_ours"):
        settlement = settle(sessions, state("partial", uuid="BBBB2222", order_id=order_id,
                                            paid="1.00" if order_id is None else "2.00"))
        assert (settlement.outcome, settlement.invoice_id) == (Outcome.PARTIAL, second)


def test_every_later_log_line_of_the_settlement_names_the_invoice_and_its_user(
    sessions: sessionmaker[Session],
) -> None:
    """Once the invoice is known, the log context carries its id and its user."""
    invoice_id = add_invoice(sessions)
    structlog.contextvars.clear_contextvars()
    try:
        settle(sessions, state("paid"))
        bound = structlog.contextvars.get_contextvars()
    finally:
        structlog.contextvars.clear_contextvars()
    assert (bound.get("invoice_id"), bound.get("user_id")) == (invoice_id, SUBSCRIBER)


def test_a_provider_id_other_than_ours_on_the_same_order_is_a_mismatch(
    sessions: sessionmaker[Session],
) -> None:
    """The order names our invoice but CryptoCloud's id differs from the one we stored: nothing
    is granted, the history says both ids, every admin is alerted once."""
    invoice_id = add_invoice(sessions, uuid="AAAA1111")
    settlement = settle(sessions, state("paid", uuid="CCCC3333"))
    assert (settlement.outcome, settlement.invoice_id) == (Outcome.MISMATCH, invoice_id)
    assert len(settlement.effects) == len(ADMINS)
    [entry] = history(sessions, "payment_mismatch")
    assert (entry.user_id, entry.invoice_id, entry.source, entry.created_at) == (
        SUBSCRIBER, invoice_id, "payment", T0)
    assert details(entry) == {"ours": "invoice INV-AAAA1111", "cryptocloud": "INV-CCCC3333",
                              "status": "paid"}
    assert [(key, chat) for key, _, chat, _ in effects(sessions)] == [
        (f"alert:mismatch:{invoice_id}:CCCC3333:admin:{admin}", admin) for admin in sorted(ADMINS)]
    assert effects(sessions)[0][3]["text"] == (
        "⚠️ Invoice INV-CCCC3333 of user 5001 does not match CryptoCloud: expected invoice "
        "INV-AAAA1111, CryptoCloud says INV-CCCC3333. No access granted.")
    assert invoice_row(sessions, invoice_id).status == "created"
    assert history(sessions, "payment_activated") == []


def test_an_invoice_in_another_currency_is_a_mismatch(sessions: sessionmaker[Session]) -> None:
    """Same amount, other currency: refused, and the history names both sides."""
    invoice_id = add_invoice(sessions)
    settlement = settle(sessions, state("paid", currency="EUR"))
    assert settlement.outcome is Outcome.MISMATCH
    [entry] = history(sessions, "payment_mismatch")
    assert details(entry) == {"ours": "10.00 USD", "cryptocloud": "10.00 EUR", "status": "paid"}
    assert invoice_row(sessions, invoice_id).paid_usd is None


def test_an_unknown_invoice_is_recorded_on_nobody_and_alerts_every_admin(
    sessions: sessionmaker[Session],
) -> None:
    """No invoice by id or order: a history row on user 0 with what was reported, an alert
    per admin, nothing granted."""
    settlement = settle(sessions, state("paid", uuid="ZZZZ9999", order_id="ord_x"))
    assert (settlement.outcome, settlement.invoice_id) == (Outcome.UNKNOWN_INVOICE, None)
    [entry] = history(sessions, "payment_unknown")
    assert (entry.user_id, entry.source, entry.created_at) == (service.UNKNOWN_USER, "payment", T0)
    assert details(entry) == {"uuid": "ZZZZ9999", "order_id": "ord_x", "status": "paid"}
    assert [(key, chat) for key, _, chat, _ in effects(sessions)] == [
        (f"alert:unknown:ZZZZ9999:admin:{admin}", admin) for admin in sorted(ADMINS)]
    assert "INV-ZZZZ9999" in effects(sessions)[0][3]["text"]


def test_an_invoice_cryptocloud_does_not_report_is_recorded_with_that_reason(
    sessions: sessionmaker[Session],
) -> None:
    """settle_reported without an answer: unknown, with the reason in the history."""
    with sessions.begin() as session:
        settlement = service.settle_reported(session, uuid="YYYY8888", state=None, now=T0,
                                             admins=ADMINS)
    assert settlement.outcome is Outcome.UNKNOWN_INVOICE
    [entry] = history(sessions, "payment_unknown")
    assert details(entry) == {"uuid": "YYYY8888",
                              "reason": "CryptoCloud does not report this invoice"}


def test_settle_reported_with_an_answer_settles_it(sessions: sessionmaker[Session]) -> None:
    """An answer from CryptoCloud goes through the ordinary settlement."""
    add_invoice(sessions)
    with sessions.begin() as session:
        settlement = service.settle_reported(session, uuid="AAAA1111", state=state("paid"),
                                             now=T0, admins=ADMINS)
    assert settlement.outcome is Outcome.ACTIVATED


# Which reports move an invoice ---------------------------------------------------------------


def test_created_about_an_open_invoice_means_the_provider_lags(
    sessions: sessionmaker[Session],
) -> None:
    """`created` about an invoice not yet paid is not an answer: the event stays open."""
    invoice_id = add_invoice(sessions)
    settlement = settle(sessions, state("created", paid="0"))
    assert (settlement.outcome, settlement.invoice_id) == (Outcome.PROVIDER_BEHIND, invoice_id)
    assert invoice_row(sessions, invoice_id).updated_at == T0


def test_created_about_a_paid_invoice_changes_nothing(sessions: sessionmaker[Session]) -> None:
    """An invoice already paid does not go back: `created` after it is simply unchanged."""
    invoice_id = add_invoice(sessions, status="paid", paid=Decimal("10.00"))
    settlement = settle(sessions, state("created", paid="0"))
    assert (settlement.outcome, settlement.invoice_id) == (Outcome.UNCHANGED, invoice_id)


def test_a_status_word_we_do_not_know_moves_nothing(sessions: sessionmaker[Session]) -> None:
    """CryptoCloud invents a status: the invoice stays as it was, nothing is granted."""
    invoice_id = add_invoice(sessions)
    reported = state("paid")
    object.__setattr__(reported, "status", "processing")
    settlement = settle(sessions, reported)
    assert (settlement.outcome, settlement.invoice_id) == (Outcome.UNCHANGED, invoice_id)
    assert invoice_row(sessions, invoice_id).status == "created"


def test_a_small_overpayment_on_a_cheap_invoice_is_kept_to_the_cent(
    sessions: sessionmaker[Session],
) -> None:
    """60 cents on a 50-cent invoice: 60 cents recorded and 10 cents of surplus, not rounded
    to the price because the sum is small."""
    invoice_id = add_invoice(sessions, amount="0.50")
    settle(sessions, state("overpaid", amount="0.50", paid="0.60"))
    stored = invoice_row(sessions, invoice_id)
    assert (stored.paid_usd, stored.surplus_usd) == (Decimal("0.60"), Decimal("0.10"))


def test_a_paid_report_without_an_amount_counts_as_the_full_price(
    sessions: sessionmaker[Session],
) -> None:
    """CryptoCloud confirms paid but reports 0 received: the invoice's own amount is taken."""
    refer(sessions, pct="10")
    invoice_id = add_invoice(sessions)
    assert settle(sessions, state("paid", paid="0")).outcome is Outcome.ACTIVATED
    assert invoice_row(sessions, invoice_id).paid_usd == Decimal("10.00")
    with sessions() as session:
        assert session.scalars(select(CommissionEntry.amount)).all() == [Decimal("1.00")]


def test_a_partial_report_without_news_changes_nothing(sessions: sessionmaker[Session]) -> None:
    """The same partial amount again, or less, is no top-up: unchanged, no new message."""
    invoice_id = add_invoice(sessions, status="partial", paid=Decimal("4.00"))
    assert settle(sessions, state("partial", paid="4.00")).outcome is Outcome.UNCHANGED
    assert settle(sessions, state("partial", paid="3.00")).outcome is Outcome.UNCHANGED
    assert invoice_row(sessions, invoice_id).paid_usd == Decimal("4.00")
    assert effects(sessions) == []


def test_a_top_up_of_a_partial_payment_is_told_with_the_new_remainder(
    sessions: sessionmaker[Session],
) -> None:
    """partial at $4, then $7: the second report is news; the history and the message carry
    what was paid and what is missing, with the pay button, under a key per amount."""
    invoice_id = add_invoice(sessions, expires_at=T0 + timedelta(minutes=90))
    settle(sessions, state("partial", paid="4.00"))
    settlement = settle(sessions, state("partial", paid="7.00"), now=T0 + timedelta(minutes=30))
    assert (settlement.outcome, settlement.invoice_id, len(settlement.effects)) == (
        Outcome.PARTIAL, invoice_id, 1)
    stored = invoice_row(sessions, invoice_id)
    assert (stored.status, stored.paid_usd) == ("partial", Decimal("7.00"))
    assert stored.updated_at == T0 + timedelta(minutes=30)
    assert [details(entry) for entry in history(sessions, "payment_partial")] == [
        {"paid_usd": "4.00", "remainder_usd": "6.00"},
        {"paid_usd": "7.00", "remainder_usd": "3.00"}]
    entry = history(sessions, "payment_partial")[0]
    assert (entry.user_id, entry.invoice_id, entry.source, entry.created_at) == (
        SUBSCRIBER, invoice_id, "payment", T0)
    key, _, chat, request = effects(sessions)[-1]
    assert (key, chat) == (f"partial:{invoice_id}:7.00", SUBSCRIBER)
    assert "$3.00 is still missing" in request["text"] and "1 hour" in request["text"]
    assert request["buttons"] == [[{"text": "Pay with crypto", "url": "https://pay/1"}]]


def test_a_partial_payment_on_an_invoice_without_a_deadline_says_no_time_is_left(
    sessions: sessionmaker[Session],
) -> None:
    """No expiry known (nor a pay link): the message offers no time and no button rather than
    failing."""
    add_invoice(sessions, pay_link=None)
    settle(sessions, state("partial", paid="4.00"))
    [(_, _, _, request)] = effects(sessions)
    assert "$6.00 is still missing; you have 0 minutes to pay" in request["text"]
    assert "buttons" not in request


def test_an_expired_invoice_without_money_is_closed_and_the_subscriber_told_once(
    sessions: sessionmaker[Session],
) -> None:
    """canceled with nothing paid: the invoice closes, the subscriber alone gets one message
    (with the plans button), no admin alert and no part-payment history."""
    invoice_id = add_invoice(sessions)
    settlement = settle(sessions, state("canceled", paid="0"))
    assert settlement.outcome is Outcome.CANCELED and len(settlement.effects) == 1
    stored = invoice_row(sessions, invoice_id)
    assert (stored.status, stored.paid_usd) == ("canceled", Decimal("0"))
    assert settlement.invoice_id == invoice_id
    [(key, method, chat, request)] = effects(sessions)
    assert (key, method, chat) == (f"invoice_canceled:{invoice_id}", "sendMessage", SUBSCRIBER)
    assert request["buttons"] == service.plans_buttons()
    assert history(sessions, "payment_partial_expired") == []


def test_an_expired_part_paid_invoice_keeps_the_larger_amount_and_tells_everyone(
    sessions: sessionmaker[Session],
) -> None:
    """canceled reporting less than we saw arrive: we keep what arrived, tell the subscriber
    and each admin once, and write the amounts down."""
    invoice_id = add_invoice(sessions, status="partial", paid=Decimal("4.00"))
    settlement = settle(sessions, state("canceled", paid="1.00"))
    assert settlement.outcome is Outcome.CANCELED and len(settlement.effects) == 3
    assert settlement.invoice_id == invoice_id
    assert invoice_row(sessions, invoice_id).paid_usd == Decimal("4.00")
    [entry] = history(sessions, "payment_partial_expired")
    assert (entry.user_id, entry.invoice_id, entry.created_at) == (SUBSCRIBER, invoice_id, T0)
    assert details(entry) == {"paid_usd": "4.00", "amount_usd": "10.00"}
    assert [(key, chat) for key, _, chat, _ in effects(sessions)] == [
        (f"partial_expired:{invoice_id}", SUBSCRIBER),
        *((f"alert:partial_expired:{invoice_id}:admin:{admin}", admin)
          for admin in sorted(ADMINS))]
    assert "$4.00 of $10.00" in effects(sessions)[0][3]["text"]
    assert effects(sessions)[1][3]["text"].startswith(
        "⚠️ Invoice INV-AAAA1111 of user 5001 expired part-paid: $4.00 of $10.00 received")


def test_an_expired_invoice_with_cents_paid_is_still_told(
    sessions: sessionmaker[Session],
) -> None:
    """Any money at all on an invoice that expired is the subscriber's: 50 cents is told too."""
    add_invoice(sessions, status="partial", paid=Decimal("0.50"))
    settlement = settle(sessions, state("canceled", paid="0.50"))
    assert len(settlement.effects) == 1 + len(ADMINS)


# Activation ------------------------------------------------------------------------------------


def test_activation_grants_each_channel_of_the_plan_and_the_first_announces_the_payment(
    sessions: sessionmaker[Session],
) -> None:
    """A plan on two channels: one grant per channel carrying the access it extended, the first
    one announcing the payment (one message, not two), each channel's access extended by the
    plan's days and recorded."""
    with sessions.begin() as session:
        session.add(PlanChat(plan_id=1, chat_id=SECOND_CHANNEL))
    invoice_id = add_invoice(sessions)
    settlement = settle(sessions, state("paid"))
    assert settlement.outcome is Outcome.ACTIVATED
    written = effects(sessions)
    assert [method for _, method, _, _ in written] == [method for _, method in settlement.effects]
    assert [method for _, method, _, _ in written] == ["grantAccess", "grantAccess"]
    with sessions() as session:
        access = {row.chat_id: row for row in session.scalars(select(Access))}
    assert {row.plan_id for row in access.values()} == {1}
    assert {chat: row.paid_through for chat, row in access.items()} == {
        CHANNEL: T0 + timedelta(days=30), SECOND_CHANNEL: T0 + timedelta(days=30)}
    grants = sorted(written, key=lambda row: row[3]["chat_id"])
    assert [(key, chat, request) for key, _, chat, request in grants] == [
        (f"grant:invoice:{invoice_id}:{chat_id}", SUBSCRIBER,
         {"user_id": SUBSCRIBER, "chat_id": chat_id, "access_id": access[chat_id].id,
          "invoice_id": invoice_id, "extra_days": 0, "announce_payment": index == 0})
        for index, chat_id in enumerate(sorted(access))]
    entries = history(sessions, "payment_activated")
    assert {entry.chat_id for entry in entries} == set(access) and len(entries) == 2
    assert all((entry.invoice_id, entry.source) == (invoice_id, "payment") for entry in entries)
    assert details(entries[0]) == {"plan": "month", "paid_usd": "10.00", "extra_days": 0}
    assert invoice_row(sessions, invoice_id).activated_at == T0


def test_an_overpayment_is_recorded_as_surplus_and_extra_days(
    sessions: sessionmaker[Session],
) -> None:
    """$15 on a $10 plan: $5 surplus, 15 extra days in the access, history and grant."""
    invoice_id = add_invoice(sessions)
    settle(sessions, state("overpaid", paid="15.00"))
    stored = invoice_row(sessions, invoice_id)
    assert (stored.status, stored.surplus_usd) == ("overpaid", Decimal("5.00"))
    [entry] = history(sessions, "payment_activated")
    assert details(entry) == {"plan": "month", "paid_usd": "15.00", "extra_days": 15}
    assert entry.paid_through_after == T0 + timedelta(days=45)
    [grant] = effects(sessions)
    assert grant[3]["extra_days"] == 15 and grant[3]["announce_payment"] is True


def test_an_exact_payment_has_no_surplus(sessions: sessionmaker[Session]) -> None:
    """Paid to the cent: no surplus recorded, no extra days."""
    invoice_id = add_invoice(sessions)
    settle(sessions, state("paid"))
    assert invoice_row(sessions, invoice_id).surplus_usd is None


# Commission ------------------------------------------------------------------------------------


def test_commission_is_credited_and_recorded_on_the_referrer(
    sessions: sessionmaker[Session],
) -> None:
    """A referred payment: one credit of pct × paid and a history entry on the referrer."""
    refer(sessions, pct="12.5")
    invoice_id = add_invoice(sessions)
    settle(sessions, state("paid"))
    with sessions() as session:
        [credit] = session.scalars(select(CommissionEntry)).all()
    assert (credit.referrer_id, credit.kind, credit.amount, credit.invoice_id) == (
        REFERRER, "credit", Decimal("1.25"), invoice_id)
    [entry] = history(sessions, "commission_credited")
    assert (entry.user_id, entry.invoice_id, entry.source, entry.created_at) == (
        REFERRER, invoice_id, "payment", T0)
    assert details(entry) == {"amount_usd": "1.25", "pct": "12.50",
                              "referred_user_id": SUBSCRIBER}


@pytest.mark.parametrize("case", ["inactive", "rounds to zero"])
def test_no_commission_without_an_active_referrer_and_a_share_worth_a_cent(
    sessions: sessionmaker[Session], case: str,
) -> None:
    """An inactive referrer, or 0.01 % of $10 (a tenth of a cent): no credit, no history, and
    the payment itself still activates."""
    refer(sessions, pct="0.01" if case == "rounds to zero" else "10",
          active=case != "inactive")
    add_invoice(sessions)
    assert settle(sessions, state("paid")).outcome is Outcome.ACTIVATED
    with sessions() as session:
        assert session.scalars(select(CommissionEntry)).all() == []
    assert history(sessions, "commission_credited") == []


def test_a_referrer_earns_only_on_the_payments_of_people_they_referred(
    sessions: sessionmaker[Session],
) -> None:
    """An active referrer who brought someone else earns nothing when our subscriber pays."""
    with sessions.begin() as session:
        session.add_all([User(id=REFERRER, first_name="Ref", created_at=T0),
                         User(id=6001, first_name="Other", created_at=T0)])
        session.flush()
        session.add(Referrer(user_id=REFERRER, pct=Decimal("10"), created_at=T0, updated_at=T0))
        session.flush()
        session.add(Referral(referred_user_id=6001, referrer_id=REFERRER, created_at=T0))
    add_invoice(sessions)
    assert settle(sessions, state("paid")).outcome is Outcome.ACTIVATED
    with sessions() as session:
        assert session.scalars(select(CommissionEntry)).all() == []


def test_activating_one_invoice_leaves_every_other_invoice_to_its_own_payment(
    sessions: sessionmaker[Session],
) -> None:
    """The exactly-once claim is on this invoice only: a second invoice paid later (a renewal
    bought before the first was settled) still activates and adds its own days."""
    first = add_invoice(sessions, uuid="AAAA1111", order_id="ord_1")
    second = add_invoice(sessions, uuid="BBBB2222", order_id="ord_2")
    assert settle(sessions, state("paid")).outcome is Outcome.ACTIVATED
    assert invoice_row(sessions, second).activated_at is None
    later = T0 + timedelta(hours=1)
    settlement = settle(sessions, state("paid", uuid="BBBB2222", order_id="ord_2"), now=later)
    assert settlement.outcome is Outcome.ACTIVATED and settlement.effects
    assert (invoice_row(sessions, first).activated_at,
            invoice_row(sessions, second).activated_at) == (T0, later)
    with sessions() as session:
        access = session.scalars(select(Access)).one()
    assert access.paid_through == T0 + timedelta(days=60)


# Giving up an event --------------------------------------------------------------------------


def test_a_given_up_event_is_recorded_on_its_invoices_user_and_alerts_each_admin(
    sessions: sessionmaker[Session],
) -> None:
    """The history row names the event, its attempts and the error (cut to 500 characters)."""
    add_invoice(sessions)
    error = "x" * 600
    with sessions.begin() as session:
        written = service.give_up_event(session, event_id=7, uuid="AAAA1111", attempts=5,
                                        error=error, now=T0, admins=ADMINS)
    assert len(written) == len(ADMINS)
    [entry] = history(sessions, "payment_event_given_up")
    assert (entry.user_id, entry.source, entry.created_at) == (SUBSCRIBER, "payment", T0)
    assert details(entry) == {"uuid": "AAAA1111", "event_id": 7, "attempts": 5,
                              "error": "x" * 500}
    assert [(key, chat) for key, _, chat, _ in effects(sessions)] == [
        (f"alert:given_up:event:7:admin:{admin}", admin) for admin in sorted(ADMINS)]
    assert "failed 5 times" in effects(sessions)[0][3]["text"]


def test_a_given_up_event_about_no_invoice_of_ours_is_recorded_on_nobody(
    sessions: sessionmaker[Session],
) -> None:
    """An event whose invoice we do not have: recorded on user 0."""
    with sessions.begin() as session:
        service.give_up_event(session, event_id=8, uuid="NOPE", attempts=1, error="boom",
                              now=T0, admins=frozenset())
    [entry] = history(sessions, "payment_event_given_up")
    assert entry.user_id == service.UNKNOWN_USER
