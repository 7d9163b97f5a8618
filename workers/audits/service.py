"""The membership audit: check everyone we know of against Telegram, report, and fix.

`/audit` starts a run over every chat the plans grant (`plan_chats`, distinct): in each, every
user the bot knows (so also one who never paid: the member an admin added by hand is the first
kind of drift) and every configured admin, in user-id order. The
run is walked by `audits.check_page` tasks on the bulk queue, one getChatMember at a time in
the bulk lane of the send budget (a payer's invite overtakes an audit). Each person's finding
is committed together with the run's cursor, so a worker killed mid-run loses nothing: Celery
redelivers the page (acks_late), and `/audit` re-queues a run whose heartbeat stopped.

Telegram's answers: 400 "member not found", "user not found", PARTICIPANT_ID_INVALID (and a
403 for a deleted account) say nothing about membership: that person is "not found", i.e. not
a member, and the run goes on (telegram.md §3). A 429 or 5xx ends the page, to go on after
the wait. A refusal about the whole chat (the bot is not a member, was kicked, cannot see the
members) ends that chat with a line in the report. Any other refusal about one person is an
"unchecked" finding for them alone.

When the run is done the admin gets a summary (counts per finding per chat) and a CSV.

`/audit fix` acts on the latest finished run: payers who are out get an invite (after the ban
is lifted for one banned while covered), members without access are removed (ban, then lift
the ban, as every removal here). Each person's access is checked again at the time of the fix,
so a payment since the audit keeps them in. The removals pass the sweep's circuit breaker; if
it trips nobody is removed until `/audit fix confirm`. Each finding is settled once.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session

from infra import texts
from infra.db import insert_ignore
from infra.logging import get_logger
from infra.settings import Settings
from infra.telegram import (
    Lane,
    TelegramBlocked,
    TelegramFailure,
    TelegramPermanent,
    TelegramTransient,
    TelegramUnknownUser,
    member_status,
)
from models import outbox
from models.domain import access as access_rules
from models.domain import audit as rules
from models.history import record_history
from models.outbox import Effects
from models.schema import Access, AuditFinding, AuditRun, PlanChat, TelegramEffect, User
from models.schema.audits import RUNNING_PREDICATE
from workers.access.service import as_rule
from workers.admin.service import (
    ALREADY_OUT,
    REMOVAL_REFUSED,
    Command,
    Kick,
    admin_reply,
    audit,
    authorized,
    ban_and_lift,
    ban_is_ours,
    claim_reply,
    note_removal_started,
    spreadsheet_safe,
)
from workers.context import WorkerContext
from workers.languages import speaking_to, speaking_to_user
from workers.sweeps.service import breaker_reason, member_count
from workers.users.service import grant

log = get_logger("workers.audits")

PAGE_SIZE = 100
PAGE_SECONDS = 2.0
RUNNING, FINISHED = "running", "finished"
# Refusals about the whole chat, not about the person asked about: that chat ends here.
CHAT_REFUSALS = ("bot is not a member", "bot was kicked", "chat not found",
                 "member list is inaccessible", "chat_admin_required", "not enough rights")
CSV_COLUMNS = ("user_id", "username", "chat_id", "actual", "recorded", "paid_through",
               "finding")
FIXABLE = tuple(f.value for f, action in rules.FIX_ACTIONS.items()
                if action is not rules.FixAction.NOTHING)
REMOVALS = tuple(f.value for f, action in rules.FIX_ACTIONS.items()
                 if action is rules.FixAction.REMOVE)


def stall_after(settings: Settings) -> timedelta:
    """How long a running run may go untouched before its chain counts as lost.

    Twice the lease of a claimed effect: a page touches its run after every person, so only a
    dead worker (or a 429 longer than this, whose chain then loses the cursor race and ends)
    leaves it quiet that long.
    """
    return 2 * timedelta(seconds=settings.effect_relay_after_seconds)


@dataclass
class Outcome:
    """What a use case produced: effects to dispatch, and the run whose pages to (re)start."""

    effects: Effects = field(default_factory=list)
    run: int | None = None


def _chats(session: Session, settings: Settings) -> list[int]:
    """The chats the plans grant, each once; the configured channel when no plan names one."""
    chats = sorted(set(session.scalars(select(PlanChat.chat_id).distinct())))
    return chats or [settings.channel]


def _people_count(session: Session, *, admins: frozenset[int]) -> int:
    """Everyone a chat's walk checks: the users the bot knows, and the admins it does not."""
    known = int(session.scalar(select(func.count()).select_from(User)) or 0)
    admins_known = int(session.scalar(select(func.count()).select_from(User)
                                      .where(User.id.in_(sorted(admins)))) or 0)
    return known + len(admins) - admins_known


def _running(session: Session) -> AuditRun | None:
    return session.scalar(select(AuditRun).where(AuditRun.status == RUNNING))


# Start ------------------------------------------------------------------------------------

def start(session: Session, *, command: Command, settings: Settings, now: datetime) -> Outcome:
    """Start a run, or say how far the running one got (and restart it if it stalled); the
    answer is in the admin's language."""
    if not authorized(session, command=command, admins=settings.admins, action="audit",
                      now=now):
        return Outcome()
    with speaking_to(session, command.actor_id):
        return _start(session, command=command, settings=settings, now=now)


def _start(session: Session, *, command: Command, settings: Settings, now: datetime) -> Outcome:
    reply = claim_reply(session, command=command, now=now)
    if reply is None:  # redelivered: the first delivery answered
        return Outcome()
    current = _running(session)
    if current is None:
        chats = _chats(session, settings)
        total = len(chats) * _people_count(session, admins=settings.admins)
        inserted = insert_ignore(session, AuditRun, {
            "requested_by": command.actor_id, "chats": json.dumps(chats), "status": RUNNING,
            "total": total, "started_at": now, "updated_at": now,
        }, conflict=["status"], where=text(RUNNING_PREDICATE))
        current = _running(session)
        assert current is not None  # ours, or one a concurrent /audit started
        if inserted:
            audit(session, command=command, user_id=command.actor_id, action="audit_started",
                  now=now)
            log.info("audit_started", run_id=current.id, total=total, chats=chats)
            started = texts.audit_started(run_id=current.id, total=total, chats=len(chats))
            return Outcome(admin_reply(session, reply, command=command, text=started),
                           run=current.id)
    stalled = current.updated_at <= now - stall_after(settings)
    if stalled:  # its chain died with a worker: go on from the committed cursor
        current.updated_at = now
        log.warning("audit_restarted", run_id=current.id)
    progress = texts.audit_running(run_id=current.id, checked=current.checked,
                                   total=current.total, started_at=current.started_at,
                                   restarted=stalled)
    return Outcome(admin_reply(session, reply, command=command, text=progress),
                   run=current.id if stalled else None)


# Checking ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cursor:
    chat_index: int
    after_user_id: int


@dataclass(frozen=True)
class Answer:
    """What Telegram said about one person, or None in `actual` when the chat refused."""

    actual: rules.Actual | None
    error: str | None = None


@dataclass
class Page:
    """What one page did, and what its chain does next."""

    checked: int = 0
    effects: Effects = field(default_factory=list)
    next_in: float | None = None  # None: the chain ends; else the next page after this wait
    report: int | None = None  # a finished run whose report is still to be sent


def _next_person(session: Session, *, after: int, admins: frozenset[int]) -> int | None:
    """The first person after `after` to check: someone the bot knows, or an admin."""
    known = session.scalar(select(func.min(User.id)).where(User.id > after))
    staff = min((a for a in admins if a > after), default=None)
    found = [u for u in (known, staff) if u is not None]
    return min(found) if found else None


def _ask(ctx: WorkerContext, *, chat_id: int, user_id: int) -> Answer:
    """One getChatMember in the bulk lane; transient failures propagate."""
    try:
        member = ctx.telegram.get_chat_member(chat_id=chat_id, user_id=user_id, lane=Lane.BULK)
    except (TelegramUnknownUser, TelegramBlocked) as unknown:
        return Answer(rules.Actual.NOT_FOUND, unknown.description)
    except TelegramPermanent as refused:
        if any(marker in refused.description.lower() for marker in CHAT_REFUSALS):
            return Answer(None, refused.description)
        return Answer(rules.Actual.ERROR, refused.description)
    return Answer(rules.actual_of(member_status(member)))


def _advance(session: Session, run_id: int, cursor: Cursor, *, to: Cursor, now: datetime,
             checked: int) -> bool:
    """Move the cursor from `cursor` to `to`; False if another chain moved it first."""
    moved = session.execute(
        update(AuditRun)
        .where(AuditRun.id == run_id, AuditRun.status == RUNNING,
               AuditRun.chat_index == cursor.chat_index,
               AuditRun.after_user_id == cursor.after_user_id)
        .values(chat_index=to.chat_index, after_user_id=to.after_user_id, updated_at=now,
                checked=AuditRun.checked + checked))
    return bool(moved.rowcount)  # type: ignore[attr-defined]


def _record(session: Session, run_id: int, *, chat_id: int, user_id: int, answer: Answer,
            staff: bool, grace: timedelta, now: datetime) -> None:
    actual = answer.actual
    assert actual is not None
    row = session.scalar(select(Access).where(Access.user_id == user_id,
                                              Access.chat_id == chat_id))
    record = as_rule(row) if row is not None else None
    finding = rules.classify(actual, record, now=now, grace=grace, staff=staff)
    if finding is None:
        return
    insert_ignore(session, AuditFinding, {
        "run_id": run_id, "user_id": user_id, "chat_id": chat_id, "actual": actual.value,
        "recorded": access_rules.status_at(record, now=now, grace=grace).value,
        "paid_through": row.paid_through if row is not None else None,
        "finding": finding.value, "error": answer.error, "checked_at": now,
    }, conflict=["run_id", "chat_id", "user_id"])


def _add_note(session: Session, run_id: int, line: str) -> None:
    notes = session.scalar(select(AuditRun.notes).where(AuditRun.id == run_id))
    session.execute(update(AuditRun).where(AuditRun.id == run_id)
                    .values(notes="\n".join([*(notes or "").splitlines(), line])))


def check_page(ctx: WorkerContext, run_id: int, *, clock: Callable[[], datetime],
               page_size: int | None = None, page_seconds: float | None = None) -> Page:
    """Check the next people for up to `page_seconds`; say whether the chain goes on."""
    settings, page = ctx.settings, Page()
    deadline = time.monotonic() + (PAGE_SECONDS if page_seconds is None else page_seconds)
    for _ in range(PAGE_SIZE if page_size is None else page_size):
        with ctx.sessions.begin() as session:
            run = session.get(AuditRun, run_id)
            if run is None or run.status != RUNNING:
                page.report = run_id if run is not None and run.reported_at is None else None
                return page
            chats: list[int] = json.loads(run.chats)
            cursor, admin = Cursor(run.chat_index, run.after_user_id), run.requested_by
            if cursor.chat_index >= len(chats):
                page.effects = _finish(session, run, now=clock())
                page.report = run_id
                return page
            chat_id = chats[cursor.chat_index]
            user_id = _next_person(session, after=cursor.after_user_id, admins=settings.admins)
            if user_id is None:  # this chat is done: on to the next
                _advance(session, run_id, cursor, to=Cursor(cursor.chat_index + 1, 0),
                         now=clock(), checked=0)
                continue
        try:
            answer = _ask(ctx, chat_id=chat_id, user_id=user_id)
        except TelegramTransient as failure:
            page.next_in = max(failure.retry_after or 1.0, 0.1)
            return page
        except RedisError:  # the send budget lives in Redis: nothing was asked
            page.next_in = 1.0
            return page
        with ctx.sessions.begin() as session:
            now = clock()
            if answer.actual is None:
                moved = _advance(session, run_id, cursor,
                                 to=Cursor(cursor.chat_index + 1, 0), now=now, checked=0)
                if moved:  # the note is read in the report, by the admin who asked
                    with speaking_to(session, admin):
                        note = texts.audit_chat_stopped(chat_id=chat_id,
                                                        error=answer.error or "")
                    _add_note(session, run_id, note)
                    log.error("audit_chat_refused", run_id=run_id, chat_id=chat_id,
                              error=answer.error)
            else:
                moved = _advance(session, run_id, cursor,
                                 to=Cursor(cursor.chat_index, user_id), now=now, checked=1)
                if moved:
                    _record(session, run_id, chat_id=chat_id, user_id=user_id, answer=answer,
                            staff=user_id in settings.admins, grace=settings.grace, now=now)
        if not moved:
            return page  # another chain has this run: it goes on, this one ends
        page.checked += answer.actual is not None
        if time.monotonic() >= deadline:
            break
    page.next_in = 0.0
    return page


def _finish(session: Session, run: AuditRun, *, now: datetime) -> Effects:
    """Mark the run finished (once) and queue the admin's summary."""
    changed = session.execute(update(AuditRun)
                              .where(AuditRun.id == run.id, AuditRun.status == RUNNING)
                              .values(status=FINISHED, finished_at=now, updated_at=now))
    if not changed.rowcount:  # type: ignore[attr-defined]
        return []
    counts = _counts(session, run.id)
    log.info("audit_finished", run_id=run.id, checked=run.checked,
             findings=sum(counts.values()))
    chats: list[int] = json.loads(run.chats)
    with speaking_to(session, run.requested_by):
        summary = texts.audit_summary(run_id=run.id, checked=run.checked, chats=chats,
                                      counts=counts, notes=(run.notes or "").splitlines())
    return outbox.queue_message(session, key=f"audit_summary:{run.id}",
                                chat_id=run.requested_by, text=summary, now=now)


def _counts(session: Session, run_id: int) -> dict[tuple[int, str], int]:
    """Findings per (chat, kind)."""
    rows = session.execute(select(AuditFinding.chat_id, AuditFinding.finding, func.count())
                           .where(AuditFinding.run_id == run_id)
                           .group_by(AuditFinding.chat_id, AuditFinding.finding))
    return {(chat_id, finding): int(n) for chat_id, finding, n in rows}


def findings_csv(session: Session, run_id: int) -> bytes:
    """The run's findings, one line each, in chat then user order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    rows = session.execute(
        select(AuditFinding, User.username)
        .outerjoin(User, User.id == AuditFinding.user_id)
        .where(AuditFinding.run_id == run_id)
        .order_by(AuditFinding.chat_id, AuditFinding.user_id))
    for found, username in rows:
        writer.writerow([spreadsheet_safe(cell) for cell in (
            found.user_id, username or "", found.chat_id, found.actual, found.recorded,
            found.paid_through.isoformat() if found.paid_through else "", found.finding)])
    return buffer.getvalue().encode("utf-8")


def send_report(ctx: WorkerContext, run_id: int, *, now: datetime) -> None:
    """Send the findings' CSV to the admin who asked, once the run is finished (at least once).

    Transient failures propagate for the task to retry; a refusal (the admin blocked the bot)
    is logged, and the summary, already queued, still says what was found.
    """
    with ctx.sessions() as session:
        run = session.get(AuditRun, run_id)
        if run is None or run.status != FINISHED or run.reported_at is not None:
            return
        data, admin_id = findings_csv(session, run_id), run.requested_by
        with speaking_to(session, admin_id):
            caption = texts.audit_csv_caption(run_id=run_id)
    try:
        ctx.telegram.send_document(chat_id=admin_id, filename=f"audit-{run_id}.csv", data=data,
                                   caption=caption)
    except TelegramTransient:
        raise
    except TelegramFailure as refused:
        log.error("audit_report_refused", run_id=run_id, error=str(refused))
    with ctx.sessions.begin() as session:
        session.execute(update(AuditRun).where(AuditRun.id == run_id)
                        .values(reported_at=now))


# Fixing -----------------------------------------------------------------------------------

@dataclass
class FixResult:
    """What one `/audit fix` did; `interrupted` when a transient failure cut it short."""

    effects: Effects = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    interrupted: TelegramTransient | None = None


def _latest_finished(session: Session) -> AuditRun | None:
    return session.scalar(select(AuditRun).where(AuditRun.status == FINISHED)
                          .order_by(AuditRun.id.desc()).limit(1))


def _open_findings(session: Session, run_id: int, kinds: tuple[str, ...]) -> list[AuditFinding]:
    return list(session.scalars(
        select(AuditFinding)
        .where(AuditFinding.run_id == run_id, AuditFinding.finding.in_(kinds),
               or_(AuditFinding.fix_outcome.is_(None), AuditFinding.fix_outcome == "claimed"))
        .order_by(AuditFinding.chat_id, AuditFinding.user_id)))


def _hold_reason(session: Session, *, settings: Settings, run_id: int) -> str | None:
    """The sweep's breaker on the removals still to make, chat by chat; None lets them go."""
    per_chat = Counter(f.chat_id for f in _open_findings(session, run_id, REMOVALS))
    for chat_id, due in sorted(per_chat.items()):
        reason = breaker_reason(due=due, members=member_count(session, chat_id=chat_id),
                                max_removals=settings.sweep_max_removals,
                                max_share=settings.sweep_max_share,
                                share_min_due=settings.sweep_share_min_due)
        if reason is not None:
            return texts.audit_fix_breaker_reason(chat_id=chat_id, due=due, reason=reason)
    return None


def fix(ctx: WorkerContext, *, command: Command, confirm: bool,
        clock: Callable[[], datetime]) -> FixResult:
    """Act on the latest finished run's open findings (see the module docstring); the answer
    is in the admin's language."""
    with speaking_to_user(ctx.sessions, command.actor_id):
        return _fix(ctx, command=command, confirm=confirm, clock=clock)


def _fix(ctx: WorkerContext, *, command: Command, confirm: bool,
         clock: Callable[[], datetime]) -> FixResult:
    settings, result = ctx.settings, FixResult()
    key = f"audit_fix:{command.request_key}"
    with ctx.sessions.begin() as session:
        now = clock()
        if not authorized(session, command=command, admins=settings.admins, action="audit",
                          now=now):
            return result
        if outbox_key_taken(session, key):  # redelivered after it was done
            return result
        run = _latest_finished(session)
        running = _running(session)
        if running is not None or run is None:
            # A fix never acts on an older run while a newer one is finding things out.
            refusal = texts.AUDIT_FIX_RUNNING if running is not None else texts.AUDIT_FIX_NO_RUN
            result.effects = outbox.queue_message(session, key=key, chat_id=command.actor_id,
                                                  text=refusal, now=now)
            return result
        run_id, through = run.id, run.started_at
        held = None if confirm else _hold_reason(session, settings=settings, run_id=run_id)
        kinds = tuple(k for k in FIXABLE if not (held and k in REMOVALS))
        todo = [(f.id, f.user_id, f.chat_id, rules.Finding(f.finding))
                for f in _open_findings(session, run_id, kinds)]
        audit(session, command=command, user_id=command.actor_id, action="audit_fix", now=now)
    for finding_id, user_id, chat_id, finding in todo:
        try:
            outcome, note = _fix_one(ctx, command=command, finding_id=finding_id,
                                     user_id=user_id, chat_id=chat_id, finding=finding,
                                     through=through, clock=clock, result=result)
        except (TelegramTransient, RedisError) as error:
            result.interrupted = error if isinstance(error, TelegramTransient) else (
                TelegramTransient(description=f"send budget unavailable: {error!r}"))
            log.warning("audit_fix_interrupted", run_id=run_id, user_id=user_id)
            return result
        result.outcomes[outcome] += 1
        if outcome == "refused":
            result.refused.append(texts.audit_fix_refusal(user_id=user_id, chat_id=chat_id,
                                                          error=note or ""))
    with ctx.sessions.begin() as session:
        now = clock()
        totals = Counter({outcome: int(n) for outcome, n in session.execute(
            select(AuditFinding.fix_outcome, func.count())
            .where(AuditFinding.run_id == run_id, AuditFinding.fix_outcome.is_not(None))
            .group_by(AuditFinding.fix_outcome))})
        text_ = texts.audit_fixed(run_id=run_id, now_done=result.outcomes, totals=totals,
                                  held=held, refused=result.refused)
        result.effects += outbox.queue_message(session, key=key, chat_id=command.actor_id,
                                               text=text_, now=now)
    log.info("audit_fix_done", run_id=run_id, held=held is not None, **result.outcomes)
    return result


def outbox_key_taken(session: Session, key: str) -> bool:
    return session.scalar(select(TelegramEffect.id).where(TelegramEffect.key == key)) is not None


def _settle(ctx: WorkerContext, finding_id: int, outcome: str, note: str | None,
            now: datetime) -> None:
    with ctx.sessions.begin() as session:
        session.execute(update(AuditFinding).where(AuditFinding.id == finding_id)
                        .values(fix_outcome=outcome, fix_note=note, fixed_at=now))


def _fix_one(ctx: WorkerContext, *, command: Command, finding_id: int, user_id: int,
             chat_id: int, finding: rules.Finding, through: datetime,
             clock: Callable[[], datetime], result: FixResult) -> tuple[str, str | None]:
    """Settle one finding; returns (outcome, note). Transient failures propagate."""
    action, grace = rules.fix_action(finding), ctx.settings.grace
    with ctx.sessions.begin() as session:
        now = clock()
        claimed = session.execute(
            update(AuditFinding)
            .where(AuditFinding.id == finding_id,
                   or_(AuditFinding.fix_outcome.is_(None), AuditFinding.fix_outcome == "claimed"))
            .values(fix_outcome="claimed", fixed_at=now))
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return "skipped", "settled by another fix"
        row = _access(session, user_id=user_id, chat_id=chat_id)
        if not rules.still_wanted(action, as_rule(row) if row else None, now=now, grace=grace):
            note = "paid since the audit" if action is rules.FixAction.REMOVE else (
                "access ended since the audit")
            _settle_in(session, finding_id, "skipped", note, now)
            return "skipped", note
    standing = ctx.telegram.standing(chat_id=chat_id, user_id=user_id)
    if action is rules.FixAction.REMOVE:
        return _remove(ctx, command=command, finding_id=finding_id, user_id=user_id,
                       chat_id=chat_id, standing=standing, through=through, clock=clock,
                       result=result)
    return _invite(ctx, command=command, finding_id=finding_id, user_id=user_id,
                   chat_id=chat_id, standing=standing, clock=clock, result=result)


def _access(session: Session, *, user_id: int, chat_id: int) -> Access | None:
    return session.scalar(select(Access).where(Access.user_id == user_id,
                                               Access.chat_id == chat_id).with_for_update())


def _settle_in(session: Session, finding_id: int, outcome: str, note: str | None,
               now: datetime) -> None:
    session.execute(update(AuditFinding).where(AuditFinding.id == finding_id)
                    .values(fix_outcome=outcome, fix_note=note, fixed_at=now))


def _remove(ctx: WorkerContext, *, command: Command, finding_id: int, user_id: int,
            chat_id: int, standing: str, through: datetime, clock: Callable[[], datetime],
            result: FixResult) -> tuple[str, str | None]:
    """The removal path every removal here takes: ban, then lift the ban (they may come back
    after paying), noted before the ban so a crash's ban is told apart from an admin's."""
    if standing in ("creator", "administrator"):
        _settle(ctx, finding_id, "skipped", "an administrator now", clock())
        return "skipped", "an administrator now"
    kick = Kick(user_id=user_id, chat_id=chat_id, through=through)
    with ctx.sessions.begin() as session:
        ours = standing == "kicked" and ban_is_ours(session, kick=kick)
        if standing in ("left", "unknown") or (standing == "kicked" and not ours):
            _settle_in(session, finding_id, "skipped", f"already out ({standing})", clock())
            return "skipped", f"already out ({standing})"
        note_removal_started(session, command=command, kick=kick, now=clock())
    try:
        ban_and_lift(ctx, chat_id=chat_id, user_id=user_id, ban=not ours)
    except TelegramTransient:
        raise
    except TelegramFailure as refused:
        with ctx.sessions.begin() as session:
            now = clock()
            record_history(session, user_id=user_id, chat_id=chat_id, action=REMOVAL_REFUSED,
                           source="admin", now=now, actor_id=command.actor_id,
                           command=command.text, before=through,
                           details={"error": refused.description, "method": refused.method,
                                    "audit_finding": finding_id})
            _settle_in(session, finding_id, "refused", refused.description, now)
        return "refused", refused.description
    with ctx.sessions.begin() as session:
        now = clock()
        row = _access(session, user_id=user_id, chat_id=chat_id)
        record = as_rule(row) if row else None
        record_history(session, user_id=user_id, chat_id=chat_id, action="audit_removed",
                       source="admin", now=now, actor_id=command.actor_id,
                       command=command.text, before=row.paid_through if row else None,
                       after=row.paid_through if row else None,
                       details={"audit_finding": finding_id, "standing": standing})
        if row is not None and access_rules.is_covered(record, now=now, grace=ctx.settings.grace):
            # A payment landed while we removed them: let them back in as after any payment.
            result.effects += grant(session, key=f"grant:audit:{finding_id}", user_id=user_id,
                                    chat_id=chat_id, access_id=row.id, now=now)
        _settle_in(session, finding_id, "removed", None, now)
    return "removed", None


def _invite(ctx: WorkerContext, *, command: Command, finding_id: int, user_id: int,
            chat_id: int, standing: str, clock: Callable[[], datetime],
            result: FixResult) -> tuple[str, str | None]:
    """Lift a ban if there is one, then send the invite as after a payment."""
    if standing in ("member", "creator", "administrator"):
        _settle(ctx, finding_id, "skipped", "already in the chat", clock())
        return "skipped", "already in the chat"
    if standing == "kicked":
        try:
            with suppress(*ALREADY_OUT):
                ctx.telegram.unban(chat_id=chat_id, user_id=user_id, only_if_banned=True)
        except TelegramTransient:
            raise
        except TelegramFailure as refused:
            _settle(ctx, finding_id, "refused", refused.description, clock())
            return "refused", refused.description
    with ctx.sessions.begin() as session:
        now = clock()
        row = _access(session, user_id=user_id, chat_id=chat_id)
        assert row is not None  # running access was re-checked before
        record_history(session, user_id=user_id, chat_id=chat_id, action="audit_reinvited",
                       source="admin", now=now, actor_id=command.actor_id,
                       command=command.text, after=row.paid_through,
                       details={"audit_finding": finding_id, "standing": standing})
        result.effects += grant(session, key=f"grant:audit:{finding_id}", user_id=user_id,
                                chat_id=chat_id, access_id=row.id, now=now)
        _settle_in(session, finding_id, "invited", None, now)
    return "invited", None
