"""`FakePaymentProvider`: an in-memory `PaymentProvider` for unit tests of the use cases.

It refuses the same caller mistakes as the real client, records what was created, lets a test
move an invoice to any state (`set_state`) and queue failures for the next calls (`fail_next`).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from infra.cryptocloud._errors import CryptoCloudError, CryptoCloudRejected
from infra.cryptocloud._model import (
    DEFAULT_CURRENCY,
    CreatedInvoice,
    InvoiceState,
    check_amount,
    check_currency,
    check_order_id,
    codes,
    time_to_pay,
)
from models.domain.invoices import InvoiceStatus, normalize_uuid


class FakePaymentProvider:
    """Invoices live in `invoices` (by bare code); `created` lists every create answer."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        link_base: str = "https://pay.example.test",
    ) -> None:
        self.invoices: dict[str, InvoiceState] = {}
        self.created: list[CreatedInvoice] = []
        self._clock, self._link_base = clock, link_base
        self._numbers = itertools.count(1)
        self._failures: list[CryptoCloudError] = []

    def fail_next(self, *errors: CryptoCloudError) -> None:
        """Make the next calls raise these errors, one per call, before doing anything."""
        self._failures.extend(errors)

    def set_state(
        self, uuid: str, status: InvoiceStatus, *, paid_usd: Decimal | None = None
    ) -> InvoiceState:
        """Move an invoice to `status`; `paid` without `paid_usd` means paid in full."""
        state, status = self.invoices[normalize_uuid(uuid)], InvoiceStatus(status)
        if paid_usd is None:
            paid_usd = state.amount_usd if status is InvoiceStatus.PAID else state.paid_usd
        state = dataclasses.replace(state, status=status, paid_usd=paid_usd)
        self.invoices[state.uuid] = state
        return state

    def create_invoice(
        self,
        *,
        order_id: str,
        amount_usd: Decimal,
        ttl: timedelta,
        currency: str = DEFAULT_CURRENCY,
        locale: str | None = None,
    ) -> CreatedInvoice:
        """Record a new invoice in `created` and `invoices`, status created."""
        check_order_id(order_id)
        check_amount(amount_usd)
        check_currency(currency)
        time_to_pay(ttl)
        self._maybe_fail()
        code, now = f"FAKE{next(self._numbers):04d}", self._clock()
        invoice = CreatedInvoice(
            uuid=code,
            link=f"{self._link_base}/{code}",
            amount_usd=amount_usd,
            status=InvoiceStatus.CREATED,
            expires_at=now + ttl,
            created_at=now,
        )
        self.created.append(invoice)
        self.invoices[code] = InvoiceState(
            uuid=code,
            status=InvoiceStatus.CREATED,
            order_id=order_id,
            amount_usd=amount_usd,
            paid_usd=Decimal(0),
            currency=currency,
            expires_at=invoice.expires_at,
            test_mode=False,
        )
        return invoice

    def invoice_info(self, uuids: Sequence[str]) -> list[InvoiceState]:
        """The known invoices among `uuids`, in the order asked."""
        wanted = codes(uuids)
        self._maybe_fail()
        return [self.invoices[code] for code in wanted if code in self.invoices]

    def cancel_invoice(self, uuid: str) -> bool:
        """Cancel a `created` invoice; False for any other status, Rejected for an unknown id."""
        code = normalize_uuid(uuid)
        self._maybe_fail()
        state = self.invoices.get(code)
        if state is None:
            raise CryptoCloudRejected(
                "CryptoCloud invoice/merchant/canceled rejected (HTTP 400): Invoice not found",
                operation="invoice/merchant/canceled",
                details={"validate_error": "Invoice not found"},
            )
        if state.status is not InvoiceStatus.CREATED:
            return False
        self.set_state(code, InvoiceStatus.CANCELED)
        return True

    def _maybe_fail(self) -> None:
        if self._failures:
            raise self._failures.pop(0)
