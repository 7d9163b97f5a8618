"""Which invoice a tap reuses, how a refusal is told, and what the poll makes of the answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra.cryptocloud import InvoiceState
from models.domain.invoices import InvoiceStatus
from models.schema import Invoice, Plan, TelegramEffect, User
from workers.payments import service

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
SUBSCRIBER = 5001
ADMINS = frozenset({100, 200})


@pytest.fixture
def sessions(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Plans "month" (id 1, on sale) and "year" (id 2, withdrawn) and one subscriber."""
    with session_factory.begin() as session:
        session.add(User(id=SUBSCRIBER, first_name="Ann", created_at=T0))
        session.add(Plan(id=1, code="month", title="1 month", days=30,
                         price_usd=Decimal("10.00")))
        session.add(Plan(id=2, code="year", title="1 year", days=365,
                         price_usd=Decimal("90.00"), active=False))
    return session_factory


def add_invoice(sessions: sessionmaker[Session], number: int, *, status: str = "created",
                uuid: str | None = "", expires_at: datetime | None = T0 + timedelta(hours=1),
                plan_id: int = 1, updated_at: datetime = T0,
                polled_at: datetime | None = None) -> int:
    with sessions.begin() as session:
        invoice = Invoice(uuid=f"U{number}" if uuid == "" else uuid, order_id=f"ord_{number}",
                          user_id=SUBSCRIBER, plan_id=plan_id, amount_usd=Decimal("10.00"),
                          status=status, expires_at=expires_at, created_at=T0,
                          updated_at=updated_at, last_polled_at=polled_at)
        session.add(invoice)
        session.flush()
        return invoice.id


def start(sessions: sessionmaker[Session], *, user_id: int = SUBSCRIBER, plan: str = "month",
          now: datetime = T0) -> service.CheckoutStart:
    with sessions.begin() as session:
        return service.start_checkout(session, user_id=user_id, plan_code=plan, now=now)


def outbox(sessions: sessionmaker[Session]) -> list[tuple[str, int | None, Any]]:
    with sessions() as session:
        rows = session.scalars(select(TelegramEffect).order_by(TelegramEffect.id)).all()
        return [(row.key, row.chat_id, json.loads(row.request or "{}")) for row in rows]


# Checkout -------------------------------------------------------------------------------------


def test_a_first_checkout_records_a_fresh_invoice_for_the_plan(
    sessions: sessionmaker[Session],
) -> None:
    """No open invoice: a new one for the plan's price in USD, open, with a unique order id,
    that still needs CryptoCloud's invoice."""
    started = start(sessions)
    assert started.needs_provider_invoice
    with sessions() as session:
        invoice = session.get_one(Invoice, started.invoice_id)
    assert (invoice.user_id, invoice.plan_id, invoice.amount_usd, invoice.currency,
            invoice.status, invoice.created_at, invoice.updated_at) == (
        SUBSCRIBER, 1, Decimal("10.00"), "USD", "created", T0, T0)
    assert invoice.order_id.startswith(f"ord_{SUBSCRIBER}_") and len(invoice.order_id) == 21


def test_checkout_for_an_unknown_user_or_a_withdrawn_plan_is_refused_precisely(
    sessions: sessionmaker[Session],
) -> None:
    """A user not recorded yet is worth a wait (UnknownUser); a plan off sale or never sold is
    final (PlanGone); neither records an invoice."""
    with pytest.raises(service.UnknownUser, match="unknown user 6001"):
        start(sessions, user_id=6001)
    for plan in ("year", "decade"):
        with pytest.raises(service.PlanGone, match=f"no active plan '{plan}'"):
            start(sessions, plan=plan)
    with sessions() as session:
        assert session.scalars(select(Invoice)).all() == []


def test_an_open_invoice_is_reused_while_it_has_time_left(
    sessions: sessionmaker[Session],
) -> None:
    """An open invoice expiring more than five minutes from now is offered again as it is."""
    invoice_id = add_invoice(sessions, 1, expires_at=T0 + timedelta(minutes=6))
    assert start(sessions) == service.CheckoutStart(invoice_id, needs_provider_invoice=False)


def test_an_invoice_about_to_expire_is_not_offered_again(sessions: sessionmaker[Session]) -> None:
    """Five minutes or less left (or already past): a fresh invoice instead."""
    for number, left in enumerate((timedelta(minutes=5), timedelta(minutes=-1)), start=1):
        stale = add_invoice(sessions, number, expires_at=T0 + left)
        started = start(sessions)
        assert started.invoice_id != stale and started.needs_provider_invoice
        with sessions.begin() as session:  # out of the way for the next case
            session.get_one(Invoice, started.invoice_id).status = "canceled"


def test_an_invoice_cryptocloud_never_made_is_completed_not_duplicated(
    sessions: sessionmaker[Session],
) -> None:
    """Ours without CryptoCloud's id or deadline (a crash, or CryptoCloud was down): the same
    invoice is reused and still needs CryptoCloud's invoice."""
    for number, (uuid, expires) in enumerate(((None, T0 + timedelta(hours=1)), ("U9", None)),
                                             start=1):
        invoice_id = add_invoice(sessions, number, uuid=uuid, expires_at=expires)
        assert start(sessions) == service.CheckoutStart(invoice_id, needs_provider_invoice=True)
        with sessions.begin() as session:
            session.get_one(Invoice, invoice_id).status = "canceled"


def test_only_an_open_invoice_for_the_same_plan_is_reused(
    sessions: sessionmaker[Session],
) -> None:
    """A paid, part-paid or canceled invoice, or one for another plan, is never offered."""
    others = [add_invoice(sessions, 1, status="paid"), add_invoice(sessions, 2, status="partial"),
              add_invoice(sessions, 3, status="canceled"), add_invoice(sessions, 4, plan_id=2)]
    assert start(sessions).invoice_id not in others


def test_another_subscribers_open_invoice_is_never_offered(
    sessions: sessionmaker[Session],
) -> None:
    """Someone else's open invoice for the same plan is theirs: we get a fresh one."""
    with sessions.begin() as session:
        session.add(User(id=6001, first_name="Bob", created_at=T0))
        session.flush()
        session.add(Invoice(uuid="BOB", order_id="ord_bob", user_id=6001, plan_id=1,
                            amount_usd=Decimal("10.00"), expires_at=T0 + timedelta(hours=1),
                            created_at=T0, updated_at=T0))
    started = start(sessions)
    with sessions() as session:
        assert session.get_one(Invoice, started.invoice_id).user_id == SUBSCRIBER


def test_the_newest_open_invoice_is_the_one_reused(sessions: sessionmaker[Session]) -> None:
    """Two open invoices for the plan (left by an old version): the newer one is offered."""
    add_invoice(sessions, 1)
    newer = add_invoice(sessions, 2)
    assert start(sessions).invoice_id == newer


def test_a_refused_checkout_tells_the_subscriber_and_alerts_admins_once_an_hour(
    sessions: sessionmaker[Session],
) -> None:
    """The subscriber hears why under the tap's key; the same error in the same hour alerts
    each admin once, another error or another hour alerts again."""
    def refuse(key: str, error: str | None, now: datetime) -> list[Any]:
        with sessions.begin() as session:
            return service.tell_checkout_refused(session, user_id=SUBSCRIBER, request_key=key,
                                                 text=lambda: "Sorry", now=now, admins=ADMINS,
                                                 error=error)

    assert len(refuse("tap-1", "HTTP 400 bad", T0)) == 3
    assert len(refuse("tap-2", "HTTP 400 bad", T0 + timedelta(minutes=59))) == 1
    assert len(refuse("tap-3", "HTTP 500 oops", T0)) == 3
    assert len(refuse("tap-4", "HTTP 400 bad", T0 + timedelta(hours=1))) == 3
    assert len(refuse("tap-5", None, T0)) == 1
    rows = outbox(sessions)
    assert rows[0] == ("checkout_refused:tap-1", SUBSCRIBER,
                       {"chat_id": SUBSCRIBER, "text": "Sorry"})
    alerts = [(chat, request["text"]) for key, chat, request in rows if key.startswith("alert:")]
    assert alerts[:2] == [(admin, "⚠️ Checkout for user 5001 failed: HTTP 400 bad")
                          for admin in sorted(ADMINS)]
    assert rows[1][0].endswith(f":{T0:%Y%m%d%H}:admin:100")


def test_a_provider_invoice_is_attached_once(sessions: sessionmaker[Session]) -> None:
    """The first attempt's id, link and deadline stick, on that invoice only; a second attempt
    is told it lost."""
    invoice_id = add_invoice(sessions, 1, uuid=None, expires_at=None)
    other = add_invoice(sessions, 2, uuid=None, expires_at=None)
    deadline = T0 + timedelta(hours=2)
    with sessions.begin() as session:
        assert service.store_provider_invoice(session, invoice_id=invoice_id, uuid="FIRST",
                                              link="https://pay/first", expires_at=deadline,
                                              now=T0)
    with sessions.begin() as session:
        assert not service.store_provider_invoice(session, invoice_id=invoice_id, uuid="SECOND",
                                                  link="https://pay/second", expires_at=T0,
                                                  now=T0)
    with sessions() as session:
        invoice = session.get_one(Invoice, invoice_id)
        assert session.get_one(Invoice, other).uuid is None  # only the invoice named
    assert (invoice.uuid, invoice.pay_link, invoice.expires_at) == (
        "FIRST", "https://pay/first", deadline)


def test_the_pay_link_message_names_plan_amount_and_deadline(
    sessions: sessionmaker[Session],
) -> None:
    """One message per tap with the pay button; an invoice without a link sends nothing."""
    invoice_id = add_invoice(sessions, 1)
    with sessions.begin() as session:
        session.get_one(Invoice, invoice_id).pay_link = "https://pay/1"
        sent = service.send_pay_link(session, invoice_id=invoice_id, request_key="tap-1", now=T0)
    assert len(sent) == 1
    [(key, chat, request)] = outbox(sessions)
    assert (key, chat) == (f"paylink:{invoice_id}:tap-1", SUBSCRIBER)
    assert request["text"].startswith("Your invoice for 1 month: $10.00.\nPay before ")
    assert request["buttons"] == [[{"text": "Pay with crypto", "url": "https://pay/1"}]]
    linkless = add_invoice(sessions, 2, uuid=None)
    with sessions.begin() as session:
        assert service.send_pay_link(session, invoice_id=linkless, request_key="t", now=T0) == []


# Fallback poll --------------------------------------------------------------------------------


def answer(status: str, paid: str = "0") -> InvoiceState:
    return InvoiceState(uuid="U1", status=InvoiceStatus(status), order_id="ord_1",
                        amount_usd=Decimal("10.00"), paid_usd=Decimal(paid), currency="USD",
                        expires_at=None, test_mode=True)


def test_the_poll_records_news_only_and_keys_a_partial_payment_by_its_amount(
    sessions: sessionmaker[Session],
) -> None:
    """paid, overpaid and canceled are news as they are; partial carries the amount (so a
    top-up is new); created is nothing."""
    assert [service.poll_report_key(answer(status)) for status in
            ("paid", "overpaid", "canceled", "created")] == ["paid", "overpaid", "canceled", None]
    assert service.poll_report_key(answer("partial", "4")) == "partial@4.00"


def test_open_invoices_cryptocloud_forgot_are_canceled_once_past_expiry(
    sessions: sessionmaker[Session],
) -> None:
    """Asked about but not answered: canceled if open and past its deadline; answered ones,
    ones still running, and ones already settled stay as they are."""
    add_invoice(sessions, 1, expires_at=T0 - timedelta(seconds=1))
    add_invoice(sessions, 2, expires_at=T0 + timedelta(seconds=1))
    add_invoice(sessions, 3, expires_at=T0 - timedelta(hours=1))
    add_invoice(sessions, 4, status="paid", expires_at=T0 - timedelta(hours=1))
    add_invoice(sessions, 5, expires_at=T0)  # at its deadline, not past it
    later = T0 + timedelta(minutes=1)
    with sessions.begin() as session:
        canceled = service.expired_unknown_to_provider(
            session, uuids=["U1", "U2", "U3", "U4", "U5"], answered={"U3"}, now=T0)
    assert canceled == 1
    with sessions.begin() as session:
        service.expired_unknown_to_provider(session, uuids=["U1"], answered=set(), now=later)
    with sessions() as session:
        rows = {row.uuid: (row.status, row.updated_at) for row in session.scalars(select(Invoice))}
    assert rows == {"U1": ("canceled", T0), "U2": ("created", T0), "U3": ("created", T0),
                    "U4": ("paid", T0), "U5": ("created", T0)}
    with sessions.begin() as session:
        assert service.expired_unknown_to_provider(session, uuids=["U3"], answered={"U3"},
                                                   now=T0) == 0
