"""The segment query (models/broadcasts.py) agrees with the segment rules, on both backends.

Every user below sits on or next to a boundary of `status_at` (now, now - grace, the expiring
cutoff), in each combination of trial, removal, payment, referral and blocking; each segment's
query must return exactly the users `is_member` takes.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra.migrate import seed_plans
from infra.settings import load_settings
from models.broadcasts import audience_query, count_audience
from models.domain import access
from models.domain.segments import (
    Audience,
    BroadcastStatus,
    Person,
    RecipientStatus,
    Segment,
    is_member,
)
from models.schema import (
    BROADCAST_STATUSES,
    RECIPIENT_STATUSES,
    SEGMENTS,
    Access,
    Invoice,
    Plan,
    User,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(hours=6)
CHAT = -1001000000001
OTHER_CHAT = -1009999999999
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
# Paid-through times on each side of every boundary the rules draw.
MOMENTS = [None, NOW - GRACE - SECOND, NOW - GRACE, NOW - GRACE + SECOND, NOW - SECOND, NOW,
           NOW + SECOND, NOW + 3 * DAY, NOW + 3 * DAY + SECOND, NOW + 40 * DAY]
AUDIENCES = [Audience(segment=s) for s in Segment if s is not Segment.EXPIRING] + [
    Audience(segment=Segment.EXPIRING, days=3), Audience(segment=Segment.EXPIRING, days=30)]


def populate(sessions: sessionmaker[Session]) -> dict[int, Person]:
    """Users in every combination; each one's Person as the rules see it."""
    people: dict[int, Person] = {}
    with sessions.begin() as session:
        seed_plans(session, load_settings(_env_file=None))
        plan_id = session.scalars(select(Plan.id)).first()
        session.add(User(id=1, first_name="referrer", created_at=NOW))
        session.flush()
        combos = itertools.product(MOMENTS, (False, True), (False, True), (False, True),
                                   (False, True), (False, True))
        for user_id, (paid_through, trial, removed, paid, referred, blocked) in enumerate(
                combos, start=10):
            session.add(User(id=user_id, first_name=f"u{user_id}", created_at=NOW,
                             referred_by_id=1 if referred else None,
                             blocked_bot_at=NOW - DAY if blocked else None))
            session.flush()
            rule = None
            if paid_through is not None or removed:
                removed_at = NOW - DAY if removed else None
                session.add(Access(user_id=user_id, chat_id=CHAT, paid_through=paid_through,
                                   status="active", is_trial=trial, removed_at=removed_at,
                                   created_at=NOW, updated_at=NOW))
                rule = access.Access(paid_through=paid_through, is_trial=trial,
                                     removed_at=removed_at)
            if paid:
                session.add(Invoice(order_id=f"o{user_id}", user_id=user_id, plan_id=plan_id,
                                    amount_usd=Decimal(10), status="paid", activated_at=NOW))
            # Access to another chat never counts.
            session.add(Access(user_id=user_id, chat_id=OTHER_CHAT, paid_through=NOW + DAY,
                               status="active", is_trial=False, created_at=NOW,
                               updated_at=NOW))
            people[user_id] = Person(access=rule, has_paid=paid, referred=referred,
                                     blocked=blocked)
    people[1] = Person(access=None, has_paid=False, referred=False, blocked=False)
    return people


@pytest.fixture
def people(session_factory: sessionmaker[Session]) -> dict[int, Person]:
    return populate(session_factory)


@pytest.mark.parametrize("audience", AUDIENCES, ids=lambda a: f"{a.segment}-{a.days}")
def test_the_query_takes_exactly_the_members_the_rules_take(
        session_factory: sessionmaker[Session], people: dict[int, Person],
        audience: Audience) -> None:
    """Row by row, the SQL segment and `is_member` agree (and the preview count with them)."""
    expected = sorted(user_id for user_id, who in people.items()
                      if is_member(audience, who, now=NOW, grace=GRACE))
    with session_factory() as session:
        found = list(session.scalars(audience_query(audience, chat_id=CHAT, now=NOW,
                                                    grace=GRACE)))
        counted = count_audience(session, audience, chat_id=CHAT, now=NOW, grace=GRACE)
    assert found == expected
    assert counted == len(expected)
    assert expected  # every segment has someone in this population: the test can fail


def test_the_broadcast_vocabularies_match_the_domain() -> None:
    """The CHECK constraints of broadcasts allow exactly the domain enums' values."""
    assert {s.value for s in Segment} == set(SEGMENTS)
    assert {s.value for s in RecipientStatus} == set(RECIPIENT_STATUSES)
    assert {s.value for s in BroadcastStatus} == set(BROADCAST_STATUSES)
