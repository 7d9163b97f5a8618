"""The reads behind the bot's answers: plain dataclasses out, no ORM object leaves a session."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, exists, func, select
from sqlalchemy.orm import Session

from models import promos as promo_reads
from models.domain import access as rules
from models.domain import ledger, payout_risk
from models.domain import promo as promo_rules
from models.domain import stars as stars_rules
from models.payout_risk import payout_flags
from models.schema import (
    Access,
    AccessHistory,
    CommissionEntry,
    Invoice,
    PayoutRequest,
    Plan,
    Referral,
    Referrer,
    User,
)

RECENT_COMMISSIONS = 5
HISTORY_LIMIT = 30


@dataclass(frozen=True)
class UserState:
    terms_accepted: bool
    trial_used: bool
    # What we last recorded of the Telegram profile, in PROFILE_FIELDS order.
    names: tuple[str | None, ...] = ()
    # The language chosen with /language (None: Telegram's language_code decides).
    language: str | None = None


# The reads behind every /start and plan tap are statements built once, on the tables, with
# bound parameters. A select built per call and loaded through the ORM cost 0.28 ms (/start) and
# 0.38 ms (plan tap) of CPU per read; these cost 0.11 and 0.10 ms, which a rush of taps feels
# (bench phase `rush`: the bot is CPU-bound there).
_user, _plan = User.__table__.c, Plan.__table__.c
_invoice, _access = Invoice.__table__.c, Access.__table__.c

# The Telegram profile fields users.register records, in `UserState.names` order.
PROFILE_FIELDS = ("username", "first_name", "last_name", "language_code")

_USER_STATE = select(
    _user.terms_accepted_at, _user.trial_used_at, *(_user[name] for name in PROFILE_FIELDS),
    _user.language,
).where(_user.id == bindparam("user_id"))

_PLANS_ON_SALE = (select(_plan.code, _plan.title, _plan.days, _plan.price_usd,
                         _plan.price_stars)
                  .where(_plan.active.is_(True)).order_by(_plan.id))

_OPEN_INVOICE = select(exists().where(
    _invoice.user_id == bindparam("user_id"), _invoice.status == "created",
    _invoice.pay_link.is_not(None), _invoice.expires_at > bindparam("now"),
    _invoice.plan_id == _plan.id, _plan.code == bindparam("plan_code"),
    # Checkout reuses an open invoice only if it carries the discount it would carry now.
    _invoice.promo_redemption_id.is_not_distinct_from(bindparam("promo_redemption_id")),
    # A plan switch's invoice (the difference) is never reused for a purchase.
    _invoice.switch_from_plan_id.is_(None)))

_ACCESS_WITH_PLAN = (
    select(_access.paid_through, _access.is_trial, _access.removed_at, _plan.title)
    .select_from(Access.__table__.outerjoin(Plan.__table__, _plan.id == _access.plan_id))
    .where(_access.user_id == bindparam("user_id"), _access.chat_id == bindparam("chat_id")))


def user_state(session: Session, *, user_id: int) -> UserState | None:
    row = session.execute(_USER_STATE, {"user_id": user_id}).first()
    if row is None:
        return None
    terms_accepted_at, trial_used_at, *names, language = row
    return UserState(terms_accepted=terms_accepted_at is not None,
                     trial_used=trial_used_at is not None, names=tuple(names), language=language)


def user_exists(session: Session, *, user_id: int) -> bool:
    return bool(session.scalar(select(exists().where(User.id == user_id))))


@dataclass(frozen=True)
class PlanOffer:
    code: str
    title: str
    days: int
    price_usd: Decimal
    # With a promo code the user redeemed: the code, and the price before it (price_usd is
    # then the discounted price, the one checkout invoices).
    promo_code: str | None = None
    full_price_usd: Decimal | None = None
    # The price in Telegram Stars, when the plan is also sold for Stars (never discounted).
    price_stars: int | None = None


def plans_on_sale(session: Session) -> list[PlanOffer]:
    return [PlanOffer(code, title, days, price, price_stars=stars)
            for code, title, days, price, stars in session.execute(_PLANS_ON_SALE)]


def with_discounts(session: Session, offers: list[PlanOffer], *, user_id: int,
                   now: datetime) -> list[PlanOffer]:
    """`offers` priced with the best discount the user holds for each (the checkout's rule)."""
    held = promo_reads.held_discounts(session, user_id=user_id)
    if not held:
        return offers
    paid = promo_reads.has_paid(session, user_id=user_id)
    priced = []
    for offer in offers:
        best = promo_rules.best_discount(held, plan_code=offer.code, price=offer.price_usd,
                                         now=now, has_paid=paid)
        priced.append(offer if best is None else replace(
            offer, price_usd=best.price, promo_code=best.held.promo.code,
            full_price_usd=offer.price_usd))
    return priced


def menu_facts(session: Session, *, user_id: int) -> tuple[UserState | None, list[PlanOffer]]:
    """What /start and the plan menu show, in one read (one thread hop per update)."""
    offers = with_discounts(session, plans_on_sale(session), user_id=user_id,
                            now=datetime.now(UTC))
    return user_state(session, user_id=user_id), offers


@dataclass(frozen=True)
class PlanStatus:
    status: rules.AccessStatus
    paid_through: datetime | None
    days_left: int
    plan_title: str | None

    @property
    def covered(self) -> bool:
        return self.status in (rules.AccessStatus.TRIALING, rules.AccessStatus.ACTIVE,
                               rules.AccessStatus.GRACE)


def plan_status(session: Session, *, user_id: int, chat_id: int, grace: timedelta,
                now: datetime) -> PlanStatus:
    row = session.execute(_ACCESS_WITH_PLAN, {"user_id": user_id, "chat_id": chat_id}).first()
    access = None if row is None else rules.Access(
        paid_through=row.paid_through, is_trial=row.is_trial, removed_at=row.removed_at)
    return PlanStatus(
        status=rules.status_at(access, now=now, grace=grace),
        paid_through=access.paid_through if access else None,
        days_left=rules.days_left(access, now=now),
        plan_title=row.title if row else None,
    )


def chat_statuses(session: Session, *, user_id: int, chats: list[int], grace: timedelta,
                  now: datetime) -> list[tuple[int, PlanStatus]]:
    """The subscriber's status in each of `chats`, in the order given (one read)."""
    return [(chat_id, plan_status(session, user_id=user_id, chat_id=chat_id, grace=grace,
                                  now=now)) for chat_id in chats]


def discount_redemption(session: Session, *, user_id: int, plan_code: str,
                        now: datetime) -> int | None:
    """The redemption whose discount a checkout of this plan would carry now, if any."""
    held = promo_reads.held_discounts(session, user_id=user_id)
    price = session.scalar(select(Plan.price_usd).where(Plan.code == plan_code)) if held else None
    if price is None:
        return None
    best = promo_rules.best_discount(held, plan_code=plan_code, price=price, now=now,
                                     has_paid=promo_reads.has_paid(session, user_id=user_id))
    return None if best is None else best.held.redemption_id


def has_open_invoice(session: Session, *, user_id: int, plan_code: str, now: datetime) -> bool:
    """An unpaid invoice for this plan whose pay link still works (checkout will reuse it)."""
    redemption = discount_redemption(session, user_id=user_id, plan_code=plan_code, now=now)
    return bool(session.execute(
        _OPEN_INVOICE, {"user_id": user_id, "plan_code": plan_code, "now": now,
                        "promo_redemption_id": redemption}).scalar())


def checkout_preview(session: Session, *, user_id: int, plan_code: str, chat_id: int,
                     grace: timedelta, now: datetime) -> tuple[bool, PlanStatus]:
    """What a plan tap answers before checkout runs, in one read: whether the open invoice is
    reused, and the access the payment will extend."""
    return (has_open_invoice(session, user_id=user_id, plan_code=plan_code, now=now),
            plan_status(session, user_id=user_id, chat_id=chat_id, grace=grace, now=now))


@dataclass(frozen=True)
class ReferralInfo:
    pct: Decimal
    referred: int
    balance: Decimal
    available: Decimal
    has_open_request: bool
    recent: list[tuple[datetime, Decimal]]
    on_hold: Decimal
    next_release: datetime | None


def referral_info(session: Session, *, user_id: int, hold: timedelta,
                  now: datetime) -> ReferralInfo | None:
    """The referrer's standing at `now` (commissions younger than `hold` are on hold), or None
    for a user who is not a referrer."""
    referrer = session.get(Referrer, user_id)
    if referrer is None:
        return None
    rows = session.execute(
        select(CommissionEntry.kind, CommissionEntry.amount, CommissionEntry.created_at)
        .where(CommissionEntry.referrer_id == user_id)
        .order_by(CommissionEntry.created_at.desc(), CommissionEntry.id.desc())
    ).all()
    entries = [ledger.LedgerEntry(kind=ledger.EntryKind(kind), amount=amount, at=moment)
               for kind, amount, moment in rows]
    open_amount = session.scalar(select(PayoutRequest.amount).where(
        PayoutRequest.referrer_id == user_id, PayoutRequest.status == "open"))
    referred = session.scalar(select(func.count()).select_from(Referral)
                              .where(Referral.referrer_id == user_id))
    standing = ledger.standing(entries=entries, open_request_amount=open_amount or Decimal("0.00"),
                               hold=hold, now=now)
    return ReferralInfo(
        pct=referrer.pct,
        referred=int(referred or 0),
        balance=standing.balance,
        available=standing.available,
        has_open_request=open_amount is not None,
        recent=[(moment, amount) for kind, amount, moment in rows
                if kind == ledger.EntryKind.CREDIT][:RECENT_COMMISSIONS],
        on_hold=standing.on_hold,
        next_release=standing.next_release,
    )


@dataclass(frozen=True)
class HistoryEntry:
    created_at: datetime
    action: str
    source: str
    actor_id: int | None
    paid_through_after: datetime | None
    command: str | None = None  # what the change was made by: an admin command, a promo code


def history(session: Session, *, user_id: int) -> list[HistoryEntry]:
    rows = session.scalars(
        select(AccessHistory).where(AccessHistory.user_id == user_id)
        .order_by(AccessHistory.created_at.desc(), AccessHistory.id.desc())
        .limit(HISTORY_LIMIT)
    )
    return [HistoryEntry(row.created_at, row.action, row.source, row.actor_id,
                         row.paid_through_after, row.command) for row in rows]


@dataclass(frozen=True)
class OpenPayout:
    request_id: int
    referrer_id: int
    amount: Decimal
    network: str
    wallet: str
    created_at: datetime
    flags: tuple[payout_risk.RiskFlag, ...] = ()


def open_payouts(session: Session) -> list[OpenPayout]:
    """The open requests, oldest first, each with the risk flags it raises now."""
    rows = session.scalars(select(PayoutRequest).where(PayoutRequest.status == "open")
                           .order_by(PayoutRequest.created_at))
    return [OpenPayout(row.id, row.referrer_id, row.amount, row.network, row.wallet,
                       row.created_at,
                       payout_flags(session, referrer_id=row.referrer_id, wallet=row.wallet))
            for row in rows]


# Telegram Stars: the pre-checkout query is answered from this one read, within Telegram's 10 s.
_STARS_INVOICE = (
    select(_invoice.user_id, _invoice.method, _invoice.status, _invoice.amount_stars,
           _invoice.expires_at, _plan.active)
    .select_from(Invoice.__table__.join(Plan.__table__, _plan.id == _invoice.plan_id))
    .where(_invoice.order_id == bindparam("order_id")))


def stars_invoice(session: Session, *, order_id: str) -> stars_rules.InvoiceFacts | None:
    """What a pre-checkout query's payload (our order id) names, or None for no invoice."""
    row = session.execute(_STARS_INVOICE, {"order_id": order_id}).first()
    if row is None:
        return None
    user_id, method, status, amount_stars, expires_at, active = row
    if expires_at is not None and expires_at.tzinfo is None:  # SQLite drops the offset
        expires_at = expires_at.replace(tzinfo=UTC)
    return stars_rules.InvoiceFacts(user_id=user_id, method=method, status=status,
                                    amount_stars=amount_stars, expires_at=expires_at,
                                    plan_on_sale=bool(active))
