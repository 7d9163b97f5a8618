"""The stand-in's whole state: one project, its invoices, money received and postbacks sent.

Safe to use from the server's loop and from test threads at once (one re-entrant lock). Methods
hand out copies of invoices, never the live objects. Expiry is applied lazily before every
operation, so a read never shows an invoice that should already be canceled.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import random
import string
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from infra.sandbox.cryptocloud.catalog import (
    CRYPTOS,
    DEFAULT_CRYPTO,
    USD_CENT,
    Crypto,
    fiat_to_usd,
)
from infra.sandbox.cryptocloud.clock import SandboxClock
from infra.sandbox.cryptocloud.config import SandboxConfig
from infra.sandbox.cryptocloud.delivery import Delivery, PostbackDispatcher, PostbackHooks
from infra.sandbox.cryptocloud.invoices import (
    Invoice,
    InvoiceStatus,
    Payment,
    TransitionRefused,
    strip_prefix,
)
from infra.sandbox.cryptocloud.postback import PostbackBody, render
from infra.sandbox.cryptocloud.shapes import service_fee_usd
from infra.sandbox.cryptocloud.validation import CreateRequest

PayMode = Literal["full", "part", "over"]
CODE_ALPHABET = string.ascii_uppercase + string.digits
DEFAULT_OVERPAY = Decimal("1.00")
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_EVM_NETWORKS = {"ERC20", "BSC", "ARB", "BASE", "OPT"}


class InvoiceNotFound(LookupError):
    """No invoice with this uuid (with or without `INV-`)."""


@dataclass(frozen=True)
class Balance:
    crypto: Crypto
    amount: Decimal
    amount_usd: Decimal


class CryptoCloudWorld:
    """State and configuration of the CryptoCloud stand-in."""

    def __init__(
        self,
        *,
        config: SandboxConfig | None = None,
        clock: SandboxClock | None = None,
        seed: int | None = None,
    ) -> None:
        self._initial_config = config or SandboxConfig()
        self._config = self._initial_config
        self.clock = clock or SandboxClock()
        self._random = random.Random(seed)
        self._lock = threading.RLock()
        self._invoices: dict[str, Invoice] = {}  # by code, in creation order
        self._deliveries: list[Delivery] = []
        self._numbers = itertools.count(1)
        self.postbacks = PostbackDispatcher(
            hooks=PostbackHooks(render=self._render, record=self._record, now=self.clock.now)
        )

    # --- configuration -------------------------------------------------------------------

    @property
    def config(self) -> SandboxConfig:
        return self._config

    def configure(
        self, changes: Mapping[str, object] | None = None, /, **more: object
    ) -> SandboxConfig:
        """Apply settings by name (see SandboxConfig); ValueError on an unknown or bad one."""
        with self._lock:
            self._config = self._config.updated({**(changes or {}), **more})
            return self._config

    def reset(self) -> None:
        """Forget invoices and deliveries; back to the start-up config and the real clock."""
        self.postbacks.cancel_pending()
        with self._lock:
            self._invoices.clear()
            self._deliveries.clear()
            self._config = self._initial_config
            self.clock.set_offset(timedelta(0))

    def now(self) -> datetime:
        return self.clock.now()

    def set_clock_offset(self, offset: timedelta) -> None:
        with self._lock:
            self.clock.set_offset(offset)
            self.sweep()

    # --- the API's operations ------------------------------------------------------------

    def create_invoice(self, request: CreateRequest, *, link_base: str) -> Invoice:
        with self._lock:
            now, config = self.now(), self._config
            code = self._new_code()
            offered = request.available_currencies or (DEFAULT_CRYPTO,)
            crypto = CRYPTOS[request.cryptocurrency or offered[0]]
            lifetime = request.time_to_pay or timedelta(minutes=config.default_time_to_pay_minutes)
            invoice = Invoice(
                number=next(self._numbers),
                code=code,
                created=now,
                expiry=now + lifetime,
                amount_usd=max(fiat_to_usd(request.amount, request.currency), USD_CENT),
                amount_in_fiat=request.amount.quantize(USD_CENT),
                fiat_currency=request.currency,
                crypto=crypto,
                address=self._new_address(crypto) if request.cryptocurrency else "",
                link=f"{(config.pay_link_base or link_base).rstrip('/')}/{code}",
                order_id=request.order_id,
                email=request.email,
                locale=request.locale,
                available_currencies=request.available_currencies,
                test_mode=config.test_mode,
            )
            self._invoices[code] = invoice
            return copy.deepcopy(invoice)

    def invoice(self, uuid: str) -> Invoice:
        with self._lock:
            return copy.deepcopy(self._live(uuid))

    def invoices(self) -> list[Invoice]:
        with self._lock:
            self.sweep()
            return copy.deepcopy(list(self._invoices.values()))

    def lookup(self, uuids: list[str]) -> tuple[list[Invoice], list[str]]:
        """Invoices for the ids in request order (duplicates once), and the ids not found."""
        with self._lock:
            self.sweep()
            found: dict[str, Invoice] = {}
            missing: list[str] = []
            for uuid in uuids:
                invoice = self._invoices.get(strip_prefix(uuid))
                if invoice is None:
                    missing.append(uuid)
                else:
                    found.setdefault(invoice.code, invoice)
            return copy.deepcopy(list(found.values())), missing

    def info(self, uuids: list[str]) -> tuple[list[Invoice], list[str]]:
        """`lookup` as merchant/info answers it: with `info_lag_seconds` set, an invoice
        confirmed less than that long ago still shows as it was before (its postback is
        already on the way: the provider lagging behind its own notification)."""
        found, missing = self.lookup(uuids)
        lag = timedelta(seconds=self._config.info_lag_seconds)
        now = self.now()
        return [_before_confirmation(i) if i.confirmed_at and now - i.confirmed_at < lag else i
                for i in found], missing

    def cancel(self, uuid: str) -> Invoice:
        with self._lock:
            invoice = self._live(uuid)
            invoice.cancel(self.now())
            return copy.deepcopy(invoice)

    def created_between(self, start: date, end: date) -> list[Invoice]:
        """Invoices created on the days start..end (UTC, inclusive), newest first."""
        with self._lock:
            self.sweep()
            chosen = [i for i in self._invoices.values() if start <= i.created.date() <= end]
            return copy.deepcopy(chosen[::-1])

    def balances(self) -> list[Balance]:
        """Credited money per coin: confirmed, non-test invoices less the service fee."""
        with self._lock:
            self.sweep()
            usd = dict.fromkeys(CRYPTOS, Decimal("0.00"))
            for invoice in self._invoices.values():
                if invoice.confirmed and not invoice.test_mode:
                    received = invoice.received_usd
                    usd[invoice.crypto.fullcode] += received - service_fee_usd(received)
            return [Balance(c, c.from_usd(usd[code]), usd[code]) for code, c in CRYPTOS.items()]

    # --- what a payer, the merchant's dashboard or time does (control API) ----------------

    def pay(
        self, uuid: str, amount_usd: Decimal | None = None, *, mode: PayMode | None = None
    ) -> Invoice:
        """Receive a transfer. Without a mode, `amount_usd` (default: what is due) is sent as is;
        "full" sends what is due, "part" less than that, "over" more (default due + 1.00)."""
        with self._lock:
            invoice = self._live(uuid)
            if not invoice.is_open:
                raise TransitionRefused(f"invoice {invoice.uuid} is {invoice.status}, no payments")
            amount = _payment_amount(invoice.due_usd, amount_usd, mode)
            tx_hash = f"{self._random.getrandbits(256):064x}"
            payment = Payment(self.now(), amount, tx_hash)
            confirmed = invoice.receive(payment, tolerance_usd=self._config.partial_tolerance_usd)
            snapshot = copy.deepcopy(invoice)
        if confirmed:
            self.postbacks.submit(snapshot.uuid, self._config)
        return snapshot

    def confirm_partial(self, uuid: str) -> Invoice:
        """The merchant accepts an underpaid invoice; this sends a postback too."""
        with self._lock:
            invoice = self._live(uuid)
            status = InvoiceStatus(self._config.confirmed_partial_status)
            invoice.confirm_partial(self.now(), status=status)
            snapshot = copy.deepcopy(invoice)
        self.postbacks.submit(snapshot.uuid, self._config)
        return snapshot

    def expire_now(self, uuid: str) -> Invoice:
        with self._lock:
            invoice = self._live(uuid)
            invoice.expire(self.now())
            return copy.deepcopy(invoice)

    def resend_postback(self, uuid: str) -> int:
        """Send the postback of a confirmed invoice again; returns the new postback's id."""
        with self._lock:
            invoice = self._live(uuid)
            if not invoice.confirmed:
                raise TransitionRefused(f"invoice {invoice.uuid} is not confirmed: no postback")
        return self.postbacks.submit(invoice.uuid, self._config)

    def sweep(self) -> list[str]:
        """Cancel every open invoice whose lifetime is over; returns their uuids."""
        with self._lock:
            now = self.now()
            return [i.uuid for i in self._invoices.values() if i.expire_if_due(now)]

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    # --- internals -----------------------------------------------------------------------

    def _live(self, uuid: str) -> Invoice:
        self.sweep()
        invoice = self._invoices.get(strip_prefix(uuid))
        if invoice is None:
            raise InvoiceNotFound(uuid)
        return invoice

    def _render(self, uuid: str, config: SandboxConfig) -> PostbackBody:
        with self._lock:
            return render(self._live(uuid), config, self.now())

    def _record(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)

    def _new_code(self) -> str:
        while True:
            code = "".join(self._random.choices(CODE_ALPHABET, k=8))
            if code not in self._invoices:
                return code

    def _new_address(self, crypto: Crypto) -> str:
        if crypto.network in _EVM_NETWORKS:
            return f"0x{self._random.getrandbits(160):040x}"
        prefix = "T" if crypto.network == "TRC20" else ""
        return prefix + "".join(self._random.choices(_BASE58, k=34 - len(prefix)))


def _payment_amount(due: Decimal, amount: Decimal | None, mode: PayMode | None) -> Decimal:
    if amount is not None:
        if not amount.is_finite() or amount < USD_CENT:
            raise ValueError("amount must be at least 0.01 USD")
        amount = amount.quantize(USD_CENT, rounding=ROUND_HALF_UP)
    if mode is None:
        return due if amount is None else amount
    if mode == "full":
        if amount is not None:
            raise ValueError('"full" pays what is due; leave amount out')
        return due
    if mode == "part":
        if amount is None or amount >= due:
            raise ValueError(f"a part payment needs an amount below what is due ({due})")
        return amount
    if amount is None:
        return due + DEFAULT_OVERPAY
    if amount <= due:
        raise ValueError(f"an overpayment needs an amount above what is due ({due})")
    return amount


def _before_confirmation(invoice: Invoice) -> Invoice:
    """The invoice as it stood before its confirmation: the confirming payment not yet seen."""
    confirmed_at = invoice.confirmed_at
    earlier = [p for p in invoice.payments if confirmed_at is None or p.at < confirmed_at]
    status = InvoiceStatus.PARTIAL if earlier else InvoiceStatus.CREATED
    return dataclasses.replace(invoice, payments=earlier, status=status, confirmed_at=None)
