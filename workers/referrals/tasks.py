"""Celery tasks for referral payouts: a referrer's request and an admin's decision."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from celery import shared_task

from infra import task_names
from workers import lifecycle  # noqa: F401 - registers the per-process hooks
from workers.context import context
from workers.dispatch import dispatch
from workers.referrals import service
from workers.retrying import DB_RETRYING


def _now() -> datetime:
    return datetime.now(UTC)


@shared_task(name=task_names.REQUEST_PAYOUT, **DB_RETRYING)
def request_payout(user_id: int, network: str, wallet: str, amount: str,
                   request_key: str) -> int:
    ctx = context()
    with ctx.sessions.begin() as session:
        effects = service.request_payout(
            session, user_id=user_id, network=network, wallet=wallet, amount=Decimal(amount),
            request_key=request_key, admins=ctx.settings.admins, now=_now(),
            hold=ctx.settings.referral_hold, minimum=ctx.settings.payout_minimum)
    dispatch(effects)
    return len(effects)


@shared_task(name=task_names.DECIDE_PAYOUT, **DB_RETRYING)
def decide_payout(request_id: int, approve: bool, actor_id: int, command: str) -> bool:
    ctx = context()
    with ctx.sessions.begin() as session:
        decision = service.decide_payout(session, request_id=request_id, approve=approve,
                                         actor_id=actor_id, command=command,
                                         admins=ctx.settings.admins, now=_now())
    dispatch(decision.effects)
    return decision.decided
