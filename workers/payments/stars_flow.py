"""Telegram Stars, task by task: the invoice message, a payment into the inbox, a refund.

Each function is what one task does with the worker's resources: transactions through the use
cases in workers/payments/stars.py, Telegram calls between them, never inside one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from infra import task_names, texts
from infra.logging import get_logger
from infra.telegram import (
    TelegramAlreadyDone,
    TelegramBlocked,
    TelegramFailure,
    TelegramTransient,
)
from workers.admin import service as admin
from workers.context import WorkerContext
from workers.dispatch import dispatch
from workers.languages import speaking_to, speaking_to_user
from workers.payments import service, stars
from workers.payments.checkout import USER_RETRIES, backoff, refuse
from workers.retrying import Run
from workers.users.service import known_user

log = get_logger("workers.payments")

# Telegram unreachable: the task's retries before the subscriber or the admin is told.
TELEGRAM_RETRIES = 5


def _now() -> datetime:
    return datetime.now(UTC)


def checkout(ctx: WorkerContext, *, user: dict[str, Any], plan_code: str, request_key: str,
             retries: int) -> Run:
    """Open (or reuse) the user's Stars invoice for a plan and send it, or say why not."""
    user_id = int(user["user_id"])
    opened = _open(ctx, user=user, user_id=user_id, plan_code=plan_code,
                   request_key=request_key, retries=retries)
    if isinstance(opened, Run):
        return opened
    return _send(ctx, opened, plan_code=plan_code, request_key=request_key, retries=retries)


def _open(ctx: WorkerContext, *, user: dict[str, Any], user_id: int, plan_code: str,
          request_key: str, retries: int) -> stars.StarsInvoice | Run:
    settings = ctx.settings
    try:
        with ctx.sessions.begin() as session:
            known_user(session, user=user, now=_now())
            invoice = stars.start_checkout(
                session, user_id=user_id, plan_code=plan_code, now=_now(),
                usd_per_star=settings.stars_usd_rate,
                ttl=timedelta(minutes=settings.invoice_ttl_minutes))
    except service.UnknownUser as refused:
        if retries < USER_RETRIES:
            return Run("waiting for the user", backoff(retries))
        return refuse(ctx, user_id, request_key, lambda: texts.ACCOUNT_NOT_FOUND, str(refused))
    except stars.NotForStars as refused:
        return refuse(ctx, user_id, request_key, lambda: texts.STARS_NOT_SOLD, str(refused))
    except service.PlanGone as refused:
        return refuse(ctx, user_id, request_key, lambda: texts.CHECKOUT_PLAN_GONE, str(refused))
    return invoice


def _send(ctx: WorkerContext, invoice: stars.StarsInvoice, *, plan_code: str,
          request_key: str, retries: int) -> Run:
    user_id = invoice.user_id
    with speaking_to_user(ctx.sessions, user_id):
        title = texts.stars_invoice_title(plan_title=invoice.plan_title)
        description = texts.stars_invoice_description(
            plan_title=invoice.plan_title, days=invoice.days, promo_held=invoice.promo_held)
        label = texts.stars_price_label(days=invoice.days)
    try:
        ctx.telegram.send_stars_invoice(chat_id=user_id, payload=invoice.payload, title=title,
                                        description=description, label=label,
                                        amount=invoice.stars)
    except TelegramTransient as failure:
        if retries < TELEGRAM_RETRIES:
            return Run("telegram unavailable", backoff(retries, base=5.0,
                                                        at_least=failure.retry_after or 0))
        return refuse(ctx, user_id, request_key, lambda: texts.CHECKOUT_FAILED, str(failure))
    except TelegramBlocked:
        return Run("user unreachable")
    except TelegramFailure as failure:  # a refusal: the subscriber and the admins hear it
        return refuse(ctx, user_id, request_key, lambda: texts.CHECKOUT_FAILED, str(failure),
                      alert=True)
    log.info("stars_invoice_sent", user_id=user_id, plan=plan_code,
             invoice_id=invoice.invoice_id, stars=invoice.stars)
    return Run("sent")


def receive(ctx: WorkerContext, raw: dict[str, Any]) -> Run:
    """Record a `successful_payment` in the inbox, then settle it (now, or by the relay)."""
    payment = stars.Payment.parse(raw)
    if not payment.sealed_by(ctx.settings.telegram_token.get_secret_value().encode()):
        with ctx.sessions.begin() as session:
            stars.refuse_forged(session, payment=payment, now=_now())
        log.error("stars_payment_forged", user_id=payment.user_id)
        return Run("forged")
    with ctx.sessions.begin() as session:
        entry = stars.record_payment(session, payment=payment, now=_now())
    if not entry.needs_processing:
        return Run("duplicate")
    ctx.send(task_names.PROCESS_PAYMENT_EVENT, entry.id)
    return Run("recorded")


def refund(ctx: WorkerContext, *, command: admin.Command, user_id: int, retries: int) -> Run:
    """/refund <user_id>: claim, call refundStarPayment, then apply or report the answer."""
    with ctx.sessions.begin() as session:
        now = _now()
        if not admin.authorized(session, command=command, admins=ctx.settings.admins,
                                action="refund", now=now):
            return Run("refused")
        with speaking_to(session, command.actor_id):  # the answer is in the admin's language
            claimed = stars.claim_refund(session, command=command, user_id=user_id,
                                         chat_id=ctx.settings.channel, now=now)
    if isinstance(claimed, admin.Done):
        return _carry_out(ctx, command, claimed)
    try:
        ctx.telegram.refund_star_payment(user_id=claimed.user_id, charge_id=claimed.charge_id)
    except TelegramTransient as failure:
        if retries < TELEGRAM_RETRIES:
            return Run("telegram unavailable", backoff(retries, base=5.0,
                                                        at_least=failure.retry_after or 0))
        return _refused(ctx, command, claimed, failure.description)
    except TelegramAlreadyDone:
        pass  # an earlier attempt's refund got through: apply it below
    except TelegramFailure as failure:
        return _refused(ctx, command, claimed, failure.description)
    chat_id = ctx.settings.channel
    return _finish(ctx, command, lambda session, now: stars.apply_refund(
        session, command=command, claim=claimed, chat_id=chat_id, now=now))


def _refused(ctx: WorkerContext, command: admin.Command, claim: stars.RefundClaim,
             error: str) -> Run:
    return _finish(ctx, command, lambda session, now: stars.refund_refused(
        session, command=command, claim=claim, error=error, now=now))


def _finish(ctx: WorkerContext, command: admin.Command, use_case: Any) -> Run:
    with ctx.sessions.begin() as session, speaking_to(session, command.actor_id):
        done: admin.Done = use_case(session, _now())
    return _carry_out(ctx, command, done)


def _carry_out(ctx: WorkerContext, command: admin.Command, done: admin.Done) -> Run:
    """Send what the command produced; no time left means a removal, as /edit remove does it
    (a transient failure there raises for the task to retry: the redelivery kicks again)."""
    dispatch(done.effects)
    if done.kick is not None:
        dispatch(admin.carry_out_kick(ctx, command=command, kick=done.kick, now=_now()))
    return Run("done")
