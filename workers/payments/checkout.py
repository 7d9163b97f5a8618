"""A subscriber's tap on a plan, through to a pay link or a message saying why there is none.

The task never assumes another task ran first: the bot's tasks go to different queues and run
in any order, so checkout records the user itself from the Telegram profile it is given (the
same upsert `users.register` does). Only a message from an older bot, carrying a bare id, can
find no user; it waits a few seconds with a bound, then tells the user. Every refusal ends in a
message to the subscriber who tapped: plan gone, CryptoCloud unreachable after the retries, or
CryptoCloud refusing (then the admins are told too).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from infra import texts
from infra.cryptocloud import CryptoCloudError, CryptoCloudUnavailable
from infra.logging import get_logger
from models.schema import Invoice
from workers.access import invites
from workers.context import WorkerContext
from workers.dispatch import dispatch
from workers.payments import service
from workers.promos import service as promos
from workers.retrying import Run
from workers.switches import service as switches
from workers.users.service import known_user

log = get_logger("workers.payments")

# Waits for a user row that only another task can write (bare-id messages): 2, 4, 8, 16 s.
USER_RETRIES = 4
# Retries of an unreachable CryptoCloud before the subscriber is told: 5 s … 60 s, ~3 min.
PROVIDER_RETRIES = 5
RETRY_BASE_SECONDS = 2.0
RETRY_CAP_SECONDS = 60.0


def _now() -> datetime:
    return datetime.now(UTC)


def backoff(retries: int, *, base: float = RETRY_BASE_SECONDS, at_least: float = 0.0) -> float:
    return float(min(RETRY_CAP_SECONDS, max(base * 2**retries, at_least)))


def checkout(
    ctx: WorkerContext, *, user: int | dict[str, Any], plan_code: str, request_key: str,
    retries: int,
) -> Run:
    """Create (or reuse) the user's invoice for a plan and send the pay link, or say why not."""
    user_id = int(user["user_id"]) if isinstance(user, dict) else int(user)
    started = _start(ctx, user=user, user_id=user_id, plan_code=plan_code,
                     request_key=request_key, retries=retries)
    if isinstance(started, Run):
        return started
    return _deliver(ctx, started=started, user_id=user_id, plan_code=plan_code,
                    request_key=request_key, retries=retries)


def _deliver(
    ctx: WorkerContext, *, started: service.CheckoutStart, user_id: int, plan_code: str,
    request_key: str, retries: int,
) -> Run:
    """Open the recorded invoice at CryptoCloud if needed and send its pay link."""
    if started.needs_provider_invoice:
        failed = _provide(ctx, invoice_id=started.invoice_id, user_id=user_id,
                          request_key=request_key, retries=retries)
        if failed is not None:
            return failed
    with ctx.sessions.begin() as session:
        effects = service.send_pay_link(session, invoice_id=started.invoice_id,
                                        request_key=request_key, now=_now())
    dispatch(effects)
    # After the pay link is on its way: the subscriber does not wait for this one.
    prepared = invites.prepare_links(ctx, user_id=user_id, invoice_id=started.invoice_id)
    log.info("checkout_ready", user_id=user_id, plan=plan_code, invoice_id=started.invoice_id,
             reused=not started.needs_provider_invoice, invite_links_made=prepared)
    return Run("sent")


def switch_plan(
    ctx: WorkerContext, *, user: int | dict[str, Any], plan_code: str, stamp: int,
    request_key: str, retries: int,
) -> Run:
    """A confirmed plan switch: a downgrade is applied at once; an upgrade gets an invoice for
    the difference, opened and sent like any checkout's (workers/switches/service.py)."""
    user_id = int(user["user_id"]) if isinstance(user, dict) else int(user)
    with ctx.sessions.begin() as session:
        known_user(session, user=user, now=_now())
        confirmed = switches.confirm(session, user_id=user_id, plan_code=plan_code, stamp=stamp,
                                     request_key=request_key, now=_now())
    dispatch(confirmed.effects)
    if confirmed.invoice_id is None:
        log.info("switch_confirmed", user_id=user_id, plan=plan_code,
                 outcome=confirmed.outcome)
        return Run(confirmed.outcome)
    started = service.CheckoutStart(confirmed.invoice_id, confirmed.needs_provider_invoice)
    return _deliver(ctx, started=started, user_id=user_id, plan_code=plan_code,
                    request_key=request_key, retries=retries)


def _start(
    ctx: WorkerContext, *, user: int | dict[str, Any], user_id: int, plan_code: str,
    request_key: str, retries: int,
) -> service.CheckoutStart | Run:
    try:
        with ctx.sessions.begin() as session:
            known_user(session, user=user, now=_now())
            return service.start_checkout(session, user_id=user_id, plan_code=plan_code,
                                          now=_now())
    except service.UnknownUser as refused:
        if retries < USER_RETRIES:
            return Run("waiting for the user", backoff(retries))
        return refuse(ctx, user_id, request_key, lambda: texts.ACCOUNT_NOT_FOUND, str(refused))
    except service.PlanGone as refused:
        return refuse(ctx, user_id, request_key, lambda: texts.CHECKOUT_PLAN_GONE,
                       str(refused))


def _provide(
    ctx: WorkerContext, *, invoice_id: int, user_id: int, request_key: str, retries: int
) -> Run | None:
    """Open the CryptoCloud invoice; None when done, else what the run came to."""
    try:
        _open_provider_invoice(ctx, invoice_id)
    except CryptoCloudUnavailable as error:
        if retries < PROVIDER_RETRIES:
            return Run("provider unavailable",
                                backoff(retries, base=5.0, at_least=error.retry_after or 0))
        return refuse(ctx, user_id, request_key, lambda: texts.CHECKOUT_FAILED, str(error))
    except CryptoCloudError as error:  # refused, moved, or an answer we cannot read
        return refuse(ctx, user_id, request_key, lambda: texts.CHECKOUT_FAILED, str(error),
                       alert=True)
    return None


def _open_provider_invoice(ctx: WorkerContext, invoice_id: int) -> None:
    with ctx.sessions.begin() as session:
        invoice = session.get_one(Invoice, invoice_id)
        order_id, amount = invoice.order_id, invoice.amount_usd
    created = ctx.payments.create_invoice(
        order_id=order_id, amount_usd=amount,
        ttl=timedelta(minutes=ctx.settings.invoice_ttl_minutes),
    )
    with ctx.sessions.begin() as session:
        stored = service.store_provider_invoice(
            session, invoice_id=invoice_id, uuid=created.uuid, link=created.link,
            expires_at=created.expires_at, now=_now(),
        )
        superseded = promos.superseded_invoices(session, invoice_id=invoice_id)
    if not stored:  # a concurrent attempt attached its own invoice first
        ctx.payments.cancel_invoice(created.uuid)
    for uuid in superseded:  # a promo discount goes on one invoice at a time
        _cancel_quietly(ctx, uuid)


def _cancel_quietly(ctx: WorkerContext, uuid: str) -> None:
    """Cancel an invoice a newer one replaced; if that fails (paid meanwhile, CryptoCloud
    away) it is still honoured when paid, and expires unpaid otherwise."""
    try:
        ctx.payments.cancel_invoice(uuid)
    except CryptoCloudError as error:
        log.warning("superseded_invoice_not_canceled", uuid=uuid, error=str(error))


def refuse(
    ctx: WorkerContext, user_id: int, request_key: str, text: Callable[[], str], reason: str, *,
    alert: bool = False,
) -> Run:
    with ctx.sessions.begin() as session:
        effects = service.tell_checkout_refused(
            session, user_id=user_id, request_key=request_key, text=text, now=_now(),
            admins=ctx.settings.admins, error=reason if alert else None,
        )
    dispatch(effects)
    log.warning("checkout_refused", user_id=user_id, reason=reason)
    return Run("refused")
