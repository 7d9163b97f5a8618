"""The JSON objects the API returns for invoices, projects and balances (reference §2–§5)."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from infra.sandbox.cryptocloud.catalog import USD_CENT
from infra.sandbox.cryptocloud.config import SandboxConfig
from infra.sandbox.cryptocloud.invoices import Invoice
from infra.sandbox.cryptocloud.wire import timestamp

# The service fee is charged to the merchant (side_commission_cc), so a payer sends exactly the
# invoice amount; it is reported in the fee fields and taken off the balance.
SERVICE_FEE_RATE = Decimal("0.019")
NETWORK_FEE = Decimal("0.00")


def project_object(config: SandboxConfig) -> dict[str, Any]:
    return {
        "id": config.project_id,
        "name": config.project_name,
        "fail": config.fail_url,
        "success": config.success_url,
        "logo": None,
    }


def service_fee_usd(amount_usd: Decimal) -> Decimal:
    return (amount_usd * SERVICE_FEE_RATE).quantize(USD_CENT, rounding=ROUND_HALF_UP)


def _amount(invoice: Invoice) -> Decimal:
    # Docs: `amount` is in crypto once a coin is chosen, otherwise it mirrors the USD value.
    return invoice.crypto.from_usd(invoice.amount_usd) if invoice.address else invoice.amount_usd


def _common(invoice: Invoice, config: SandboxConfig) -> dict[str, Any]:
    fee = service_fee_usd(invoice.amount_usd)
    crypto = invoice.crypto
    return {
        "uuid": invoice.uuid,
        "created": timestamp(invoice.created),
        "address": invoice.address,
        "expiry_date": timestamp(invoice.expiry),
        "side_commission": "client",
        "side_commission_cc": "merchant",
        "amount": _amount(invoice),
        "amount_usd": invoice.amount_usd,
        "amount_in_fiat": invoice.amount_in_fiat,
        "fee": crypto.from_usd(NETWORK_FEE),
        "fee_usd": NETWORK_FEE,
        "service_fee": crypto.from_usd(fee),
        "service_fee_usd": fee,
        "type_payments": "crypto",
        "fiat_currency": invoice.fiat_currency,
        "status": str(invoice.status),
        "is_email_required": False,
        "link": invoice.link,
        "invoice_id": None,
        "currency": crypto.invoice_object(),
        "project": project_object(config),
        "test_mode": invoice.test_mode,
    }


def created_invoice(invoice: Invoice, config: SandboxConfig) -> dict[str, Any]:
    """`invoice/create` result."""
    return _common(invoice, config)


def invoice_details(invoice: Invoice, config: SandboxConfig) -> dict[str, Any]:
    """The rich form: `merchant/info` and `merchant/list` items, and the postback `invoice_info`."""
    crypto = invoice.crypto
    received = invoice.received_usd
    return {
        **_common(invoice, config),
        "date_finished": timestamp(invoice.finished_at),
        "invoice_status": invoice.invoice_status,
        "amount_in_crypto": crypto.from_usd(invoice.amount_usd),
        "amount_to_pay": crypto.from_usd(invoice.amount_usd),
        "amount_to_pay_usd": invoice.amount_usd,
        "amount_paid": crypto.from_usd(received),
        "amount_paid_usd": received,
        "received": crypto.from_usd(received),
        "received_usd": received,
        "to_surcharge": crypto.from_usd(invoice.due_usd),
        "to_surcharge_usd": invoice.due_usd,
        "order_id": invoice.order_id,
        "pay_url": invoice.link,
        "user_email": invoice.email,
        "phone": None,
        "type": "up",
        "tx_list": [payment.tx_hash for payment in invoice.payments],
    }


def control_summary(invoice: Invoice, now: datetime) -> dict[str, Any]:
    """What the control API and the pay page show about an invoice (not part of the real API)."""
    return {
        "uuid": invoice.uuid,
        "code": invoice.code,
        "status": str(invoice.status),
        "invoice_status": invoice.invoice_status,
        "confirmed": invoice.confirmed,
        "open": invoice.is_open,
        "amount_usd": str(invoice.amount_usd),
        "received_usd": str(invoice.received_usd),
        "due_usd": str(invoice.due_usd),
        "amount_in_fiat": str(invoice.amount_in_fiat),
        "fiat_currency": invoice.fiat_currency,
        "currency": invoice.crypto.fullcode,
        "order_id": invoice.order_id,
        "created": timestamp(invoice.created),
        "expiry_date": timestamp(invoice.expiry),
        "date_finished": timestamp(invoice.finished_at),
        "seconds_left": invoice.seconds_left(now),
        "link": invoice.link,
        "test_mode": invoice.test_mode,
        "payments": [
            {"at": timestamp(p.at), "amount_usd": str(p.amount_usd), "tx_hash": p.tx_hash}
            for p in invoice.payments
        ],
    }
