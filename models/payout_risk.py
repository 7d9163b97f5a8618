"""The reads behind payout risk flags: the evidence in the tables, judged by the domain rules.

Shared by the worker (when a request is made, for the admins' alert, and when it is decided,
for the decision record) and the bot (when /payouts is shown), so all three judge alike. The
flags are derived, never stored: /payouts always shows what holds now, including a wallet
another referrer named a second ago in a transaction the request's own could not see.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.domain import payout_risk
from models.schema import Invoice, PayoutRequest, Referral


def payout_flags(session: Session, *, referrer_id: int, wallet: str
                 ) -> tuple[payout_risk.RiskFlag, ...]:
    """The flags a payout request by `referrer_id` to `wallet` raises now."""
    # lower() finds every candidate; the rule then compares Tron addresses case-sensitively.
    requests = [
        payout_risk.WalletRequest(request_id=request_id, user_id=user_id, wallet=address)
        for request_id, user_id, address in session.execute(
            select(PayoutRequest.id, PayoutRequest.referrer_id, PayoutRequest.wallet).where(
                func.lower(PayoutRequest.wallet) == wallet.strip().lower(),
                PayoutRequest.referrer_id != referrer_id))
    ]
    others = {request.user_id for request in requests}
    brought_in = frozenset(session.scalars(select(Referral.referred_user_id).where(
        Referral.referrer_id == referrer_id,
        Referral.referred_user_id.in_(others)))) if others else frozenset()
    brought_by = session.scalar(select(Referral.referrer_id)
                                .where(Referral.referred_user_id == referrer_id))
    # A paid invoice is one whose access was granted (activated_at is set exactly once).
    payments = session.scalars(
        select(func.count()).select_from(Invoice)
        .join(Referral, Referral.referred_user_id == Invoice.user_id)
        .where(Referral.referrer_id == referrer_id, Invoice.activated_at.is_not(None))
        .group_by(Invoice.user_id)
    ).all()
    return payout_risk.assess(referrer_id=referrer_id, wallet=wallet, requests=requests,
                              brought_in=brought_in, brought_by=brought_by,
                              payments_per_payer=[int(n) for n in payments])
