"""What a chaos run ends with: the figures, read from the database, the stand-ins and Redis, and
one check per promise. A check passes or misses; the figures behind it are printed either way.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from infra.sandbox.telegram import TelegramWorld
from models.schema import (
    Access as AccessRow,
)
from models.schema import (
    AccessHistory,
    CommissionEntry,
    DeadLetter,
    Invoice,
    PaymentEvent,
    TelegramEffect,
)
from tests.chaos.postbacks import Sent
from tests.chaos.system import Death
from tests.fixtures.processes import broker_backlog

INVITE_WITHIN = timedelta(minutes=3)
PAID_THROUGH = timedelta(days=30)
INVITE_MARK = "t.me/+"  # every invite link the Telegram stand-in mints


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    figures: str


@dataclass(frozen=True)
class Payment:
    """A subscriber the harness paid for, and when (wall clock, UTC)."""

    user_id: int
    invoice_uuid: str
    paid_at: datetime


def expected_commission(price: Decimal, pct: Decimal) -> Decimal:
    """pct percent of the price, rounded half-up to the cent once: the README's money rule."""
    return (price * pct / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def invite_times(world: TelegramWorld, user_ids: set[int]) -> dict[int, list[datetime]]:
    """When each user got a DM carrying an invite link, oldest first."""
    found: dict[int, list[datetime]] = {user_id: [] for user_id in user_ids}
    with world.lock:
        bot_id = world.default_bot.id
        for user_id in user_ids:
            chat = world.private_chats.get((bot_id, user_id))
            for message in [] if chat is None else chat.messages:
                if message.from_bot and INVITE_MARK in (message.text or ""):
                    found[user_id].append(message.date)
    return found


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile; inf for no values."""
    if not values:
        return math.inf
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def checks(*, size: int, payments: dict[int, Payment], sessions: sessionmaker[Session],
           world: TelegramWorld, sent: Sent, deaths: list[Death], kills: int,
           referrals: dict[int, int], pcts: dict[int, Decimal], price: Decimal, redis_url: str,
           wall_seconds: float) -> list[Check]:
    """Every promise of the chaos run, with its figures.

    `referrals` maps a referred user to their referrer, `pcts` a referrer to their percentage.
    """
    paid_users = set(payments)
    with sessions() as session:
        activated = Counter(session.scalars(
            select(AccessHistory.user_id).where(AccessHistory.action == "payment_activated")))
        rows = session.execute(select(AccessRow.user_id, AccessRow.paid_through)).all()
        credited: dict[int, Decimal] = defaultdict(Decimal)
        for referrer_id, amount in session.execute(
                select(CommissionEntry.referrer_id, CommissionEntry.amount)
                .where(CommissionEntry.kind == "credit")):
            credited[referrer_id] += amount
        events_open = session.scalar(select(func.count()).select_from(PaymentEvent)
                                     .where(PaymentEvent.processed_at.is_(None))) or 0
        open_effects = session.execute(
            select(TelegramEffect.key, TelegramEffect.attempts, TelegramEffect.updated_at)
            .where(TelegramEffect.status == "pending")).all()
        paid_uuids = {p.invoice_uuid.removeprefix("INV-") for p in payments.values()}
        unpaid_rows = session.scalars(select(Invoice.uuid).where(Invoice.status != "paid")).all()
        dead_letters = session.scalar(select(func.count()).select_from(DeadLetter)) or 0
    unpaid = sum(1 for uuid in unpaid_rows if (uuid or "").removeprefix("INV-") in paid_uuids)

    invites = invite_times(world, paid_users)
    waited = {user: (times[0] - payments[user].paid_at).total_seconds()
              for user, times in invites.items() if times}
    latencies = list(waited.values())
    no_invite = sorted(user for user, times in invites.items() if not times)
    duplicates = sum(max(0, len(times) - 1) for times in invites.values())
    late = sorted((s, user) for user, s in waited.items() if s > INVITE_WITHIN.total_seconds())

    by_user: dict[int, list[datetime | None]] = {}
    for user_id, paid_through in rows:
        by_user.setdefault(user_id, []).append(paid_through)
    window = (PAID_THROUGH, PAID_THROUGH + INVITE_WITHIN + timedelta(seconds=wall_seconds))
    good_dates = 0
    for user, payment in payments.items():
        dates = by_user.get(user, [])
        if len(dates) == 1 and dates[0] is not None:
            good_dates += window[0] <= _aware(dates[0]) - payment.paid_at <= window[1]

    expected: dict[int, Decimal] = defaultdict(Decimal)
    for user_id, referrer_id in referrals.items():
        if user_id in paid_users:
            expected[referrer_id] += expected_commission(price, pcts[referrer_id])
    five_xx = sum(count for status, count in sent.statuses.items() if status >= 500)
    in_redis = broker_backlog(redis_url)
    effects_open = len(open_effects)
    once = len([user for user in paid_users if activated[user] == 1])

    return [
        Check("activations", once == size and sum(activated.values()) == size,
              f"{once} of {size} subscribers activated exactly once "
              f"({sum(activated.values())} activations; {size - len(payments)} never reached "
              f"payment)"),
        Check("invites within 3 minutes of payment", not late and not no_invite,
              f"max {max(latencies, default=math.inf):.1f} s, "
              f"p99 {percentile(latencies, 0.99):.1f} s, {len(late)} late, "
              f"{len(no_invite)} without an invite"
              + (f" (e.g. users {no_invite[:5]})" if no_invite else "")
              + "".join(f"\n      user {user} paid at {payments[user].paid_at:%H:%M:%S}, "
                        f"invited {seconds:.0f} s later" for seconds, user in late[-5:])),
        Check("no process died on its own", not deaths,
              f"{len(deaths)} deaths" + "".join(
                  f"\n      {d.name} (exit {d.returncode}): {_last_line(d.last_lines)}"
                  for d in deaths[:8])),
        Check("one paid-through date 30 days out", good_dates == size,
              f"{good_dates} of {size} subscribers"),
        Check("commission to the cent",
              dict(credited) == dict(expected),
              f"credited {sum(credited.values(), Decimal(0))} USD, "
              f"expected {sum(expected.values(), Decimal(0))} USD "
              f"over {sum(1 for u in referrals if u in paid_users)} referred payments"),
        Check("no postback answered 5xx", five_xx == 0,
              f"{five_xx} × 5xx of {sum(sent.statuses.values())} answered "
              f"({dict(sorted(sent.statuses.items()))}); {sent.never_sent} invoices never "
              f"posted back; {sum(sent.errors.values())} sends without an answer"),
        Check("duplicate invite DMs ≤ one per kill", duplicates <= kills,
              f"{duplicates} duplicates, {kills} kills"),
        Check("nothing pending after quiescence",
              not (events_open or effects_open or unpaid or in_redis),
              f"{events_open} open payment events, {effects_open} pending Telegram effects, "
              f"{unpaid} paid invoices not paid in the database, "
              f"{sum(in_redis.values())} messages in Redis {in_redis}; {dead_letters} dead letters"
              + "".join(f"\n      pending effect {key} ({attempts} attempts, last touched "
                        f"{_aware(at):%H:%M:%S})" for key, attempts, at in open_effects[:5])),
        Check("wall time", True, f"{wall_seconds:.0f} s"),
    ]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _last_line(lines: str) -> str:
    return (lines.strip().splitlines() or [""])[-1][:200]
