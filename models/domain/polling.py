"""When to ask CryptoCloud about an invoice again: the schedule of the fallback poll.

The poll is the net under a lost postback. Money arrives mostly in an invoice's first minutes,
so young invoices are asked about at every run of the poll (POLL_INTERVAL_SECONDS, the `base`
interval) and older ones rarely; a canceled invoice is
watched for a day only (late money is still honoured), and a paid one never again. The poll
stores the answer as `next_poll_at` per invoice, so each run asks only about what is due.
"""

from datetime import datetime, timedelta

from models.domain._guards import require_aware
from models.domain.invoices import InvoiceStatus

# How long after a cancellation the poll still looks for late money.
LATE_PAYMENT_WINDOW = timedelta(days=1)

# Open invoices younger than this are asked about at every run: with the default invoice
# lifetime (60 minutes) that is every open invoice, so a lost postback waits one interval.
YOUNG = timedelta(hours=1)
# (age below which, interval) for older open invoices (a lifetime of up to a week is allowed),
# and for canceled ones; never more often than the base interval.
OLDER_TIERS: tuple[tuple[timedelta, timedelta], ...] = ((timedelta(hours=6), timedelta(minutes=3)),)
OLD_OPEN_INTERVAL = timedelta(minutes=10)
CANCELED_INTERVAL = timedelta(minutes=10)

_OPEN = frozenset({InvoiceStatus.CREATED, InvoiceStatus.PARTIAL})


def poll_interval(
    *, status: str, created_at: datetime, expires_at: datetime | None, updated_at: datetime,
    now: datetime, base: timedelta,
) -> timedelta | None:
    """How long until the invoice is worth asking about again; None when it cannot change.

    Paid and overpaid are final; a canceled invoice can still receive late money for
    LATE_PAYMENT_WINDOW after it was canceled (`updated_at`), and never after. An open invoice
    past its expiry is asked about at the next run: the provider has canceled it by then, and a
    part payer should hear so at once.
    """
    require_aware(now, name="now")
    current = InvoiceStatus(status)
    if current is InvoiceStatus.CANCELED:
        left = require_aware(updated_at, name="updated_at") + LATE_PAYMENT_WINDOW - now
        return max(base, min(CANCELED_INTERVAL, left)) if left > timedelta(0) else None
    if current not in _OPEN:
        return None
    age = now - require_aware(created_at, name="created_at")
    expired = expires_at is not None and require_aware(expires_at, name="expires_at") <= now
    if expired or age < YOUNG:
        return base
    for below, interval in OLDER_TIERS:
        if age < below:
            return max(base, interval)
    return max(base, OLD_OPEN_INTERVAL)
