"""Invoices: the status machine driven by the payment provider, and invoice identifiers.

CryptoCloud reports statuses by webhook and by polling, late, twice and out of order;
`next_status` decides which reports move an invoice and which are ignored, so the handler can
apply the answer as one conditional update.
"""

import re
from datetime import datetime, timedelta
from enum import StrEnum

from models.domain._guards import require_aware


class InvoiceStatus(StrEnum):
    """Where an invoice stands; values are stored in the database."""

    CREATED = "created"
    PAID = "paid"
    PARTIAL = "partial"
    OVERPAID = "overpaid"
    CANCELED = "canceled"


_S = InvoiceStatus
# Paid and overpaid are final. A canceled invoice still honours money that arrives late: the
# subscriber paid, the provider's timeout is not their fault.
_ALLOWED: dict[InvoiceStatus, frozenset[InvoiceStatus]] = {
    _S.CREATED: frozenset({_S.PAID, _S.PARTIAL, _S.OVERPAID, _S.CANCELED}),
    _S.PARTIAL: frozenset({_S.PAID, _S.OVERPAID, _S.CANCELED}),
    _S.CANCELED: frozenset({_S.PAID, _S.OVERPAID, _S.PARTIAL}),
    _S.PAID: frozenset(),
    _S.OVERPAID: frozenset(),
}
_GRANTING = frozenset({_S.PAID, _S.OVERPAID})


def next_status(current: InvoiceStatus, reported: InvoiceStatus) -> InvoiceStatus | None:
    """Return the status to move to, or None to ignore the report.

    None covers repeats, reports that would go backwards and anything after a final status.
    A second `partial` is None too: the status stays, the caller records the larger amount.
    """
    current, reported = InvoiceStatus(current), InvoiceStatus(reported)
    return reported if reported in _ALLOWED[current] else None


def grants_access(status: InvoiceStatus) -> bool:
    """Tell whether an invoice in this status pays for access (paid or overpaid)."""
    return InvoiceStatus(status) in _GRANTING


_PROVIDER_PREFIX = "INV-"
_CODE = re.compile(r"[A-Z0-9]{4,32}")


def normalize_uuid(raw: str) -> str:
    """Return the bare invoice code: no `INV-` prefix, no surrounding space, upper case.

    Raises ValueError unless the result is 4 to 32 ASCII letters or digits.
    """
    code = raw.strip()
    if code[: len(_PROVIDER_PREFIX)].upper() == _PROVIDER_PREFIX:
        code = code[len(_PROVIDER_PREFIX) :]
    # Check ASCII before upper(): "ß".upper() is "SS", which would sneak past the pattern.
    code = code.upper() if code.isascii() else code
    if not _CODE.fullmatch(code):
        raise ValueError(f"not an invoice id (INV- + 4-32 letters or digits): {raw!r}")
    return code


def provider_uuid(code: str) -> str:
    """Return the id as the provider spells it: `INV-` + the normalized code."""
    return _PROVIDER_PREFIX + normalize_uuid(code)


def time_left(*, expires_at: datetime, now: datetime) -> timedelta:
    """Return how long an invoice can still be paid, never negative."""
    require_aware(expires_at, name="expires_at")
    require_aware(now, name="now")
    return max(timedelta(0), expires_at - now)
