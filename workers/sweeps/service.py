"""The access lifecycle sweeps: expire what is due (behind a circuit breaker) and remind.

`expire_subscriptions` moves rows into `grace`, counts the due set in SQL, and removes each due
subscriber with ban + unban(only_if_banned) so they may come back after paying again, walking
the due rows in keyset pages of the partial index on unswept rows (memory stays one page at a
million subscribers). Admins, the channel's owner and administrators are never removed. A run
that looks like an accident rather than churn removes nobody and waits for an admin
(`SweepHold`, `breaker_reason`). Reminders are written a page per transaction, set-wise.

Removal is idempotent without holding a database lock across Telegram calls (on SQLite a
transaction locks the whole database): the row is re-checked under lock, the Telegram calls are
made outside any transaction (banning, and lifting a ban, are idempotent), and the row moves to
`expired` with its history and message in one locked transaction that re-checks again. A retry
finds the row expired and does nothing; a payment that lands while the kick runs is seen by the
second check and answered with a fresh invite instead of the expiry.

One person's permanent Telegram error never stops a run: Telegram answering "member not found",
"user not found" or PARTICIPANT_ID_INVALID about a user (reference telegram.md §3) means we
cannot see them in the channel, so they are banned and unbanned anyway (harmless for someone
who is not there) and their row ends; any other refusal is written to that row's history and
the run goes on with the next row. A ban already in place is lifted only if it is our own: the
sweep notes "removal_started" before it bans, so a ban an admin set by hand stays.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    case,
    func,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from infra import buttons, texts
from infra.db import insert_ignore_rows
from infra.i18n import use_language
from infra.logging import get_logger
from infra.settings import Settings
from infra.telegram import (
    TelegramFailure,
    TelegramTransient,
)
from models.domain import access as rules
from models.history import record_history
from models.outbox import Effects, Message, queue_messages
from models.outbox import queue_message as message
from models.schema import Access, AccessHistory, RenewalReminder, SweepHold
from workers.access.service import as_rule
from workers.admin.service import (
    ALREADY_OUT,
    REMOVAL_REFUSED,
    REMOVAL_STARTED,
    Command,
    authorized,
)
from workers.context import WorkerContext
from workers.languages import languages_of, speaking_to
from workers.users.service import grant

log = get_logger("workers.sweeps")

RUNNING = (rules.AccessStatus.TRIALING.value, rules.AccessStatus.ACTIVE.value)
# Rows the sweep has not finished with: everyone in them is (or may be) in the channel.
UNSWEPT = (*RUNNING, rules.AccessStatus.GRACE.value)
EXPIRED = rules.AccessStatus.EXPIRED.value
PROTECTED_STATUSES = frozenset({"creator", "administrator"})
EXPIRY_ACTIONS = ("expired_removed", "expired", "expired_kept")


def renew_buttons() -> list[list[dict[str, str]]]:
    """The "Renew" button, labelled in the language of the moment."""
    return [[{"text": texts.RENEW_BUTTON, "data": buttons.SHOW_PLANS}]]
# Rows per keyset page: the sweep and the reminders never hold more than one page in memory,
# and a reminder page is one batched insert per table and one commit.
PAGE_SIZE = 500
# The breaker's "recent churn": rows the sweep expired in this window before the run.
HOUR = timedelta(hours=1)
CHURN_WINDOW = 24 * HOUR
# Effects a run hands over as it goes (after each page's commits), not all at its end.
Dispatch = Callable[[Effects], None]


@dataclass(frozen=True)
class Due:
    access_id: int
    user_id: int
    chat_id: int
    paid_through: datetime


@dataclass
class SweepSummary:
    """What one run did; `report()` is what an operator's `celery call` prints."""

    due: int = 0
    removed: int = 0  # kicked out of the channel
    expired: int = 0  # rows marked expired (the removed, and those who were not members)
    kept: int = 0  # admins, the owner and administrators: marked expired, never removed
    paid_meanwhile: int = 0
    refused: int = 0  # Telegram refused the removal (recorded on the row); the next run retries
    to_grace: int = 0
    hold_id: int | None = None
    dry_run: bool = False
    effects: Effects = field(default_factory=list)
    # A transient Telegram failure stopped the run; the task retries after dispatching.
    interrupted: TelegramTransient | None = None

    def report(self) -> dict[str, int | bool | None]:
        internal = ("effects", "interrupted")
        return {item.name: getattr(self, item.name) for item in fields(self)
                if item.name not in internal}


def breaker_reason(
    *, due: int, members: int, max_removals: int | None, max_share: float, share_min_due: int,
    recent_churn: float = 0.0, max_churn_factor: float = 0.0,
) -> str | None:
    """Why removing `due` of `members` is suspicious, or None if the run may proceed.

    An accident (a clock jump, a bad migration, a wrong plan) lapses a large part of the
    paying base at once; ordinary churn lapses a steady trickle whatever the channel's size.
    So the relative rules compare the run with the members and with the recent churn per run
    (`recent_churn`; `max_churn_factor` 0 turns that rule off), and they need at least
    `share_min_due` removals: in a small channel two people lapsing on the same day is
    ordinary, not a sign of a broken clock or a lost database. `max_removals`, when set, is
    an absolute ceiling on top.
    """
    if max_removals is not None and due > max_removals:
        return f"more than {max_removals} removals in one run"
    if due < share_min_due:
        return None
    if members and due / members > max_share:
        return f"more than {max_share:.0%} of the members"
    if max_churn_factor and due > max_churn_factor * recent_churn:
        return (f"more than {max_churn_factor:g}x the recent churn "
                f"({recent_churn:.1f} a run over the last {CHURN_WINDOW // HOUR} h)")
    return None


# Queries ----------------------------------------------------------------------------------

def _status_in(statuses: tuple[str, ...]) -> ColumnElement[bool]:
    """`status IN (...)` with the statuses written into the SQL, not bound.

    Constants let the planner prove ix_access_unswept_paid_through's predicate: SQLite only
    uses a partial index then, and PostgreSQL in a cached generic plan too.
    """
    name = "status_" + "_".join(statuses)
    return Access.status.in_(bindparam(name, list(statuses), expanding=True,
                                       literal_execute=True))


def _is_due(*, chat_id: int, cutoff: datetime) -> tuple[ColumnElement[bool], ...]:
    return (_status_in(UNSWEPT), Access.paid_through <= cutoff, Access.chat_id == chat_id)


def _after(key: tuple[datetime, int] | None) -> tuple[ColumnElement[bool], ...]:
    """The keyset condition: rows after (paid_through, id) `key` in page order."""
    if key is None:
        return ()
    return (tuple_(Access.paid_through, Access.id) > tuple_(*key),)


def due_query(*, chat_id: int, cutoff: datetime, after: tuple[datetime, int] | None = None,
              limit: int | None = None) -> Select[int, int, int, datetime | None]:
    """The due rows after (paid_through, id) `after`, oldest first, at most `limit` of them."""
    return (select(Access.id, Access.user_id, Access.chat_id, Access.paid_through)
            .where(*_is_due(chat_id=chat_id, cutoff=cutoff), *_after(after))
            .order_by(Access.paid_through, Access.id)
            .limit(limit))


def due_access(session: Session, *, chat_id: int, cutoff: datetime,
               after: tuple[datetime, int] | None = None, limit: int | None = None) -> list[Due]:
    """Unswept rows whose paid time (plus grace) ended at or before `cutoff`, oldest first.

    `after` and `limit` make it one keyset page: the rows after (paid_through, id) `after`.
    """
    rows = session.execute(due_query(chat_id=chat_id, cutoff=cutoff, after=after, limit=limit))
    return [Due(row.id, row.user_id, row.chat_id, row.paid_through) for row in rows]


def due_pages(ctx: WorkerContext, *, chat_id: int, cutoff: datetime) -> Iterator[Due]:
    """The due rows a page at a time, each page read in a short session of its own.

    Memory stays one page whatever the size of the due set, and no transaction stays open
    across the Telegram calls made between pages. Rows a page finished with drop out of the
    due set; the keyset (paid_through, id) carries on after the last row read.
    """
    after: tuple[datetime, int] | None = None
    while True:
        with ctx.sessions() as session:
            page = due_access(session, chat_id=chat_id, cutoff=cutoff, after=after,
                              limit=PAGE_SIZE)
        yield from page
        if len(page) < PAGE_SIZE:
            return
        after = (page[-1].paid_through, page[-1].access_id)


def due_counts(session: Session, *, chat_id: int, cutoff: datetime,
               admins: frozenset[int]) -> tuple[int, int]:
    """(due rows, of them removable) counted in SQL: configured admins are never removed."""
    removable = case((Access.user_id.not_in(sorted(admins)), 1)) if admins else literal(1)
    due, removable_count = session.execute(
        select(func.count(), func.count(removable)).select_from(Access)
        .where(*_is_due(chat_id=chat_id, cutoff=cutoff))).one()
    return int(due), int(removable_count)


def member_count(session: Session, *, chat_id: int) -> int:
    """Members as far as we know (bots cannot list a channel): covered or due rows."""
    return int(session.scalar(select(func.count()).select_from(Access)
                              .where(_status_in(UNSWEPT), Access.chat_id == chat_id))
               or 0)


def recent_churn(session: Session, *, chat_id: int, now: datetime, every: timedelta) -> float:
    """Rows the sweep expired over the last CHURN_WINDOW, per run of `every` seconds."""
    lapsed = session.scalar(
        select(func.count()).select_from(AccessHistory)
        .where(AccessHistory.action.in_(EXPIRY_ACTIONS),
               AccessHistory.created_at > now - CHURN_WINDOW, AccessHistory.created_at <= now,
               AccessHistory.chat_id == chat_id)) or 0
    return int(lapsed) * (every / CHURN_WINDOW)


def move_into_grace(session: Session, *, chat_id: int, now: datetime, grace: timedelta) -> int:
    """Mark running rows whose paid time is over but whose grace is not; return how many."""
    if not grace:
        return 0
    changed = session.execute(
        update(Access)
        .where(Access.status.in_(RUNNING), Access.paid_through <= now,
               Access.paid_through > now - grace, Access.chat_id == chat_id)
        # A bulk update bypasses the ORM's optimistic lock, so it bumps the version itself.
        .values(status=rules.AccessStatus.GRACE.value, updated_at=now,
                version=Access.version + 1)
    )
    return int(changed.rowcount)  # type: ignore[attr-defined]


def open_hold(session: Session) -> SweepHold | None:
    return session.scalar(select(SweepHold).where(SweepHold.status == "held")
                          .order_by(SweepHold.id.desc()))


# Expiry -----------------------------------------------------------------------------------

def sweep_chats(session: Session, *, settings: Settings) -> list[int]:
    """The chats a run goes through: every configured one, and any chat someone may still be in
    (a chat a bundle dropped, or that CHANNEL_ID left, keeps being swept until nobody is due)."""
    may_be_in = session.scalars(select(Access.chat_id).where(_status_in(UNSWEPT)).distinct())
    return sorted(settings.chats | set(may_be_in))


def _due_everywhere(ctx: WorkerContext, chats: list[int], *, cutoff: datetime) -> Iterator[Due]:
    return itertools.chain.from_iterable(due_pages(ctx, chat_id=chat_id, cutoff=cutoff)
                                         for chat_id in chats)


def expire_subscriptions(ctx: WorkerContext, *, now: datetime,
                         dispatch: Dispatch | None = None) -> SweepSummary:
    """One run of the expiry sweep at `now` over every chat, judged by the circuit breaker.

    Each chat is judged on its own (its due set against its members); one chat's breaker
    holds the whole run, and `/sweep_confirm` then removes what was due in every chat.
    With `dispatch`, the effects of each page are handed over once the page is done (the
    messages of a long run go out while it runs); without, they stay in the summary.
    """
    settings = ctx.settings
    cutoff = now - settings.grace
    to_grace = 0
    with ctx.sessions.begin() as session:
        chats = sweep_chats(session, settings=settings)
        if not settings.sweep_dry_run:
            hold = open_hold(session)
            if hold is not None:
                log.warning("sweep_on_hold", hold_id=hold.id, due=hold.due_count)
                return SweepSummary(hold_id=hold.id)
            to_grace = sum(move_into_grace(session, chat_id=chat_id, now=now,
                                           grace=settings.grace) for chat_id in chats)
        verdicts = [_judge(session, chat_id=chat_id, settings=settings, cutoff=cutoff, now=now)
                    for chat_id in chats]
        held = next((verdict for verdict in verdicts if verdict.reason is not None), None)
        if held is not None and not settings.sweep_dry_run:
            return _hold(session, settings=settings, verdict=held, now=now, to_grace=to_grace)
    if settings.sweep_dry_run:
        return _dry_run(ctx, verdicts=verdicts, cutoff=cutoff)
    summary = remove_due(ctx, _due_everywhere(ctx, chats, cutoff=cutoff), now=now,
                         count=sum(verdict.due for verdict in verdicts), dispatch=dispatch)
    summary.to_grace = to_grace
    return summary


@dataclass(frozen=True)
class Verdict:
    chat_id: int
    due: int
    removable: int
    members: int
    churn: float
    reason: str | None


def _judge(session: Session, *, chat_id: int, settings: Settings, cutoff: datetime,
           now: datetime) -> Verdict:
    """The chat's due set's size and the circuit breaker's verdict on removing it, in SQL."""
    # Configured admins are never removed, so they do not count towards the breaker.
    due, removable = due_counts(session, chat_id=chat_id, cutoff=cutoff, admins=settings.admins)
    members = member_count(session, chat_id=chat_id)
    churn = recent_churn(session, chat_id=chat_id, now=now,
                         every=timedelta(seconds=settings.sweep_interval_seconds))
    reason = breaker_reason(due=removable, members=members,
                            max_removals=settings.sweep_max_removals,
                            max_share=settings.sweep_max_share,
                            share_min_due=settings.sweep_share_min_due,
                            recent_churn=churn,
                            max_churn_factor=settings.sweep_max_churn_factor)
    return Verdict(chat_id, due, removable, members, churn, reason)


def _dry_run(ctx: WorkerContext, *, verdicts: list[Verdict], cutoff: datetime) -> SweepSummary:
    admins = ctx.settings.admins
    for verdict in verdicts:
        for row in due_pages(ctx, chat_id=verdict.chat_id, cutoff=cutoff):
            log.info("sweep_dry_run_would_expire", user_id=row.user_id, chat_id=row.chat_id,
                     paid_through=row.paid_through.isoformat(), admin=row.user_id in admins)
        if verdict.reason is not None:
            log.warning("sweep_dry_run_would_hold", due=verdict.removable, chat_id=verdict.chat_id,
                        members=verdict.members, reason=verdict.reason)
    return SweepSummary(due=sum(verdict.due for verdict in verdicts), dry_run=True)


def _hold(session: Session, *, settings: Settings, verdict: Verdict, now: datetime,
          to_grace: int) -> SweepSummary:
    assert verdict.reason is not None  # only a refused run is held
    hold = SweepHold(due_count=verdict.removable, member_count=verdict.members,
                     reason=verdict.reason, status="held", created_at=now)
    session.add(hold)
    session.flush()
    effects: Effects = []
    for admin in sorted(settings.admins):
        with speaking_to(session, admin):
            text = texts.sweep_held(hold_id=hold.id, due=verdict.removable,
                                    members=verdict.members, reason=verdict.reason)
        effects += message(session, key=f"sweep_hold:{hold.id}:{admin}", chat_id=admin,
                           text=text, now=now)
    log.warning("sweep_held", hold_id=hold.id, due=verdict.removable, members=verdict.members,
                churn=round(verdict.churn, 2), reason=verdict.reason)
    return SweepSummary(due=verdict.due, hold_id=hold.id, to_grace=to_grace,
                        effects=effects)


def remove_due(ctx: WorkerContext, due: Iterable[Due], *, now: datetime,
               count: int | None = None, dispatch: Dispatch | None = None) -> SweepSummary:
    """Expire each due row (removing the person if in the channel); no breaker here.

    `due` may be a stream (`due_pages`) whose size `count` was counted beforehand. With
    `dispatch`, the effects written so far are handed over every PAGE_SIZE rows.
    """
    if count is None:
        due = list(due)
        count = len(due)
    summary = SweepSummary(due=count)
    for done, row in enumerate(due):  # `done` rows are finished before this one
        if dispatch is not None and summary.effects and done % PAGE_SIZE == 0:
            dispatch(summary.effects)
            summary.effects = []
        try:
            _expire_one(ctx, row, now=now, summary=summary)
        except (TelegramTransient, RedisError) as error:
            # The send budget lives in Redis: a Redis hiccup is as transient as a 429.
            summary.interrupted = error if isinstance(error, TelegramTransient) else (
                TelegramTransient(description=f"send budget unavailable: {error!r}"))
            log.warning("sweep_interrupted", user_id=row.user_id, error=str(error))
            break
        except TelegramFailure as refused:
            # This person's problem, not the run's: write it down and go on with the others.
            _record_refusal(ctx, row, refused, now=now)
            summary.refused += 1
    log.info("sweep_done", **summary.report())
    return summary


def _locked(session: Session, access_id: int) -> Access:
    return session.scalars(select(Access).where(Access.id == access_id).with_for_update()).one()


def _still_due(row: Access, *, settings: Settings, now: datetime) -> bool:
    return row.status in UNSWEPT and rules.is_due_for_removal(
        as_rule(row), now=now, grace=settings.grace)


def _standing(ctx: WorkerContext, row: Due) -> str:
    """"admin" for configured admins, else the person's status in the channel.

    "unknown" when Telegram will not say: the caller treats them as possibly in, and removes
    them anyway (banning someone who is not there is harmless, and lifted right after).
    """
    if row.user_id in ctx.settings.admins:
        return "admin"
    return ctx.telegram.standing(chat_id=row.chat_id, user_id=row.user_id)


def _kick(ctx: WorkerContext, row: Due, *, ban: bool) -> None:
    # Ban then lift the ban: the person leaves the channel and may come back after paying.
    # only_if_banned: lifting must never turn into a kick of someone let back in meanwhile.
    if ban:
        with suppress(*ALREADY_OUT):
            ctx.telegram.ban(chat_id=row.chat_id, user_id=row.user_id)
    with suppress(*ALREADY_OUT):
        ctx.telegram.unban(chat_id=row.chat_id, user_id=row.user_id, only_if_banned=True)


def _history_exists(session: Session, row: Due, action: str) -> bool:
    return session.scalar(
        select(AccessHistory.id)
        .where(AccessHistory.user_id == row.user_id, AccessHistory.chat_id == row.chat_id,
               AccessHistory.action == action,
               AccessHistory.paid_through_before == row.paid_through)
        .limit(1)) is not None


def _our_ban(ctx: WorkerContext, row: Due) -> bool:
    """Whether a ban found on a due row is our own removal, cut short before the unban."""
    with ctx.sessions() as session:
        return _history_exists(session, row, REMOVAL_STARTED)


def _note_removal_started(ctx: WorkerContext, row: Due, *, now: datetime, standing: str) -> None:
    # Written before the ban, so a ban found later can be told apart from an admin's.
    with ctx.sessions.begin() as session:
        if not _history_exists(session, row, REMOVAL_STARTED):
            record_history(session, user_id=row.user_id, chat_id=row.chat_id,
                           action=REMOVAL_STARTED, source="sweep", now=now,
                           before=row.paid_through, details={"standing": standing})


def _record_refusal(ctx: WorkerContext, row: Due, refused: TelegramFailure, *,
                    now: datetime) -> None:
    """The row stays due for the next run; its history says why, once per paid period."""
    log.error("sweep_removal_refused", user_id=row.user_id, access_id=row.access_id,
              error=str(refused))
    with ctx.sessions.begin() as session:
        if not _history_exists(session, row, REMOVAL_REFUSED):
            record_history(session, user_id=row.user_id, chat_id=row.chat_id,
                           action=REMOVAL_REFUSED, source="sweep", now=now,
                           before=row.paid_through,
                           details={"error": refused.description, "method": refused.method})


def _expire_one(ctx: WorkerContext, due: Due, *, now: datetime, summary: SweepSummary) -> None:
    settings = ctx.settings
    bound = log.bind(user_id=due.user_id, access_id=due.access_id)
    with ctx.sessions.begin() as session:  # re-check right before acting
        if not _still_due(_locked(session, due.access_id), settings=settings, now=now):
            summary.paid_meanwhile += 1
            bound.info("sweep_skip_no_longer_due")
            return
    standing = _standing(ctx, due)
    protected = standing == "admin" or standing in PROTECTED_STATUSES
    # "kicked" on a row we have not expired yet is either our own ban that a crash left in
    # place (finish it: lift it) or a ban someone set by hand (leave it: they are out anyway).
    ours = standing == "kicked" and _our_ban(ctx, due)
    kicked = not protected and (standing in ("member", "unknown") or ours)
    if kicked:
        _note_removal_started(ctx, due, now=now, standing=standing)
        _kick(ctx, due, ban=not ours)
    with ctx.sessions.begin() as session:
        row = _locked(session, due.access_id)
        if not _still_due(row, settings=settings, now=now):
            summary.paid_meanwhile += 1
            if kicked and rules.is_covered(as_rule(row), now=now, grace=settings.grace):
                _reinvite(session, row, now=now, summary=summary)
            return
        before_status = row.status
        row.status = EXPIRED
        row.updated_at = now
        session.flush()
        action = "expired_kept" if protected else "expired_removed" if kicked else "expired"
        record_history(session, user_id=row.user_id, chat_id=row.chat_id, action=action,
                       source="sweep", now=now, before=row.paid_through, after=row.paid_through,
                       details={"status_before": before_status, "status_after": EXPIRED,
                                "standing": standing})
        summary.expired += 1
        if protected:
            summary.kept += 1
            bound.info("sweep_kept_protected", standing=standing)
            return
        summary.removed += kicked
        assert row.paid_through is not None  # due rows have paid time by the query
        with speaking_to(session, row.user_id):
            summary.effects += message(
                session, key=f"sweep_expired:{row.id}:{row.paid_through.isoformat()}",
                chat_id=row.user_id, text=texts.access_expired(paid_through=row.paid_through),
                buttons=renew_buttons(), now=now, bulk=True)
    bound.info("sweep_expired", removed=kicked, paid_through=due.paid_through.isoformat())


def _reinvite(session: Session, row: Access, *, now: datetime, summary: SweepSummary) -> None:
    """A payment landed while we removed them: let them back in as after any payment."""
    assert row.paid_through is not None  # covered rows have paid time
    record_history(session, user_id=row.user_id, chat_id=row.chat_id,
                   action="sweep_removed_paid_meanwhile", source="sweep", now=now,
                   after=row.paid_through)
    summary.effects += grant(
        session, key=f"grant:sweep:{row.id}:{row.paid_through.isoformat()}",
        user_id=row.user_id, chat_id=row.chat_id, access_id=row.id, now=now)
    log.warning("sweep_removed_paid_meanwhile", user_id=row.user_id)


# The breaker's confirmation ---------------------------------------------------------------

@dataclass
class Confirmation:
    outcome: str  # "confirmed", "nothing held", "not an admin", "dry run"
    summary: SweepSummary | None = None


def confirm_hold(ctx: WorkerContext, *, admin_id: int, now: datetime,
                 dispatch: Dispatch | None = None) -> Confirmation:
    """An admin confirms the open hold: remove what was due then, once, without the breaker.

    Only rows already due when the hold was made are removed; anyone due since is judged
    afresh by the next regular run. A confirmed removal that a flood limit interrupted is
    resumed by the task's retry (or the next confirmation): nothing is held any more, but
    the rows the admin approved are still due under the confirmed hold's cutoff.
    """
    settings = ctx.settings
    with ctx.sessions.begin() as session:
        command = Command(actor_id=admin_id, text="/sweep_confirm",
                          request_key=f"sweep_confirm:{admin_id}")
        allowed = authorized(session, command=command, admins=settings.admins,
                             action="sweep_confirm", now=now)
    if not allowed:
        log.warning("sweep_confirm_refused", admin_id=admin_id)
        return Confirmation("not an admin")
    if settings.sweep_dry_run:
        log.info("sweep_dry_run_would_confirm", admin_id=admin_id)
        return Confirmation("dry run")
    with ctx.sessions.begin() as session:
        hold, outcome = _confirm_open_hold(session, admin_id=admin_id, now=now), "confirmed"
        if hold is None:
            hold, outcome = _last_confirmed_hold(session), "resumed"
        if hold is None:
            log.info("sweep_confirm_nothing_held", admin_id=admin_id)
            return Confirmation("nothing held")
        hold_id, confirmed_at = hold.id, hold.confirmed_at or now
        cutoff = min(now, hold.created_at) - settings.grace
        chats = sweep_chats(session, settings=settings)
        due = sum(due_counts(session, chat_id=chat_id, cutoff=cutoff, admins=frozenset())[0]
                  for chat_id in chats)
    if outcome == "resumed" and not due:
        log.info("sweep_confirm_nothing_held", admin_id=admin_id)
        return Confirmation("nothing held")
    summary = remove_due(ctx, _due_everywhere(ctx, chats, cutoff=cutoff), now=now,
                         count=due, dispatch=dispatch)
    summary.hold_id = hold_id
    if summary.interrupted is None:
        with ctx.sessions.begin() as session:
            removed, expired = _sweep_totals(session, since=confirmed_at)
            with speaking_to(session, admin_id):
                text = texts.sweep_confirmed(hold_id=hold_id, removed=removed, expired=expired)
            summary.effects += message(session, key=f"sweep_confirmed:{hold_id}",
                                       chat_id=admin_id, now=now, text=text)
    log.warning("sweep_hold_confirmed", hold_id=hold_id, admin_id=admin_id, outcome=outcome,
                removed=summary.removed)
    return Confirmation(outcome, summary)


def _confirm_open_hold(session: Session, *, admin_id: int, now: datetime) -> SweepHold | None:
    hold = open_hold(session)
    if hold is None:
        return None
    confirmed = session.execute(
        update(SweepHold).where(SweepHold.id == hold.id, SweepHold.status == "held")
        .values(status="confirmed", confirmed_by=admin_id, confirmed_at=now))
    if not confirmed.rowcount:  # type: ignore[attr-defined]
        return None  # a concurrent confirmation won
    # Holds a concurrent run may have opened alongside are settled by this confirmation.
    session.execute(update(SweepHold).where(SweepHold.status == "held")
                    .values(status="superseded"))
    session.refresh(hold)
    return hold


def _last_confirmed_hold(session: Session) -> SweepHold | None:
    return session.scalar(select(SweepHold).where(SweepHold.status == "confirmed")
                          .order_by(SweepHold.id.desc()).limit(1))


def _sweep_totals(session: Session, *, since: datetime) -> tuple[int, int]:
    """(removed, expired in all) by the sweep since `since`, for the admin's summary."""
    rows = session.execute(
        select(AccessHistory.action, func.count())
        .where(AccessHistory.source == "sweep", AccessHistory.created_at >= since,
               AccessHistory.action.in_(EXPIRY_ACTIONS))
        .group_by(AccessHistory.action))
    actions = {action: int(total) for action, total in rows}
    return actions.get("expired_removed", 0), sum(actions.values())


# Renewal reminders ------------------------------------------------------------------------

def send_renewal_reminders(session: Session, *, chat_id: int, reminder_days: tuple[int, ...],
                           now: datetime) -> Effects:
    """Remind each running access once per period, with the smallest reminder now due.

    Every page in the caller's one transaction; `remind_in_batches` commits page by page.
    """
    effects: Effects = []
    after: tuple[datetime, int] | None = None
    while True:
        page, after = remind_page(session, chat_id=chat_id, reminder_days=reminder_days,
                                  now=now, after=after)
        effects += page
        if after is None:
            return effects


def remind_in_batches(ctx: WorkerContext, *, now: datetime, dispatch: Dispatch) -> int:
    """`send_renewal_reminders` a page per transaction, each page dispatched after its commit.

    A crash loses at most the page in flight, and the retry finds the committed pages'
    reminders already written. Returns how many reminders were queued.
    """
    settings, reminded = ctx.settings, 0
    after: tuple[datetime, int] | None = None
    while True:
        with ctx.sessions.begin() as session:
            effects, after = remind_page(session, chat_id=settings.channel,
                                         reminder_days=settings.reminder_days, now=now,
                                         after=after)
        dispatch(effects)
        reminded += len(effects)
        if after is None:
            return reminded


def reminder_query(*, chat_id: int, now: datetime, horizon: datetime,
                   after: tuple[datetime, int] | None, limit: int,
                   ) -> Select[int, int, datetime | None]:
    """Running rows whose paid time ends after `now` and by `horizon`: a page after `after`."""
    return (select(Access.id, Access.user_id, Access.paid_through)
            # Running implies unswept; saying so lets SQLite use the partial index.
            .where(_status_in(RUNNING), _status_in(UNSWEPT), Access.paid_through > now,
                   Access.paid_through <= horizon, Access.chat_id == chat_id, *_after(after))
            .order_by(Access.paid_through, Access.id)
            .limit(limit))


def _reminder(access_id: int, user_id: int, paid_through: datetime, days_before: int, *,
              language: str) -> Message:
    with use_language(language):
        return Message(key=f"reminder:{access_id}:{days_before}:{paid_through.isoformat()}",
                       chat_id=user_id, buttons=renew_buttons(),
                       text=texts.renewal_reminder(paid_through=paid_through,
                                                   days_before=days_before))


def remind_page(session: Session, *, chat_id: int, reminder_days: tuple[int, ...],
                now: datetime, after: tuple[datetime, int] | None,
                ) -> tuple[Effects, tuple[datetime, int] | None]:
    """One keyset page of reminders: (its effects, the key to go on after, or None at the end).

    Set-wise: the rule picks each row's reminder in Python, then one insert writes the page's
    reminders and one the messages of those that were new. The unique (access_id,
    days_before, period_end) makes a reminder once per access period, whoever races.
    """
    if not reminder_days:
        return [], None
    rows = session.execute(reminder_query(chat_id=chat_id, now=now, after=after,
                                          limit=PAGE_SIZE,
                                          horizon=now + timedelta(days=max(reminder_days)))
                           ).all()
    wanted: dict[int, tuple[int, datetime, int]] = {}
    for access_id, user_id, paid_through in rows:
        assert paid_through is not None  # the query bounds it
        due = [days for days in reminder_days
               if rules.reminder_due(paid_through=paid_through, now=now, days_before=days)]
        if due:  # a larger one now due as well would only say less: the smallest
            wanted[access_id] = (user_id, paid_through, min(due))
    written = insert_ignore_rows(
        session, RenewalReminder,
        [{"access_id": access_id, "days_before": days_before, "period_end": paid_through,
          "sent_at": now} for access_id, (_, paid_through, days_before) in wanted.items()],
        conflict=["access_id", "days_before", "period_end"], returning=["access_id"])
    new = sorted({row.access_id for row in written} & wanted.keys(),
                 key=lambda access_id: (wanted[access_id][1], access_id))
    languages = languages_of(session, {wanted[access_id][0] for access_id in new})
    effects = queue_messages(session, [
        _reminder(access_id, user_id, paid_through, days_before, language=languages[user_id])
        for access_id in new
        for user_id, paid_through, days_before in [wanted[access_id]]], now=now, bulk=True)
    last = (rows[-1].paid_through, rows[-1].id) if len(rows) == PAGE_SIZE else None
    return effects, last
