"""Referral payouts: a referrer asks to be paid, an admin approves or rejects.

A request reserves nothing in the ledger; approval writes the debit, unique per request, so a
request is paid out once however often the approval runs. At most one request is open per
referrer (a partial unique index), and the amount is checked against what is available at the
time of the request (commissions past their hold period, at least the minimum payout) under a
lock on the referrer's row. Risk flags (models/payout_risk.py) never block a request: the admins'
alert names them, and a decision records those that hold when it is made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from sqlalchemy import exists, select, text, update
from sqlalchemy.orm import Session

from infra import texts
from infra.db import insert_ignore
from infra.hashing import keccak256
from infra.i18n import DEFAULT, use_language
from models.domain import ledger, payout_risk
from models.history import record_history
from models.outbox import Effects
from models.outbox import queue_message as message
from models.payout_risk import payout_flags
from models.schema import CommissionEntry, PayoutRequest, Referrer, TelegramEffect
from workers.admin.service import Command, authorized, ledger_entries
from workers.languages import speaking_to

NOT_A_REFERRER = "not_a_referrer"
BAD_WALLET = "bad_wallet"


def _refused(session: Session, *, user_id: int, request_key: str, reason: str,
             now: datetime, text: Callable[[], str] | None = None) -> Effects:
    with speaking_to(session, user_id):
        told = text() if text else texts.payout_refused(reason=reason)
    return message(session, key=f"payout_refused:{request_key}", chat_id=user_id,
                   text=told, now=now)


def request_payout(session: Session, *, user_id: int, network: str, wallet: str,
                   amount: Decimal, request_key: str, admins: frozenset[int],
                   now: datetime, hold: timedelta, minimum: Decimal) -> Effects:
    """Open a payout request if every rule allows it; tell the user either way.

    Only commissions past their `hold` at `now` count as available; `minimum` is the smallest
    payout. A refused amount is answered with the minimum and the amount available now.
    """
    referrer = session.scalar(select(Referrer).where(Referrer.user_id == user_id)
                              .with_for_update())
    if referrer is None:
        return _refused(session, user_id=user_id, request_key=request_key,
                        reason=NOT_A_REFERRER, now=now)
    try:
        address = ledger.validate_wallet(ledger.PayoutNetwork(network), wallet,
                                         keccak256=keccak256)
    except (ledger.InvalidWallet, ValueError):
        return _refused(session, user_id=user_id, request_key=request_key, reason=BAD_WALLET,
                        now=now)
    has_open = bool(session.scalar(select(exists().where(
        PayoutRequest.referrer_id == user_id, PayoutRequest.status == "open"))))
    available = ledger.available_for_payout(
        entries=ledger_entries(session, referrer_id=user_id), open_request_amount=Decimal("0.00"),
        hold=hold, now=now)
    try:
        ledger.check_payout_request(amount=amount, available=available, has_open_request=has_open,
                                    minimum=minimum)
    except ledger.PayoutRefused as refused:
        # A redelivered task meets its own open request here: the refusal key is the same
        # request key, so the user hears about it at most once.
        if refused.reason is ledger.PayoutRefusal.OPEN_REQUEST_EXISTS and _already_sent(
                session, request_key=request_key):
            return []
        return _refused(session, user_id=user_id, request_key=request_key,
                        reason=refused.reason.value, now=now,
                        text=partial(texts.payout_refused_amount, reason=refused.reason.value,
                                     asked=amount, minimum=minimum, available=available))
    inserted = insert_ignore(
        session, PayoutRequest,
        {"referrer_id": user_id, "amount": amount, "network": network, "wallet": address,
         "status": "open", "created_at": now},
        conflict=["referrer_id"], where=text("status = 'open'"),
    )
    if not inserted:
        return _refused(session, user_id=user_id, request_key=request_key,
                        reason=ledger.PayoutRefusal.OPEN_REQUEST_EXISTS.value, now=now)
    request_id = session.scalar(select(PayoutRequest.id).where(
        PayoutRequest.referrer_id == user_id, PayoutRequest.status == "open"))
    assert request_id is not None
    flags = payout_flags(session, referrer_id=user_id, wallet=address)
    record_history(session, user_id=user_id, action="payout_requested", source="user", now=now,
                   details={"request_id": request_id, "amount_usd": str(amount),
                            "network": network, **_flag_details(flags)})
    with speaking_to(session, user_id):
        received = texts.payout_received(amount=amount)
    effects = message(session, key=f"payout_received:{request_key}", chat_id=user_id,
                      text=received, now=now)
    for admin in sorted(admins):
        with speaking_to(session, admin):
            alert = texts.payout_request_alert(request_id=request_id, referrer_id=user_id,
                                               amount=amount)
            alert += texts.payout_alert_flagged(flags=flags) if flags else ""
        effects += message(session, key=f"payout_alert:{request_id}:{admin}", chat_id=admin,
                           text=alert, now=now)
    return effects


def _flag_details(flags: tuple[payout_risk.RiskFlag, ...]) -> dict[str, list[str]]:
    """The flags as a history row keeps them: their kinds and, in plain words, their evidence."""
    if not flags:
        return {}
    with use_language(DEFAULT):  # the history speaks one language, whoever is answered
        return {"flags": [flag.kind.value for flag in flags],
                "flag_reasons": [texts.payout_flag(flag) for flag in flags]}


def _already_sent(session: Session, *, request_key: str) -> bool:
    return bool(session.scalar(select(exists().where(
        TelegramEffect.key == f"payout_received:{request_key}"))))


@dataclass(frozen=True)
class Decision:
    decided: bool
    effects: Effects


def decide_payout(session: Session, *, request_id: int, approve: bool, actor_id: int,
                  command: str, admins: frozenset[int], now: datetime) -> Decision:
    """Close an open request; approval debits the ledger exactly once and tells the referrer.

    Only an admin decides: anyone else (a forged task) is refused and the refusal recorded.
    """
    if not authorized(session, command=Command(actor_id=actor_id, text=command,
                                               request_key=f"payout:{request_id}"),
                      admins=admins, action="payout_decide", now=now):
        return Decision(False, [])
    status = "approved" if approve else "rejected"
    closed = session.execute(
        update(PayoutRequest)
        .where(PayoutRequest.id == request_id, PayoutRequest.status == "open")
        .values(status=status, decided_at=now, decided_by=actor_id)
        .execution_options(synchronize_session=False)
    )
    if not closed.rowcount:  # type: ignore[attr-defined]
        with speaking_to(session, actor_id):
            already = texts.payout_already_decided(request_id=request_id)
        return Decision(False, message(
            session, key=f"payout_already_decided:{request_id}:{actor_id}", chat_id=actor_id,
            text=already, now=now))
    request = session.get_one(PayoutRequest, request_id)
    # The flags that hold now, which /payouts showed the admin a moment ago: a flagged request
    # is decided like any other, and the decision records them.
    flags = payout_flags(session, referrer_id=request.referrer_id, wallet=request.wallet)
    if approve:
        # The unique payout_request_id is the exactly-once guard, whatever runs this twice.
        insert_ignore(session, CommissionEntry,
                      {"referrer_id": request.referrer_id, "kind": "debit",
                       "amount": request.amount, "payout_request_id": request_id,
                       "created_at": now},
                      conflict=["payout_request_id"])
    record_history(session, user_id=request.referrer_id, action=f"payout_{status}",
                   source="admin", now=now, actor_id=actor_id, command=command,
                   details={"request_id": request_id, "amount_usd": str(request.amount),
                            **_flag_details(flags)})
    with speaking_to(session, request.referrer_id):
        told = (texts.payout_approved(amount=request.amount, network=request.network,
                                      wallet=request.wallet)
                if approve else texts.payout_rejected(amount=request.amount))
    effects = message(session, key=f"payout_decided:{request_id}", chat_id=request.referrer_id,
                      text=told, now=now)
    with speaking_to(session, actor_id):
        decided = (texts.payout_decided_flagged(request_id=request_id, approved=approve,
                                                flags=flags)
                   if flags else texts.payout_decided(request_id=request_id, approved=approve))
    effects += message(session, key=f"payout_decided_admin:{request_id}", chat_id=actor_id,
                       text=decided, now=now)
    return Decision(True, effects)
