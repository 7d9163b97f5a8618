"""`recheck-invoice <uuid>`: "I paid but got nothing" — ask CryptoCloud now and settle in-process.

The same path as a postback: CryptoCloud's merchant/info answer is recorded in the inbox (source
"manual"), `settle_invoice` applies it in one transaction, and the resulting Telegram effects are
queued to the workers after the commit. Settling is idempotent, so rechecking an invoice that was
already handled changes nothing and says so.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from kombu.exceptions import OperationalError

from infra.cryptocloud import CryptoCloudClient
from infra.ops.tools import OK, REFUSED, UNAVAILABLE, OpsError, Tools
from infra.texts import count
from models import inbox
from models.domain.money import to_money
from workers.dispatch import TASK_FOR_EFFECT
from workers.payments import service


def bare_uuid(value: str) -> str:
    """CryptoCloud's invoice id without its `INV-` prefix, as our tables store it."""
    value = value.strip()
    bare = value[4:] if value.upper().startswith("INV-") else value
    if not bare or not bare.isalnum():
        raise OpsError(f"not an invoice id: {value!r} (expected INV-XXXXXXXX or XXXXXXXX)")
    return bare


def recheck(tools: Tools, *, invoice: str) -> int:
    uuid = bare_uuid(invoice)
    settings = tools.settings
    with CryptoCloudClient(base_url=settings.cryptocloud_base, api_key=settings.cryptocloud_key,
                           shop_id=settings.cryptocloud_shop) as client:
        states = client.invoice_info([uuid])
    if not states:
        raise OpsError(f"INV-{uuid}: CryptoCloud does not know this invoice", code=REFUSED)
    state = states[0]
    tools.say(f"INV-{uuid}: CryptoCloud says {state.status}, paid {to_money(state.paid_usd)} "
              f"of {to_money(state.amount_usd)} {state.currency}")
    key = service.poll_report_key(state)
    if key is None:
        tools.say("nothing to settle: the invoice is not paid, part paid or canceled")
        return OK
    with tools.sessions.begin() as session:
        now = datetime.now(UTC)
        entry = inbox.record_payment_event(
            session, invoice_uuid=state.uuid, reported_status=key, source="manual",
            payload=json.dumps({"uuid": state.uuid, "status": state.status,
                                "paid_usd": str(state.paid_usd)}),
            now=now,
        )
        settlement = service.settle_invoice(session, state=state, now=now,
                                            admins=settings.admins)
        inbox.mark_processed(session, entry.id, now=now)
    tools.say(f"outcome: {settlement.outcome.value} (invoice #{settlement.invoice_id}, inbox "
              f"event #{entry.id}{', new' if entry.is_new else ', seen before'})")
    try:
        for effect_id, method in settlement.effects:
            tools.producer.send_task(TASK_FOR_EFFECT[method], args=[effect_id])
    except OperationalError as error:
        raise OpsError(
            f"settled, but the effects could not be queued ({error}); the inbox relay "
            "queues them within 10 minutes of Redis coming back", code=UNAVAILABLE,
        ) from None
    tools.say(f"{count(len(settlement.effects), 'Telegram effect')} queued")
    return OK
