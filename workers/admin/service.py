"""Admin use cases: grant, edit and remove access, trial flags, referrers, CSV exports, audit.

Every change records access_history with source "admin", the admin's id and the command text.
A command is applied once: its reply to the admin is an outbox effect keyed by the admin's
message, claimed first in the same transaction, so a redelivered task finds the claim and
changes nothing.

Defence in depth: the bot refuses whoever lacks the role, but anything that can publish to the
broker can queue these tasks, so each one checks again (`authorized`) that the actor named in
its arguments has a role allowed to run it now (models/domain/roles.py: ADMIN_IDS are owners,
the rest is granted with /role), and records a refusal in the history as the bot does.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from infra import texts
from infra.db import insert_ignore
from infra.logging import get_logger
from infra.telegram import (
    TelegramAlreadyDone,
    TelegramFailure,
    TelegramTransient,
    TelegramUnknownUser,
)
from models import outbox
from models.domain import access as rules
from models.domain import ledger, roles
from models.history import record_history
from models.outbox import Effects
from models.schema import (
    Access,
    AccessHistory,
    CommissionEntry,
    Invoice,
    Plan,
    Referral,
    Referrer,
    TelegramEffect,
    User,
)
from models.staff import role_of
from workers.access.service import as_rule, extend_access, locked_access, store
from workers.context import WorkerContext
from workers.languages import speaking_to
from workers.promos import service as promos
from workers.users.service import grant


@dataclass(frozen=True, kw_only=True)
class Command:
    """Who asked for what: the admin, the command text, and a key unique to that message."""

    actor_id: int
    text: str
    request_key: str


@dataclass(frozen=True, kw_only=True)
class Kick:
    """A removal still to carry out in the channel.

    `through` is the removed row's end: it marks this removal's own history rows, so a later
    removal (after the user paid again) never mistakes an earlier one's rows for its own.
    """

    user_id: int
    chat_id: int
    through: datetime


@dataclass
class Done:
    """What a command produced: outbox effects, and a removal to carry out in the channel."""

    effects: Effects = field(default_factory=list)
    kick: Kick | None = None


log = get_logger("workers.admin")

REFUSED = "admin_refused"
REMOVAL_STARTED, REMOVAL_REFUSED = "removal_started", "removal_refused"
# Answers to a ban or unban that mean the person is already out of the channel.
ALREADY_OUT = (TelegramAlreadyDone, TelegramUnknownUser)


def audit(session: Session, *, command: Command, user_id: int, action: str,
          now: datetime, details: dict[str, Any] | None = None) -> None:
    record_history(session, user_id=user_id, action=action, source="admin", now=now,
                   actor_id=command.actor_id, command=command.text, details=details)


def authorized(session: Session, *, command: Command, admins: frozenset[int], action: str,
               now: datetime) -> bool:
    """Whether the actor's role (ADMIN_IDS are owners) may run `action` (a command's name or
    a button's prefix); a refusal is recorded like the bot's, naming the command and the role."""
    role = role_of(session, command.actor_id, owners=admins)
    if roles.allows(role, action):
        return True
    audit(session, command=command, user_id=command.actor_id, action=REFUSED, now=now,
          details=roles.refusal_details(role, action))
    return False


def claim_reply(session: Session, *, command: Command, now: datetime) -> int | None:
    """Reserve the reply to this command; None if an earlier delivery already applied it."""
    return outbox.add_effect(
        session, key=f"admin_reply:{command.request_key}", method=outbox.SEND_MESSAGE,
        chat_id=command.actor_id, payload={"chat_id": command.actor_id, "text": ""}, now=now,
    )


def admin_reply(session: Session, effect_id: int, *, command: Command, text: str) -> Effects:
    payload = {"chat_id": command.actor_id, "text": text}
    session.execute(update(TelegramEffect).where(TelegramEffect.id == effect_id)
                    .values(request=json.dumps(payload, sort_keys=True)))
    return [(effect_id, outbox.SEND_MESSAGE)]


def activate(session: Session, *, command: Command, user_id: int, days: int, chat_id: int,
             now: datetime) -> Done:
    """Add `days` on top of what is left and send the invite, as a payment would."""
    reply = claim_reply(session, command=command, now=now)
    if reply is None:
        return Done()
    change = extend_access(session, user_id=user_id, chat_id=chat_id, days=days, now=now,
                           plan_id=None, action="admin_activated", source="admin",
                           actor_id=command.actor_id, command=command.text,
                           details={"days": days})
    effects = grant(session, key=f"grant:admin:{command.request_key}", user_id=user_id,
                    chat_id=chat_id, access_id=change.access_id, now=now)
    text = texts.admin_access_set(user_id=user_id, paid_through=change.after)
    return Done(effects + admin_reply(session, reply, command=command, text=text))


def set_days(session: Session, *, command: Command, user_id: int, days: int, chat_id: int,
             now: datetime) -> Done:
    """Make access end `days` from now, whatever was left; 0 ends it now."""
    reply = claim_reply(session, command=command, now=now)
    if reply is None:
        return Done()
    row = locked_access(session, user_id=user_id, chat_id=chat_id, now=now)
    before = row.paid_through
    store(row, rules.set_days(as_rule(row), days=days, now=now), now=now)
    session.flush()
    record_history(session, user_id=user_id, chat_id=chat_id, action="admin_set_days",
                   source="admin", now=now, actor_id=command.actor_id, command=command.text,
                   before=before, after=row.paid_through, details={"days": days})
    text = texts.admin_access_set(user_id=user_id, paid_through=row.paid_through)
    return Done(admin_reply(session, reply, command=command, text=text))


def remove(session: Session, *, command: Command, user_id: int, chat_id: int,
           now: datetime) -> Done:
    """End access now; the task then bans and unbans, which removes without a lasting ban."""
    reply = claim_reply(session, command=command, now=now)
    row = locked_access(session, user_id=user_id, chat_id=chat_id, now=now)
    if reply is None:
        # Redelivered: the removal committed, the kick may not have happened yet.
        if row.removed_at is None or row.paid_through is None:
            return Done()
        return Done(kick=Kick(user_id=user_id, chat_id=chat_id, through=row.paid_through))
    before = row.paid_through
    store(row, rules.remove(as_rule(row), now=now), now=now)
    session.flush()
    record_history(session, user_id=user_id, chat_id=chat_id, action="admin_removed",
                   source="admin", now=now, actor_id=command.actor_id, command=command.text,
                   before=before, after=row.paid_through)
    text = texts.admin_removed(user_id=user_id)
    assert row.paid_through is not None  # a removal ends paid time now
    return Done(admin_reply(session, reply, command=command, text=text),
                kick=Kick(user_id=user_id, chat_id=chat_id, through=row.paid_through))


def _kick_noted(session: Session, kick: Kick, action: str) -> bool:
    return session.scalar(
        select(AccessHistory.id)
        .where(AccessHistory.user_id == kick.user_id, AccessHistory.chat_id == kick.chat_id,
               AccessHistory.action == action, AccessHistory.source == "admin",
               AccessHistory.paid_through_before == kick.through)
        .limit(1)) is not None


def ban_is_ours(session: Session, *, kick: Kick) -> bool:
    """Whether a ban found on the user is this removal's own, cut short before its unban."""
    return _kick_noted(session, kick, REMOVAL_STARTED)


def note_removal_started(session: Session, *, command: Command, kick: Kick,
                         now: datetime) -> None:
    """Written before the ban, so a ban found later can be told apart from an admin's own."""
    if not _kick_noted(session, kick, REMOVAL_STARTED):
        record_history(session, user_id=kick.user_id, chat_id=kick.chat_id,
                       action=REMOVAL_STARTED, source="admin", now=now,
                       actor_id=command.actor_id, command=command.text, before=kick.through)


def ban_and_lift(ctx: WorkerContext, *, chat_id: int, user_id: int, ban: bool = True) -> None:
    """Ban, then lift the ban: the person leaves the chat and may come back after paying.

    `ban=False` only lifts a ban found in place (one of ours a crash cut short). The lifting is
    only_if_banned, so it never turns into a kick of someone let back in meanwhile. Answers
    meaning "already out" count as done; every other failure propagates.
    """
    if ban:
        with suppress(*ALREADY_OUT):
            ctx.telegram.ban(chat_id=chat_id, user_id=user_id)
    with suppress(*ALREADY_OUT):
        ctx.telegram.unban(chat_id=chat_id, user_id=user_id, only_if_banned=True)


def carry_out_kick(ctx: WorkerContext, *, command: Command, kick: Kick,
                   now: datetime) -> Effects:
    """Ban then lift the ban: the user leaves the channel but may come back after paying again.

    A ban already in place is lifted only if it is this removal's own (a crash cut it short
    before the unban): one an admin set by hand in Telegram stays. A refusal (missing rights,
    the bot no longer in the channel) is final: recorded and told to the admin. Transient
    failures propagate for the task to retry.
    """
    chat_id, user_id = kick.chat_id, kick.user_id
    try:
        standing = ctx.telegram.standing(chat_id=chat_id, user_id=user_id)
        with ctx.sessions.begin() as session:
            if standing == "kicked" and not ban_is_ours(session, kick=kick):
                return []
            note_removal_started(session, command=command, kick=kick, now=now)
        ban_and_lift(ctx, chat_id=chat_id, user_id=user_id, ban=standing != "kicked")
    except TelegramTransient:
        raise
    except TelegramFailure as refused:
        log.error("admin_kick_refused", user_id=user_id, error=str(refused))
        with ctx.sessions.begin() as session:
            return kick_refused(session, command=command, kick=kick, error=refused.description,
                                method=refused.method, now=now)
    return []


def kick_refused(session: Session, *, command: Command, kick: Kick, error: str,
                 method: str | None, now: datetime) -> Effects:
    """Telegram refused the kick for good: recorded once on the user, told once to the admin."""
    if not _kick_noted(session, kick, REMOVAL_REFUSED):
        record_history(session, user_id=kick.user_id, chat_id=kick.chat_id,
                       action=REMOVAL_REFUSED, source="admin", now=now,
                       actor_id=command.actor_id, command=command.text, before=kick.through,
                       details={"error": error, "method": method})
    with speaking_to(session, command.actor_id):
        text = texts.admin_kick_refused(user_id=kick.user_id, error=error)
    return outbox.queue_message(
        session, key=f"admin_kick_refused:{command.request_key}", chat_id=command.actor_id,
        text=text, now=now)


def set_trial_used(session: Session, *, command: Command, user_id: int, used: bool,
                   now: datetime) -> Done:
    """marktrial (used=True) spends the trial; resettrial (used=False) gives it back."""
    reply = claim_reply(session, command=command, now=now)
    if reply is None:
        return Done()
    session.execute(update(User).where(User.id == user_id)
                    .values(trial_used_at=now if used else None))
    record_history(session, user_id=user_id, action="admin_mark_trial" if used
                   else "admin_reset_trial", source="admin", now=now,
                   actor_id=command.actor_id, command=command.text)
    text = texts.admin_trial_marked(user_id=user_id, used=used)
    return Done(admin_reply(session, reply, command=command, text=text))


def add_referrer(session: Session, *, command: Command, user_id: int, pct: Decimal,
                 now: datetime) -> Done:
    """Make the user a referrer at `pct` percent, or change the rate of one."""
    reply = claim_reply(session, command=command, now=now)
    if reply is None:
        return Done()
    values = {"user_id": user_id, "pct": pct, "active": True, "created_at": now,
              "updated_at": now}
    if not insert_ignore(session, Referrer, values, conflict=["user_id"]):
        session.execute(update(Referrer).where(Referrer.user_id == user_id)
                        .values(pct=pct, active=True, updated_at=now))
    record_history(session, user_id=user_id, action="referrer_added", source="admin", now=now,
                   actor_id=command.actor_id, command=command.text, details={"pct": str(pct)})
    text = texts.admin_referrer_added(user_id=user_id, pct=pct)
    return Done(admin_reply(session, reply, command=command, text=text))


def remove_referrer(session: Session, *, command: Command, user_id: int,
                    now: datetime) -> Done:
    """Stop future commissions; the ledger and its balance stay (it is still owed)."""
    reply = claim_reply(session, command=command, now=now)
    if reply is None:
        return Done()
    changed = session.execute(update(Referrer).where(Referrer.user_id == user_id)
                              .values(active=False, updated_at=now))
    existed = bool(changed.rowcount)  # type: ignore[attr-defined]
    if existed:
        record_history(session, user_id=user_id, action="referrer_removed", source="admin",
                       now=now, actor_id=command.actor_id, command=command.text)
    text = texts.admin_referrer_removed(user_id=user_id, existed=existed)
    return Done(admin_reply(session, reply, command=command, text=text))


# Exports ----------------------------------------------------------------------------------

USER_COLUMNS = ("user_id", "username", "first_name", "status", "plan", "paid_through",
                "trial_used_at", "referrer_id", "blocked_bot_at", "created_at",
                # Promo and gift codes redeemed, `CODE:status;…` (workers/promos/service.py).
                "promo_codes")
REFERRER_COLUMNS = ("referrer_id", "username", "pct", "active", "referred", "paid_invoices",
                    "earned_usd", "paid_out_usd", "balance_usd")


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


# A spreadsheet runs a cell starting with one of these as a formula (=HYPERLINK(…) phones
# home, @SUM(…) computes): a subscriber picks their own name, so it is never trusted.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A text cell that could start a formula gets a leading ' (shown as text, not run).

    Numbers and dates are ours and stay as they are (-5.00 is a number, not a formula).
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def _csv(header: Iterable[str], rows: Iterable[Iterable[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([spreadsheet_safe(cell) for cell in row] for row in rows)
    return buffer.getvalue().encode("utf-8")


def users_csv(session: Session, *, chat_id: int, grace: timedelta, now: datetime) -> bytes:
    """Every user with their live status in `chat_id` (computed now, not the stored column)."""
    rows = session.execute(
        select(User, Access, Plan.code)
        .outerjoin(Access, (Access.user_id == User.id) & (Access.chat_id == chat_id))
        .outerjoin(Plan, Plan.id == Access.plan_id)
        .order_by(User.id)
    ).all()
    redeemed = promos.redemptions_by_user(session)
    return _csv(USER_COLUMNS, (
        (user.id, user.username or "", user.first_name or "",
         rules.status_at(as_rule(access) if access else None, now=now, grace=grace).value,
         plan_code or "", _iso(access.paid_through if access else None),
         _iso(user.trial_used_at), user.referred_by_id or "", _iso(user.blocked_bot_at),
         _iso(user.created_at), redeemed.get(user.id, ""))
        for user, access, plan_code in rows
    ))


def ledger_entries(session: Session, *, referrer_id: int) -> list[ledger.LedgerEntry]:
    rows = session.execute(select(CommissionEntry.kind, CommissionEntry.amount,
                                  CommissionEntry.created_at)
                           .where(CommissionEntry.referrer_id == referrer_id)).all()
    return [ledger.LedgerEntry(kind=ledger.EntryKind(kind), amount=amount, at=at)
            for kind, amount, at in rows]


def _total(entries: list[ledger.LedgerEntry], kind: ledger.EntryKind) -> Decimal:
    return ledger.balance(entry for entry in entries if entry.kind is kind).copy_abs()


def referrers_csv(session: Session) -> bytes:
    """One line per referrer: rate, people referred, paid invoices, earned, paid out, balance."""
    lines = []
    for referrer, username in session.execute(
        select(Referrer, User.username).join(User, User.id == Referrer.user_id)
        .order_by(Referrer.user_id)
    ).all():
        referred = session.scalar(select(func.count()).select_from(Referral)
                                  .where(Referral.referrer_id == referrer.user_id))
        paid = session.scalar(
            select(func.count()).select_from(Invoice)
            .join(Referral, Referral.referred_user_id == Invoice.user_id)
            .where(Referral.referrer_id == referrer.user_id, Invoice.activated_at.is_not(None))
        )
        entries = ledger_entries(session, referrer_id=referrer.user_id)
        lines.append((referrer.user_id, username or "", referrer.pct, referrer.active,
                      referred, paid, _total(entries, ledger.EntryKind.CREDIT),
                      _total(entries, ledger.EntryKind.DEBIT), ledger.balance(entries)))
    return _csv(REFERRER_COLUMNS, lines)
