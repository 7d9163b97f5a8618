"""The plan catalogue in the database, the source of truth for what is sold and where it admits.

`make migrate` brings it in line with the settings (PLANS, CHANNEL_ID, PLAN_CHATS) and says
what changed; every process checks at start that nothing differs (infra/migrate.py), so a
changed setting is either applied by `make migrate` or refused, never silently ignored.

A bundle whose chats change (`bundle_plan`, `apply_bundle`) changes access: the plan's
subscribers get the same time, and an invite, on each added chat, and lose a dropped chat
(their time there is cut to now, with a history row, and the expiry sweep removes them as it
removes anyone whose time ended) unless another running plan of theirs still grants it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models.domain.plans import (
    ChatChange,
    PlanSpec,
    StoredPlan,
    bundle_changes,
    catalog_changes,
    wanted_chats,
)
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


def differences(session: Session, *, plans: tuple[PlanSpec, ...], chat_id: int,
                plan_chats: Mapping[str, frozenset[int]] | None = None) -> list[str]:
    """One line per difference between the database and the settings; [] when in line."""
    chats = wanted_chats(plans, chat_id=chat_id, plan_chats=plan_chats or {})
    return catalog_changes(stored_plans(session), plans, chat_id, chats)


def reconcile(session: Session, *, plans: tuple[PlanSpec, ...], chat_id: int,
              plan_chats: Mapping[str, frozenset[int]] | None = None) -> list[str]:
    """Make the catalogue say what the settings say; return what changed, one line each."""
    changes = differences(session, plans=plans, chat_id=chat_id, plan_chats=plan_chats)
    if not changes:
        return []
    rows = {plan.code: plan for plan in session.scalars(select(Plan))}
    wanted = wanted_chats(plans, chat_id=chat_id, plan_chats=plan_chats or {})
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
    stored = defaultdict(set)
    for plan_id, chat in session.execute(select(PlanChat.plan_id, PlanChat.chat_id)):
        stored[plan_id].add(chat)
    for code, plan in rows.items():
        granted = wanted.get(code, frozenset({chat_id}))
        session.execute(delete(PlanChat).where(PlanChat.plan_id == plan.id,
                                               PlanChat.chat_id.not_in(granted)))
        session.add_all(PlanChat(plan_id=plan.id, chat_id=chat)
                        for chat in sorted(granted - stored[plan.id]))
    session.flush()
    return changes


# Bundles: a plan's chats change -------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class BundleStep:
    """What one plan's chat change means for its subscribers with time left."""

    change: ChatChange
    plan_id: int
    # user id -> the paid-through time they get on every added chat
    invited: dict[int, datetime]
    # (access id, chat id) of rows on dropped chats whose time is cut to now
    removed: list[tuple[int, int]]
    kept: int  # rows on dropped chats another running plan of theirs still grants

    @property
    def affected(self) -> int:
        return len(self.invited) * len(self.change.added) + len(self.removed)

    def describe(self) -> str:
        parts = [f"{_people(len(self.invited), 'gets', 'get')} an invite to chat {chat}"
                 for chat in sorted(self.change.added)]
        parts += [f"{_people(sum(1 for _, on in self.removed if on == chat), 'is', 'are')} "
                  f"removed from chat {chat}" for chat in sorted(self.change.dropped)]
        kept = f" ({self.kept} kept: another plan grants it)" if self.kept else ""
        return f"plan {self.change.code!r}: {'; '.join(parts)}{kept}"


def _people(count: int, one: str, many: str) -> str:
    return f"{count} subscriber {one}" if count == 1 else f"{count} subscribers {many}"


def bundle_plan(session: Session, *, plans: tuple[PlanSpec, ...], chat_id: int,
                plan_chats: Mapping[str, frozenset[int]], now: datetime) -> list[BundleStep]:
    """What applying PLAN_CHATS would do to subscribers, read from the catalogue as it is now."""
    wanted = wanted_chats(plans, chat_id=chat_id, plan_chats=plan_chats)
    configured = frozenset({chat_id}).union(*wanted.values())
    ids = {code: plan_id for code, plan_id in session.execute(select(Plan.code, Plan.id))}
    steps = []
    for change in bundle_changes(stored_plans(session), wanted, configured=configured):
        plan_id = ids[change.code]
        old_chats = (wanted[change.code] - change.added) | change.dropped
        invited: dict[int, datetime] = {}
        for user_id, paid_through in session.execute(
                select(Access.user_id, Access.paid_through)
                .where(Access.plan_id == plan_id, Access.chat_id.in_(old_chats),
                       Access.status.in_(RUNNING), Access.paid_through > now)):
            assert paid_through is not None  # the query bounds it
            invited[user_id] = max(paid_through, invited.get(user_id, paid_through))
        if not change.added:
            invited = {}
        removed: list[tuple[int, int]] = []
        kept = 0
        for row in session.scalars(
                select(Access).where(Access.plan_id == plan_id,
                                     Access.chat_id.in_(change.dropped),
                                     Access.status.in_(RUNNING), Access.paid_through > now)
                .order_by(Access.id)):
            if _held_elsewhere(session, row=row, plan_id=plan_id, wanted=wanted, ids=ids,
                               now=now):
                kept += 1
            else:
                removed.append((row.id, row.chat_id))
        steps.append(BundleStep(change=change, plan_id=plan_id, invited=invited,
                                removed=removed, kept=kept))
    return steps


def _held_elsewhere(session: Session, *, row: Access, plan_id: int,
                    wanted: Mapping[str, frozenset[int]], ids: Mapping[str, int],
                    now: datetime) -> bool:
    """Whether another running plan of the row's holder still grants the row's chat."""
    others = [ids[code] for code, chats in wanted.items()
              if row.chat_id in chats and code in ids and ids[code] != plan_id]
    if not others:
        return False
    return session.scalar(
        select(Access.id).where(Access.user_id == row.user_id, Access.plan_id.in_(others),
                                Access.status.in_(RUNNING), Access.paid_through > now)
        .limit(1)) is not None


def apply_bundle(session: Session, steps: list[BundleStep], *, now: datetime) -> list[str]:
    """Give the planned invites and cut the planned removals; one history row per change.

    Written in the catalogue's transaction: the relay sends the invites after the commit, and
    the expiry sweep removes the cut rows. Safe to repeat: a rerun plans nothing new.
    """
    for step in steps:
        for chat in sorted(step.change.added):
            for user_id, paid_through in sorted(step.invited.items()):
                _invite(session, user_id=user_id, chat_id=chat, plan_id=step.plan_id,
                        paid_through=paid_through, code=step.change.code, now=now)
        for access_id, _ in step.removed:
            row = session.get_one(Access, access_id)
            before, row.paid_through, row.updated_at = row.paid_through, now, now
            session.flush()
            record_history(session, user_id=row.user_id, chat_id=row.chat_id,
                           action="bundle_chat_dropped", source="system", now=now,
                           before=before, after=now, details={"plan": step.change.code})
    return [step.describe() for step in steps if step.affected]


def _invite(session: Session, *, user_id: int, chat_id: int, plan_id: int,
            paid_through: datetime, code: str, now: datetime) -> None:
    target = session.scalar(select(Access).where(Access.user_id == user_id,
                                                 Access.chat_id == chat_id))
    before = None if target is None else target.paid_through
    if target is None:
        target = Access(user_id=user_id, chat_id=chat_id, created_at=now, status="active")
        session.add(target)
    if before is not None and before >= paid_through and target.status in RUNNING:
        return  # they already hold this chat at least as long
    target.paid_through, target.status, target.is_trial = paid_through, "active", False
    target.plan_id, target.removed_at, target.updated_at = plan_id, None, now
    session.flush()
    record_history(session, user_id=user_id, chat_id=chat_id, action="bundle_chat_added",
                   source="system", now=now, before=before, after=paid_through,
                   details={"plan": code})
    add_effect(session, key=f"grant:bundle:{target.id}:{paid_through.isoformat()}",
               method=GRANT_ACCESS, chat_id=user_id, now=now,
               payload={"user_id": user_id, "chat_id": chat_id, "access_id": target.id})


def move_access(session: Session, *, chat_id: int, now: datetime,
                configured: frozenset[int] | None = None) -> list[str]:
    """Give everyone with time left on a chat no longer configured the same time on `chat_id`.

    `configured` is every chat some plan grants (with `chat_id`); rows on those stay.

    Each gets an invite to the configured chat (an outbox effect the relay queues) and a
    `channel_moved` line in their history. Nobody is removed from the old chat: the bot may no
    longer be its administrator, so the returned lines tell the operator who is still there.
    """
    rows = session.scalars(
        select(Access).where(Access.chat_id.not_in(configured or {chat_id}),
                             Access.status.in_(RUNNING),
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
