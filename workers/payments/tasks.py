"""Celery tasks of the payments queue: thin wrappers that load ids, call a use case, dispatch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Task, shared_task

from infra import task_names
from infra.celery_config import MAX_COUNTDOWN
from infra.cryptocloud import CryptoCloudUnavailable
from infra.logging import get_logger
from infra.telegram import TelegramTransient, retry_countdown
from models import inbox
from models.outbox import effects_to_relay
from workers import lifecycle  # noqa: F401 - registers the per-process hooks
from workers.admin import service as admin
from workers.context import context
from workers.dispatch import dispatch
from workers.payments import checkout as checkout_flow
from workers.payments import events, polling, stars_flow
from workers.retrying import DB_RETRYING, retrying
from workers.scheduling import should_run

log = get_logger("workers.payments")

# The inbox relay is the net under a task that exhausts its retries.
RETRYING = retrying(CryptoCloudUnavailable)


def _now() -> datetime:
    return datetime.now(UTC)


@shared_task(name=task_names.PROCESS_PAYMENT_EVENT, bind=True, **DB_RETRYING)
def process_event(self: Task, event_id: int) -> str:
    run = events.process_event(context(), event_id, retries=self.request.retries)
    if run.retry_in is not None:
        raise self.retry(countdown=run.retry_in)
    return run.outcome


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
    """Ask CryptoCloud about the invoices due for the poll and feed news into the pipeline."""
    if not should_run(self, every):
        return 0
    return polling.poll_due(context(), now=_now(), every=every).news


@shared_task(name=task_names.CHECKOUT, bind=True, **DB_RETRYING)
def checkout(self: Task, user: int | dict[str, Any], plan_code: str, request_key: str) -> str:
    """Create (or reuse) the user's invoice for a plan and send them the pay link.

    `user` is the Telegram profile the bot saw (older bots sent the bare id).
    """
    run = checkout_flow.checkout(context(), user=user, plan_code=plan_code,
                                 request_key=request_key, retries=self.request.retries)
    if run.retry_in is not None:
        raise self.retry(countdown=run.retry_in)
    return run.outcome


@shared_task(name=task_names.SWITCH_PLAN, bind=True, **DB_RETRYING)
def switch_plan(self: Task, user: int | dict[str, Any], plan_code: str, stamp: int,
                request_key: str) -> str:
    """A confirmed plan switch: applied at once, or a pay link for the difference.

    `stamp` is the version of the access the quote was made on; `request_key` keys the answer.
    """
    run = checkout_flow.switch_plan(context(), user=user, plan_code=plan_code, stamp=stamp,
                                    request_key=request_key, retries=self.request.retries)
    if run.retry_in is not None:
        raise self.retry(countdown=run.retry_in)
    return run.outcome


@shared_task(name=task_names.STARS_CHECKOUT, bind=True, **DB_RETRYING)
def stars_checkout(self: Task, user: dict[str, Any], plan_code: str, request_key: str) -> str:
    """Open (or reuse) the user's Stars invoice for a plan and send it in the chat."""
    run = stars_flow.checkout(context(), user=user, plan_code=plan_code,
                              request_key=request_key, retries=self.request.retries)
    if run.retry_in is not None:
        raise self.retry(countdown=run.retry_in)
    return run.outcome


@shared_task(name=task_names.STARS_PAYMENT, **DB_RETRYING)
def stars_payment(payment: dict[str, Any]) -> str:
    """Record a Telegram Stars `successful_payment` in the inbox and queue its processing."""
    return stars_flow.receive(context(), payment).outcome


@shared_task(name=task_names.ADMIN_STARS_REFUND, bind=True, **DB_RETRYING)
def stars_refund(self: Task, command: dict[str, Any], user_id: int) -> str:
    """/refund <user_id>: refund the user's latest Stars payment and take its days back."""
    try:
        run = stars_flow.refund(context(), command=admin.Command(**command), user_id=user_id,
                                retries=self.request.retries)
    except TelegramTransient as failure:  # the removal's ban or unban
        raise self.retry(countdown=retry_countdown(failure, self.request.retries,
                                                   cap=MAX_COUNTDOWN)) from None
    if run.retry_in is not None:
        raise self.retry(countdown=run.retry_in)
    return run.outcome
