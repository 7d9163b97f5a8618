"""The invoice state machine (invoices.py) and how the world drives it (world.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from infra.sandbox.cryptocloud import (
    CryptoCloudSandbox,
    CryptoCloudWorld,
    Invoice,
    InvoiceStatus,
    TransitionRefused,
)
from infra.sandbox.cryptocloud.catalog import CRYPTOS
from infra.sandbox.cryptocloud.invoices import Payment, strip_prefix
from infra.sandbox.cryptocloud.validation import CreateRequest
from infra.sandbox.cryptocloud.world import PayMode

T0 = datetime(2025, 1, 1, 12, tzinfo=UTC)


def make_invoice(amount: str = "10.00") -> Invoice:
    return Invoice(
        number=1,
        code="ABCD1234",
        created=T0,
        expiry=T0 + timedelta(hours=1),
        amount_usd=Decimal(amount),
        amount_in_fiat=Decimal(amount),
        fiat_currency="USD",
        crypto=CRYPTOS["USDT_TRC20"],
        address="",
        link="http://127.0.0.1/ABCD1234",
    )


def payment(amount: str, minutes: int = 1) -> Payment:
    return Payment(T0 + timedelta(minutes=minutes), Decimal(amount), "00" * 32)


def receive(invoice: Invoice, amount: str, tolerance: str = "0") -> bool:
    return invoice.receive(payment(amount), tolerance_usd=Decimal(tolerance))


def create_request(minutes: int | None = None) -> CreateRequest:
    return CreateRequest(
        amount=Decimal("10"),
        currency="USD",
        order_id="order-1",
        email=None,
        time_to_pay=None if minutes is None else timedelta(minutes=minutes),
        available_currencies=(),
        cryptocurrency=None,
        locale="en",
    )


def status_of(invoice: Invoice) -> InvoiceStatus:
    """The status, read through a call so the type checker does not pin it between steps."""
    return invoice.status


def test_full_payment_confirms_as_paid() -> None:
    """Exactly the amount makes the invoice paid, confirmed at the payment's time."""
    invoice = make_invoice()
    assert receive(invoice, "10.00") is True
    assert invoice.status is InvoiceStatus.PAID
    assert invoice.confirmed_at == T0 + timedelta(minutes=1)
    assert invoice.invoice_status == "success" and invoice.due_usd == 0


def test_partial_then_top_up_becomes_paid() -> None:
    """An underpayment is partial and unconfirmed; topping up the rest makes it paid."""
    invoice = make_invoice()
    assert receive(invoice, "4.00") is False
    assert invoice.status is InvoiceStatus.PARTIAL and invoice.due_usd == Decimal("6.00")
    assert invoice.is_open and invoice.invoice_status == "start"
    assert receive(invoice, "6.00") is True
    assert status_of(invoice) is InvoiceStatus.PAID
    assert invoice.received_usd == Decimal("10.00")


def test_partial_topped_up_beyond_the_amount_becomes_overpaid() -> None:
    """A top-up that exceeds what is due ends overpaid."""
    invoice = make_invoice()
    receive(invoice, "4.00")
    assert receive(invoice, "7.00") is True
    assert invoice.status is InvoiceStatus.OVERPAID
    assert invoice.received_usd == Decimal("11.00")


def test_overpayment_is_overpaid() -> None:
    """Sending more than the amount at once ends overpaid, with the surplus tracked."""
    invoice = make_invoice()
    receive(invoice, "12.50")
    assert invoice.status is InvoiceStatus.OVERPAID and invoice.received_usd == Decimal("12.50")


def test_underpayment_within_tolerance_counts_as_paid() -> None:
    """The project's "maximum deviation" turns a slight underpayment into paid."""
    invoice = make_invoice()
    assert receive(invoice, "9.50", tolerance="1.00") is True
    assert invoice.status is InvoiceStatus.PAID


def test_expiry_cancels_created_and_partial_invoices_at_their_expiry_date() -> None:
    """Past expiry an unpaid or partial invoice is canceled, dated at its expiry."""
    for paid in (None, "3.00"):
        invoice = make_invoice()
        if paid:
            receive(invoice, paid)
        assert invoice.expire_if_due(invoice.expiry - timedelta(seconds=1)) is False
        assert invoice.expire_if_due(invoice.expiry + timedelta(hours=5)) is True
        assert invoice.status is InvoiceStatus.CANCELED
        assert invoice.canceled_at == invoice.expiry
        assert invoice.invoice_status == "canceled"


def confirmed_partial() -> Invoice:
    invoice = make_invoice()
    receive(invoice, "3.00")
    invoice.confirm_partial(T0, status=InvoiceStatus.PARTIAL)
    return invoice


def paid(amount: str) -> Callable[[], Invoice]:
    def build() -> Invoice:
        invoice = make_invoice()
        receive(invoice, amount)
        return invoice

    return build


def canceled() -> Invoice:
    invoice = make_invoice()
    invoice.cancel(T0)
    return invoice


@pytest.mark.parametrize(
    "build", [paid("10.00"), paid("11.00"), canceled, confirmed_partial], ids=str
)
def test_finished_invoices_never_move_again(build: Callable[[], Invoice]) -> None:
    """Paid, overpaid, canceled and confirmed-partial invoices refuse payment, expiry,
    cancel and confirmation, and time passing leaves them as they are."""
    invoice = build()
    status = invoice.status
    for change in (
        lambda: receive(invoice, "1.00"),
        lambda: invoice.expire(T0),
        lambda: invoice.cancel(T0),
        lambda: invoice.confirm_partial(T0, status=InvoiceStatus.PAID),
    ):
        with pytest.raises(TransitionRefused):
            change()
    assert invoice.expire_if_due(invoice.expiry + timedelta(days=1)) is False
    assert invoice.status is status


def test_cancel_refuses_a_partial_invoice() -> None:
    """Only a created invoice can be canceled through the API."""
    invoice = make_invoice()
    receive(invoice, "1.00")
    with pytest.raises(TransitionRefused, match="Invoice is not created"):
        invoice.cancel(T0)


def test_strip_prefix_accepts_both_forms() -> None:
    """`INV-XXXXXXXX` and `XXXXXXXX` name the same invoice."""
    assert strip_prefix("INV-ABCD1234") == strip_prefix(" ABCD1234 ") == "ABCD1234"


def test_world_expires_invoices_when_the_clock_moves() -> None:
    """Advancing the world's clock past expiry cancels open invoices on the next read."""
    world = CryptoCloudWorld()
    short = world.create_invoice(create_request(minutes=10), link_base="http://x")
    long = world.create_invoice(create_request(), link_base="http://x")
    world.pay(long.uuid, Decimal("2"))
    world.set_clock_offset(timedelta(minutes=11))
    assert world.invoice(short.uuid).status is InvoiceStatus.CANCELED
    assert world.invoice(long.uuid).status is InvoiceStatus.PARTIAL
    world.set_clock_offset(timedelta(hours=25))
    assert world.invoice(long.uuid).status is InvoiceStatus.CANCELED
    with pytest.raises(TransitionRefused):
        world.pay(long.uuid)


def test_world_hands_out_copies() -> None:
    """Changing an invoice the world returned does not change the world."""
    world = CryptoCloudWorld()
    invoice = world.create_invoice(create_request(), link_base="http://x")
    invoice.status = InvoiceStatus.PAID
    assert world.invoice(invoice.uuid).status is InvoiceStatus.CREATED


@pytest.mark.parametrize(
    ("mode", "amount", "status", "received"),
    [
        ("full", None, "paid", "10.00"),
        ("part", "2.50", "partial", "2.50"),
        ("over", None, "overpaid", "11.00"),
        ("over", "15", "overpaid", "15.00"),
        (None, None, "paid", "10.00"),
        (None, "3.333", "partial", "3.33"),
    ],
)
def test_world_pay_modes(
    mode: PayMode | None, amount: str | None, status: str, received: str
) -> None:
    """pay(): full sends what is due, part less, over more (default +1.00), no mode the amount."""
    world = CryptoCloudWorld()
    uuid = world.create_invoice(create_request(), link_base="http://x").uuid
    invoice = world.pay(uuid, None if amount is None else Decimal(amount), mode=mode)
    assert invoice.status == status and invoice.received_usd == Decimal(received)


@pytest.mark.parametrize(
    ("mode", "amount"), [("full", "5"), ("part", None), ("part", "10"), ("over", "10"), (None, "0")]
)
def test_world_pay_refuses_amounts_that_contradict_the_mode(
    mode: PayMode | None, amount: str | None
) -> None:
    """A part payment must be below what is due, an overpayment above, full takes no amount."""
    world = CryptoCloudWorld()
    uuid = world.create_invoice(create_request(), link_base="http://x").uuid
    with pytest.raises(ValueError):
        world.pay(uuid, None if amount is None else Decimal(amount), mode=mode)


def test_confirmed_partial_status_is_configurable(cryptocloud_sandbox: CryptoCloudSandbox) -> None:
    """A confirmed partial stays `partial` by default and can be configured to end `paid`."""
    world = cryptocloud_sandbox.world
    for setting, expected in (("partial", "partial"), ("paid", "paid")):
        cryptocloud_sandbox.configure(confirmed_partial_status=setting)
        uuid = world.create_invoice(create_request(), link_base="http://x").uuid
        cryptocloud_sandbox.pay(uuid, "4")
        invoice = cryptocloud_sandbox.confirm_partial(uuid)
        assert invoice.status == expected and invoice.invoice_status == "success"
        assert invoice.received_usd == Decimal("4.00")
