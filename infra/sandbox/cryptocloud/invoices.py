"""One invoice and its state machine: created → paid | partial | overpaid | canceled, never back.

Pure rules: every method takes `now`; nothing here knows about HTTP, threads or postbacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from infra.sandbox.cryptocloud.catalog import USD_CENT, Crypto

PREFIX = "INV-"


class InvoiceStatus(StrEnum):
    CREATED = "created"
    PAID = "paid"
    PARTIAL = "partial"
    OVERPAID = "overpaid"
    CANCELED = "canceled"


class TransitionRefused(Exception):
    """The invoice is in a state that does not allow the requested change."""


@dataclass(frozen=True)
class Payment:
    """Money the (pretend) payer sent: one on-chain transfer."""

    at: datetime
    amount_usd: Decimal
    tx_hash: str


@dataclass(kw_only=True)
class Invoice:
    """An invoice of the stand-in; `number` is the numeric id some token formats carry."""

    number: int
    code: str
    created: datetime
    expiry: datetime
    amount_usd: Decimal
    amount_in_fiat: Decimal
    fiat_currency: str
    crypto: Crypto
    address: str
    link: str
    order_id: str | None = None
    email: str | None = None
    locale: str = "en"
    available_currencies: tuple[str, ...] = ()
    test_mode: bool = False
    status: InvoiceStatus = InvoiceStatus.CREATED
    payments: list[Payment] = field(default_factory=list)
    confirmed_at: datetime | None = None
    canceled_at: datetime | None = None

    @property
    def uuid(self) -> str:
        return PREFIX + self.code

    @property
    def received_usd(self) -> Decimal:
        return sum((p.amount_usd for p in self.payments), Decimal("0.00"))

    @property
    def due_usd(self) -> Decimal:
        return max(self.amount_usd - self.received_usd, Decimal("0.00"))

    @property
    def is_open(self) -> bool:
        """Still waiting for money: it may be paid, topped up or expire."""
        return self.status in (InvoiceStatus.CREATED, InvoiceStatus.PARTIAL) and not self.confirmed

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None

    @property
    def finished_at(self) -> datetime | None:
        return self.confirmed_at or self.canceled_at

    @property
    def invoice_status(self) -> str:
        """The secondary flow status: docs show `start` and `success`; `canceled` is our choice."""
        if self.confirmed:
            return "success"
        return "canceled" if self.status is InvoiceStatus.CANCELED else "start"

    def seconds_left(self, now: datetime) -> int:
        return max(int((self.expiry - now).total_seconds()), 0) if self.is_open else 0

    def receive(self, payment: Payment, *, tolerance_usd: Decimal) -> bool:
        """Book a transfer; returns True when it confirms the invoice (paid or overpaid)."""
        if not self.is_open:
            raise TransitionRefused(f"invoice {self.uuid} is {self.status}, it takes no payments")
        if payment.amount_usd < USD_CENT:
            raise ValueError("a payment must be at least 0.01 USD")
        self.payments.append(payment)
        received = self.received_usd
        if received > self.amount_usd:
            self.status = InvoiceStatus.OVERPAID
        elif received >= self.amount_usd - tolerance_usd:
            self.status = InvoiceStatus.PAID
        else:
            self.status = InvoiceStatus.PARTIAL
            return False
        self.confirmed_at = payment.at
        return True

    def confirm_partial(self, now: datetime, *, status: InvoiceStatus) -> None:
        """The merchant accepts an underpayment (dashboard button in the real service)."""
        if self.status is not InvoiceStatus.PARTIAL or self.confirmed:
            raise TransitionRefused(f"invoice {self.uuid} is {self.status}, not an open partial")
        self.status, self.confirmed_at = status, now

    def cancel(self, now: datetime) -> None:
        """The cancel API: only an invoice nobody has paid anything into."""
        if self.status is not InvoiceStatus.CREATED:
            raise TransitionRefused("Invoice is not created")
        self.status, self.canceled_at = InvoiceStatus.CANCELED, now

    def expire(self, now: datetime) -> None:
        """Lifetime over: unpaid and unconfirmed partial invoices both end canceled."""
        if not self.is_open:
            raise TransitionRefused(f"invoice {self.uuid} is {self.status}, it cannot expire")
        self.status, self.canceled_at = InvoiceStatus.CANCELED, now

    def expire_if_due(self, now: datetime) -> bool:
        if self.is_open and now >= self.expiry:
            # The invoice ended at its expiry date, however late the sweep noticed.
            self.expire(self.expiry)
            return True
        return False


def strip_prefix(uuid: str) -> str:
    """`INV-XXXXXXXX` or `XXXXXXXX` → `XXXXXXXX` (the API accepts both)."""
    text = uuid.strip()
    return text[len(PREFIX) :] if text.upper().startswith(PREFIX) else text
