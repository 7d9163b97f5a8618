"""The plan catalogue in the database, the source of truth for what is sold and where it admits.

`make migrate` brings it in line with the settings (PLANS, CHANNEL_ID) and says what changed;
every process checks at start that nothing differs (infra/catalog_check.py), so a changed
setting is either applied by `make migrate` or refused, never silently ignored.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models.domain.plans import PlanSpec, StoredPlan, catalog_changes
from models.history import record_history
from models.outbox import GRANT_ACCESS, add_effect
from models.schema import Access, Plan, PlanChat

# Rows whose holder is (or may be) in the chat with time left: trial, paid, or in grace.
RUNNING = ("trialing", "active", "grace")


def stored_plans(session: Session) -> list[StoredPlan]:
    chats: defaultdict[int, set[int]] = defaultdict(set)
    for plan_id, chat_id in session.execute(select(PlanChat.plan_id, PlanChat.chat_id)):
        chats[plan_id].add(chat_id)
    return [
        StoredPlan(code=plan.code, days=plan.days, price_usd=plan.price_usd, title=plan.title,
                   active=plan.active, chats=frozenset(chats[plan.id]),
                   price_stars=plan.price_stars)
        for plan in session.scalars(select(Plan).order_by(Plan.id))
    ]


def differences(session: Session, *, plans: tuple[PlanSpec, ...], chat_id: int) -> list[str]:
    """One line per difference between the database and the settings; [] when in line."""
    return catalog_changes(stored_plans(session), plans, chat_id)


def reconcile(session: Session, *, plans: tuple[PlanSpec, ...], chat_id: int) -> list[str]:
    """Make the catalogue say what the settings say; return what changed, one line each."""
    changes = differences(session, plans=plans, chat_id=chat_id)
    if not changes:
        return []
    rows = {plan.code: plan for plan in session.scalars(select(Plan))}
    wanted = {spec.code for spec in plans}
    for spec in plans:
        plan = rows.get(spec.code)
        if plan is None:
            plan = rows[spec.code] = Plan(code=spec.code, title=spec.title, days=spec.days,
                                          price_usd=spec.price_usd)
            session.add(plan)
        plan.title, plan.days, plan.price_usd, plan.active = (
            spec.title, spec.days, spec.price_usd, True)
        plan.price_stars = spec.price_stars
    for code, plan in rows.items():
        if code not in wanted:
            plan.active = False
    session.flush()
    session.execute(delete(PlanChat).where(PlanChat.chat_id != chat_id))
    have = set(session.scalars(select(PlanChat.plan_id)))
    session.add_all(PlanChat(plan_id=plan.id, chat_id=chat_id)
                    for plan in rows.values() if plan.id not in have)
    session.flush()
    return changes


def move_access(session: Session, *, chat_id: int, now: datetime) -> list[str]:
    """Give everyone with time left on a chat no longer configured the same time on `chat_id`.

    Each gets an invite to the configured chat (an outbox effect the relay queues) and a
    `channel_moved` line in their history. Nobody is removed from the old chat: the bot may no
    longer be its administrator, so the returned lines tell the operator who is still there.
    """
    rows = session.scalars(
        select(Access).where(Access.chat_id != chat_id, Access.status.in_(RUNNING),
                             Access.paid_through > now)
        .order_by(Access.chat_id, Access.id)
    ).all()
    moved: defaultdict[int, int] = defaultdict(int)
    for old in rows:
        assert old.paid_through is not None  # the query bounds it
        target = session.scalar(select(Access).where(Access.user_id == old.user_id,
                                                     Access.chat_id == chat_id))
        before = None if target is None else target.paid_through
        if target is None:
            target = Access(user_id=old.user_id, chat_id=chat_id, created_at=now)
            session.add(target)
        if target.paid_through is None or target.paid_through < old.paid_through:
            target.paid_through = old.paid_through
            target.status, target.is_trial, target.plan_id = old.status, old.is_trial, old.plan_id
        target.updated_at = now
        # The time now lives on the configured chat; the old row stops counting, once.
        old.status, old.updated_at = "expired", now
        session.flush()
        record_history(session, user_id=old.user_id, chat_id=chat_id, action="channel_moved",
                       source="system", now=now, before=before, after=target.paid_through,
                       details={"from_chat_id": old.chat_id})
        add_effect(session, key=f"grant:channel_moved:{old.id}:{chat_id}", method=GRANT_ACCESS,
                   chat_id=old.user_id, now=now,
                   payload={"user_id": old.user_id, "chat_id": chat_id, "access_id": target.id})
        moved[old.chat_id] += 1
    return [
        f"chat {old_chat} is no longer configured: {count} "
        f"{'subscriber' if count == 1 else 'subscribers'} with time left there "
        f"got the same time on chat {chat_id} and a new invite; they are still members of "
        f"chat {old_chat} (remove them there by hand if they should not stay)"
        for old_chat, count in moved.items()
    ]
