"""Celery tasks of the payments queue: thin wrappers that load ids, call a use case, dispatch."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from celery import Task, shared_task

from infra import task_names
from infra.cryptocloud import CryptoCloudRejected, CryptoCloudUnavailable
from infra.logging import get_logger
from models import inbox
from models.outbox import effects_to_relay
from models.schema import Invoice, PaymentEvent
from workers import lifecycle  # noqa: F401 - registers the per-process hooks
from workers.context import context
from workers.dispatch import dispatch
from workers.payments import service
from workers.retrying import retrying
from workers.scheduling import should_run

log = get_logger("workers.payments")

# The inbox relay is the net under a task that exhausts its retries.
RETRYING = retrying(CryptoCloudUnavailable)
POLL_BATCH = 100  # merchant/info takes at most 100 ids per call


def _now() -> datetime:
    return datetime.now(UTC)


@shared_task(name=task_names.PROCESS_PAYMENT_EVENT, **RETRYING)
def process_event(event_id: int) -> str:
    ctx = context()
    with ctx.sessions.begin() as session:
        event = session.get(PaymentEvent, event_id)
        if event is None or event.processed_at is not None:
            return "nothing to do"
        uuid = event.invoice_uuid
    bound = log.bind(event_id=event_id, invoice_uuid=uuid)
    states = {state.uuid: state for state in ctx.payments.invoice_info([uuid])}
    with ctx.sessions.begin() as session:
        now = _now()
        if uuid in states:
            settlement = service.settle_invoice(
                session, state=states[uuid], now=now, admins=ctx.settings.admins
            )
        else:
            settlement = service.unknown_invoice(
                session, uuid=uuid, now=now, admins=ctx.settings.admins,
                details={"reason": "CryptoCloud does not report this invoice"},
            )
        inbox.mark_processed(session, event_id, now=now)
    dispatch(settlement.effects)
    bound.info("payment_event_processed", outcome=settlement.outcome,
               invoice_id=settlement.invoice_id)
    return settlement.outcome.value


@shared_task(name=task_names.RELAY_PAYMENT_INBOX, bind=True)
def relay_inbox(self: Task, every: int | None = None) -> int:
    """Re-queue inbox events and outbox effects that a lost message or a crash left behind."""
    if not should_run(self, every):
        return 0
    ctx = context()
    now = _now()
    with ctx.sessions.begin() as session:
        event_ids = inbox.unprocessed_event_ids(
            session, received_before=now - timedelta(seconds=ctx.settings.relay_after_seconds),
            limit=500,
        )
        effects = effects_to_relay(
            session, now=now, limit=500,
            unclaimed_since=now - timedelta(seconds=ctx.settings.effect_relay_after_seconds))
    for event_id in event_ids:
        ctx.send(task_names.PROCESS_PAYMENT_EVENT, event_id)
    dispatch(effects)
    if event_ids or effects:
        log.warning("relay_requeued", events=len(event_ids), effects=len(effects))
    return len(event_ids) + len(effects)


@shared_task(name=task_names.POLL_PENDING_INVOICES, bind=True, **RETRYING)
def poll_pending_invoices(self: Task, every: int | None = None) -> int:
    """Ask CryptoCloud about open invoices and feed news into the postback pipeline."""
    if not should_run(self, every):
        return 0
    ctx = context()
    with ctx.sessions.begin() as session:
        uuids = service.invoices_to_poll(session, now=_now(), limit=POLL_BATCH)
    if not uuids:
        return 0
    states = ctx.payments.invoice_info(uuids)
    to_process: list[int] = []
    with ctx.sessions.begin() as session:
        now = _now()
        for state in states:
            key = service.poll_report_key(state)
            if key is None:
                continue
            entry = inbox.record_payment_event(
                session, invoice_uuid=state.uuid, reported_status=key, source="poll",
                payload=json.dumps({"uuid": state.uuid, "status": state.status,
                                    "paid_usd": str(state.paid_usd)}),
                now=now,
            )
            if not entry.processed:
                to_process.append(entry.id)
        service.expired_unknown_to_provider(
            session, uuids=uuids, answered={state.uuid for state in states}, now=now
        )
    for event_id in to_process:
        ctx.send(task_names.PROCESS_PAYMENT_EVENT, event_id)
    return len(to_process)


@shared_task(name=task_names.CHECKOUT, **RETRYING)
def checkout(user_id: int, plan_code: str, request_key: str) -> str:
    """Create (or reuse) the user's invoice for a plan and send them the pay link."""
    ctx = context()
    bound = log.bind(user_id=user_id, plan=plan_code)
    try:
        with ctx.sessions.begin() as session:
            start = service.start_checkout(session, user_id=user_id, plan_code=plan_code,
                                           now=_now())
    except service.CheckoutRefused as refused:
        bound.warning("checkout_refused", reason=str(refused))
        return "refused"
    if start.needs_provider_invoice:
        with ctx.sessions.begin() as session:
            invoice = session.get_one(Invoice, start.invoice_id)
            order_id, amount = invoice.order_id, invoice.amount_usd
        try:
            created = ctx.payments.create_invoice(
                order_id=order_id, amount_usd=amount,
                ttl=timedelta(minutes=ctx.settings.invoice_ttl_minutes),
            )
        except CryptoCloudRejected as rejected:
            bound.error("checkout_provider_rejected", error=str(rejected))
            return "rejected"
        with ctx.sessions.begin() as session:
            stored = service.store_provider_invoice(
                session, invoice_id=start.invoice_id, uuid=created.uuid, link=created.link,
                expires_at=created.expires_at,
            )
        if not stored:  # a concurrent attempt attached its own invoice first
            ctx.payments.cancel_invoice(created.uuid)
    with ctx.sessions.begin() as session:
        effects = service.send_pay_link(session, invoice_id=start.invoice_id,
                                        request_key=request_key, now=_now())
    dispatch(effects)
    bound.info("checkout_ready", invoice_id=start.invoice_id,
               reused=not start.needs_provider_invoice)
    return "sent"
