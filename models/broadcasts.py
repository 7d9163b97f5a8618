"""Broadcast queries shared by the bot (preview count, /broadcast_status) and the workers.

`audience_query` is the SQL form of `models.domain.segments.is_member`: the access statuses of
`models.domain.access.status_at` written as predicates on the access row, with every time
bound computed here from `now` and `grace` (so SQLite's text timestamps compare as they
should). tests/models/test_broadcast_segments_sql.py holds the two versions to agreement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, literal, or_, select
from sqlalchemy.orm import Session

from models.domain import segments as rules
from models.domain.access import AccessStatus
from models.schema import Access, Broadcast, BroadcastRecipient, Invoice, User

STATUS_LIMIT = 5  # broadcasts /broadcast_status shows, newest first


def status_predicate(status: AccessStatus, *, now: datetime,
                     grace: timedelta) -> ColumnElement[bool]:
    """`status_at(access, now, grace) == status` on the (outer-joined) access row."""
    paid, removed, trial = Access.paid_through, Access.removed_at, Access.is_trial
    running = and_(removed.is_(None), paid > now)
    if status is AccessStatus.NONE:
        return or_(Access.id.is_(None), paid.is_(None))
    if status is AccessStatus.REMOVED:
        return and_(paid.is_not(None), removed.is_not(None))
    if status is AccessStatus.TRIALING:
        return and_(running, trial.is_(True))
    if status is AccessStatus.ACTIVE:
        return and_(running, trial.is_(False))
    if status is AccessStatus.GRACE:
        return and_(removed.is_(None), paid <= now, paid > now - grace)
    return and_(removed.is_(None), paid <= now - grace)


def _segment_predicate(audience: rules.Audience, *, now: datetime,
                       grace: timedelta) -> ColumnElement[bool]:
    segment = audience.segment
    if segment is rules.Segment.ALL:
        return literal(True)
    if segment is rules.Segment.NEVER_PAID:
        return ~exists().where(Invoice.user_id == User.id, Invoice.activated_at.is_not(None))
    if segment is rules.Segment.REFERRED:
        return User.referred_by_id.is_not(None)
    statuses = rules.SEGMENT_STATUSES[segment]
    predicate = or_(false(), *(status_predicate(status, now=now, grace=grace)
                               for status in sorted(statuses)))
    if segment is rules.Segment.EXPIRING:
        assert audience.days is not None  # Audience guarantees it
        predicate = and_(predicate, Access.paid_through
                         <= rules.expiring_cutoff(audience.days, now=now))
    return predicate


def audience_query(audience: rules.Audience, *, chat_id: int, now: datetime,
                   grace: timedelta) -> Select[int]:
    """The ids of the users in `audience` at `now`, in the channel `chat_id`, ascending."""
    return (select(User.id)
            .outerjoin(Access, and_(Access.user_id == User.id, Access.chat_id == chat_id))
            .where(User.blocked_bot_at.is_(None),
                   _segment_predicate(audience, now=now, grace=grace))
            .order_by(User.id))


def count_audience(session: Session, audience: rules.Audience, *, chat_id: int,
                   now: datetime, grace: timedelta) -> int:
    """How many users `audience` reaches now (the preview's recipient count)."""
    query = audience_query(audience, chat_id=chat_id, now=now, grace=grace).order_by(None)
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def progress(session: Session, broadcast_id: int) -> rules.Progress:
    """The broadcast's recipients counted by status (one grouped read of its index)."""
    counts: dict[str, int] = {state: n for state, n in session.execute(
        select(BroadcastRecipient.status, func.count())
        .where(BroadcastRecipient.broadcast_id == broadcast_id)
        .group_by(BroadcastRecipient.status))}
    status = rules.RecipientStatus
    return rules.Progress(total=sum(counts.values()), sent=counts.get(status.SENT, 0),
                          failed=counts.get(status.FAILED, 0),
                          blocked=counts.get(status.BLOCKED, 0),
                          unconfirmed=counts.get(status.UNCONFIRMED, 0))


@dataclass(frozen=True)
class BroadcastView:
    """What /broadcast_status shows of one broadcast."""

    id: int
    status: rules.BroadcastStatus
    segment: rules.Segment
    days: int | None
    created_at: datetime
    progress: rules.Progress

    @property
    def resumable(self) -> bool:
        return rules.can_resume(self.status, self.progress)


def recent(session: Session, *, limit: int = STATUS_LIMIT) -> list[BroadcastView]:
    """The newest broadcasts with their progress."""
    rows = session.execute(select(Broadcast.id, Broadcast.status, Broadcast.segment,
                                  Broadcast.days, Broadcast.created_at)
                           .order_by(Broadcast.id.desc()).limit(limit)).all()
    return [BroadcastView(row.id, rules.BroadcastStatus(row.status), rules.Segment(row.segment),
                          row.days, row.created_at, progress(session, row.id)) for row in rows]


def dump_buttons(buttons: list[rules.UrlButton]) -> str | None:
    return json.dumps([[b.title, b.url] for b in buttons]) if buttons else None


def load_buttons(raw: str | None) -> list[rules.UrlButton]:
    return [rules.UrlButton(title, url) for title, url in json.loads(raw or "[]")]
