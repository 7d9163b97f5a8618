"""Taking one inbox event to a final answer, or leaving it open with the reason written on it.

An event is processed only when CryptoCloud's answer settled it: activated, part paid,
canceled, already applied, or unknown / mismatched (those two alert the admins). Two things
leave it open without counting as a failure: merchant/info still saying `created` about an
invoice it notified us of (the provider lags behind its own postback), and CryptoCloud being
unreachable. The task retries those with a short backoff while the event is young; after that
the inbox relay re-queues it every cycle and the poll brings it back as soon as it sees the
payment. So an outage never gives a payment up, and a lag ends at the latest when the invoice
expires (`canceled` is a final answer).

Anything else that goes wrong is a failed attempt, counted on the event with its error. After
`inbox.MAX_EVENT_ATTEMPTS` the event is given up: the relay and the poll skip it, the admins are
told once, and `recheck-invoice` settles it by hand once the cause is fixed. No dead letter is
written per attempt: the event row is the record.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.exc import OperationalError

from infra.celery_config import MAX_COUNTDOWN
from infra.cryptocloud import (
    CryptoCloudError,
    CryptoCloudMoved,
    CryptoCloudRejected,
    CryptoCloudUnavailable,
)
from infra.logging import get_logger
from models import inbox
from models.schema import PaymentEvent
from models.schema.payments import STARS
from workers.context import WorkerContext
from workers.dispatch import dispatch
from workers.payments import service, stars
from workers.retrying import Run

log = get_logger("workers.payments")

# The task's own retries of an open event: 5, 10, 20, 40 s, while the relay has not taken over.
EVENT_RETRIES = 4
RETRY_BASE_SECONDS = 5.0
PROVIDER_BEHIND = "CryptoCloud's merchant/info still reports the invoice as created"


def _now() -> datetime:
    return datetime.now(UTC)


def process_event(ctx: WorkerContext, event_id: int, *, retries: int) -> Run:
    """Settle inbox event `event_id` from CryptoCloud's current answer, if it has one."""
    with ctx.sessions.begin() as session:
        event = session.get(PaymentEvent, event_id)
        if event is None or event.processed_at is not None:
            return Run("nothing to do")
        uuid, received_at, provider = event.invoice_uuid, event.received_at, event.provider
    if provider == STARS:
        return _process_stars_event(ctx, event_id, uuid=uuid)
    return _process_cryptocloud_event(ctx, event_id, uuid=uuid, received_at=received_at,
                                      retries=retries)


def _process_cryptocloud_event(
    ctx: WorkerContext, event_id: int, *, uuid: str, received_at: datetime, retries: int
) -> Run:
    bound = log.bind(event_id=event_id, invoice_uuid=uuid)
    try:
        states = {state.uuid: state for state in ctx.payments.invoice_info([uuid])}
        with ctx.sessions.begin() as session:
            now = _now()
            settlement = service.settle_reported(session, uuid=uuid, state=states.get(uuid),
                                                 now=now, admins=ctx.settings.admins)
            if settlement.outcome is not service.Outcome.PROVIDER_BEHIND:
                inbox.mark_processed(session, event_id, now=now)
    except CryptoCloudUnavailable as error:
        return _leave_open(ctx, event_id, received_at=received_at, retries=retries,
                           reason=str(error), at_least=error.retry_after or 0.0)
    except OperationalError:
        raise  # the database itself: the task's own retry policy
    except Exception as error:  # any other failure is counted, never looped on
        if isinstance(error, CryptoCloudError) and _our_configuration(error):
            # Every event fails alike until an operator fixes the setting: not this event's
            # fault, so it stays open without counting (the poll and relay bring it back).
            return _leave_open(ctx, event_id, received_at=received_at, retries=retries,
                               reason=str(error))
        bound.exception("payment_event_failed")
        return _count_failure(ctx, event_id, uuid=uuid, error=f"{type(error).__name__}: {error}")
    dispatch(settlement.effects)
    if settlement.outcome is service.Outcome.PROVIDER_BEHIND:
        return _leave_open(ctx, event_id, received_at=received_at, retries=retries,
                           reason=PROVIDER_BEHIND)
    bound.info("payment_event_processed", outcome=settlement.outcome,
               invoice_id=settlement.invoice_id)
    return Run(settlement.outcome.value)


def _process_stars_event(ctx: WorkerContext, event_id: int, *, uuid: str) -> Run:
    """Settle a Telegram Stars charge: Telegram's update is the proof, nothing to ask."""
    try:
        with ctx.sessions.begin() as session:
            now = _now()
            settlement = stars.settle_payment(session, event_uuid=uuid, now=now,
                                              admins=ctx.settings.admins)
            inbox.mark_processed(session, event_id, now=now)
    except OperationalError:
        raise  # the database itself: the task's own retry policy
    except Exception as error:  # counted on the event, never looped on
        log.exception("payment_event_failed", event_id=event_id, invoice_uuid=uuid)
        return _count_failure(ctx, event_id, uuid=uuid, error=f"{type(error).__name__}: {error}")
    dispatch(settlement.effects)
    log.info("payment_event_processed", event_id=event_id, outcome=settlement.outcome,
             invoice_id=settlement.invoice_id)
    return Run(settlement.outcome.value)


def _our_configuration(error: CryptoCloudError) -> bool:
    """A moved API host or a refused key: fixed by an operator, the same for every event."""
    return isinstance(error, CryptoCloudMoved) or (
        isinstance(error, CryptoCloudRejected) and error.status_code in (401, 403))


def _leave_open(
    ctx: WorkerContext, event_id: int, *, received_at: datetime, retries: int, reason: str,
    at_least: float = 0.0,
) -> Run:
    with ctx.sessions.begin() as session:
        inbox.note_failure(session, event_id, error=reason, counted=False)
    countdown = min(max(RETRY_BASE_SECONDS * 2**retries, at_least), MAX_COUNTDOWN)
    # Once the relay re-queues the event, its cadence is the retry: two chains would overlap.
    relay_takes_over = received_at.timestamp() + ctx.settings.relay_after_seconds
    young = _now().timestamp() + countdown < relay_takes_over
    retry_in = countdown if retries < EVENT_RETRIES and young else None
    log.warning("payment_event_left_open", event_id=event_id, reason=reason, retry_in=retry_in)
    return Run("left open", retry_in)


def _count_failure(ctx: WorkerContext, event_id: int, *, uuid: str, error: str) -> Run:
    with ctx.sessions.begin() as session:
        attempts = inbox.note_failure(session, event_id, error=error, counted=True)
        effects = []
        if attempts == inbox.MAX_EVENT_ATTEMPTS:
            effects = service.give_up_event(session, event_id=event_id, uuid=uuid,
                                            attempts=attempts, error=error, now=_now(),
                                            admins=ctx.settings.admins)
    dispatch(effects)
    given_up = attempts >= inbox.MAX_EVENT_ATTEMPTS
    log.error("payment_event_attempt_failed", event_id=event_id, attempts=attempts,
              given_up=given_up, error=error[:300])
    return Run("given up" if given_up else "failed")
