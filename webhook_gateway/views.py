"""`POST /cryptocloud_webhook`: verify, record durably, queue, answer.

200 means the event is in the database (the inbox), so it survives the crash of any process
right after the answer: if queuing fails, the inbox relay queues it later, and the fallback
poll would find the payment anyway. 503 only when the database cannot take it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from time import perf_counter
from typing import Any

from flask import Blueprint, current_app, request
from sqlalchemy.exc import SQLAlchemyError

from infra import task_names
from infra.logging import get_logger
from models.inbox import record_payment_event
from webhook_gateway.metrics import ENQUEUE_FAILURES, LATENCY, POSTBACKS
from webhook_gateway.postback import PostbackRejected, read_postback

Answer = tuple[dict[str, str], int] | tuple[dict[str, str], int, dict[str, str]]
blueprint = Blueprint("cryptocloud", __name__)
log = get_logger("webhook_gateway")
# Token claim shapes already logged by this process: each is worth one line, not one per postback.
_claim_shapes_logged: set[str] = set()


def _gateway() -> dict[str, Any]:
    gateway: dict[str, Any] = current_app.extensions["gateway"]
    return gateway


@blueprint.post("/cryptocloud_webhook")
def cryptocloud_webhook() -> Answer:
    started = perf_counter()
    try:
        return _handle()
    finally:
        LATENCY.labels(route="cryptocloud_webhook").observe(perf_counter() - started)


def _handle() -> Answer:
    gateway = _gateway()
    settings = gateway["settings"]
    try:
        postback = read_postback(
            content_type=request.content_type or "",
            body=request.get_data(cache=False),
            keys=[key.get_secret_value() for key in settings.cryptocloud_secrets],
            leeway=settings.postback_leeway_seconds,
        )
    except PostbackRejected as rejected:
        POSTBACKS.labels(outcome=f"rejected_{rejected.status}").inc()
        log.warning("postback_rejected", status=rejected.status, reason=rejected.reason,
                    remote=request.remote_addr)
        return {"error": rejected.reason}, rejected.status

    bound = log.bind(invoice_uuid=postback.invoice_code, reported=postback.reported_status,
                     order_id=postback.order_id)
    if postback.claim_shape not in _claim_shapes_logged:
        _claim_shapes_logged.add(postback.claim_shape)
        bound.info("postback_token_claim_shape", shape=postback.claim_shape)
    try:
        # A bare connection, not a session: the inbox row is all this transaction writes.
        with gateway["engine"].begin() as connection:
            entry = record_payment_event(
                connection,
                invoice_uuid=postback.invoice_code,
                reported_status=postback.reported_status,
                source="postback",
                payload=postback.raw_body,
                now=datetime.now(UTC),
            )
    except SQLAlchemyError as error:
        POSTBACKS.labels(outcome="unavailable").inc()
        bound.error("postback_not_recorded", error=type(error).__name__)
        return {"error": "not accepted, retry later"}, 503, {"Retry-After": "30"}

    if entry.needs_processing:
        try:
            gateway["celery"].send_task(
                task_names.PROCESS_PAYMENT_EVENT, args=[entry.id], retry=False
            )
        except Exception as error:  # any broker failure: the relay re-queues it
            ENQUEUE_FAILURES.inc()
            bound.warning("postback_enqueue_failed", event_id=entry.id, error=type(error).__name__)
    POSTBACKS.labels(outcome="accepted" if entry.is_new else "duplicate").inc()
    bound.info("postback_accepted", event_id=entry.id, duplicate=not entry.is_new)
    return {"message": "Postback received"}, 200
