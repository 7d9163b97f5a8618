"""Tests for workers.access.service: one access row per user and chat, extended, and recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models.schema import Access, AccessHistory, Plan, User
from workers.access.service import AccessChange, extend_access

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)
CHANNEL, OTHER_CHANNEL = -1001000000001, -1001000000002
USER = 5001


def _user_and_plan(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        session.add(User(id=USER, first_name="Ann", created_at=T0))
        plan = Plan(code="month", title="1 month", days=30, price_usd=Decimal("10.00"))
        session.add(plan)
        session.flush()
        return plan.id


def _extend(session: Session, *, chat_id: int = CHANNEL, plan_id: int | None,
            invoice_id: int | None = None) -> AccessChange:
    return extend_access(session, user_id=USER, chat_id=chat_id, days=30, now=T0,
                         plan_id=plan_id, action="payment_activated", source="payment",
                         invoice_id=invoice_id, actor_id=7, command="/activate",
                         details={"why": "test"})


def test_an_extension_is_recorded_with_everything_it_changed(
    session_factory: sessionmaker[Session],
) -> None:
    """A renewal stacks on the time left; its history entry and the change it returns say who,
    where, which invoice, from when to when and why; the row keeps the plan paid for."""
    plan_id = _user_and_plan(session_factory)
    with session_factory.begin() as session:
        _extend(session, plan_id=plan_id, invoice_id=76)
    with session_factory.begin() as session:
        change = _extend(session, plan_id=None, invoice_id=77)
    with session_factory() as session:
        row = session.scalars(select(Access)).one()
        entry = session.scalars(select(AccessHistory).where(AccessHistory.invoice_id == 77)).one()
    assert change == AccessChange(access_id=row.id, user_id=USER, chat_id=CHANNEL,
                                  before=T0 + 30 * DAY, after=T0 + 60 * DAY)
    assert (row.paid_through, row.plan_id) == (T0 + 60 * DAY, plan_id)
    assert (entry.user_id, entry.chat_id, entry.action, entry.source) == (
        USER, CHANNEL, "payment_activated", "payment")
    assert (entry.actor_id, entry.command) == (7, "/activate")
    assert (entry.paid_through_before, entry.paid_through_after) == (T0 + 30 * DAY, T0 + 60 * DAY)
    assert json.loads(entry.details or "{}") == {"why": "test"}


def test_each_channel_has_its_own_access(session_factory: sessionmaker[Session]) -> None:
    """Paying for a second channel leaves the first channel's time as it was."""
    plan_id = _user_and_plan(session_factory)
    with session_factory.begin() as session:
        _extend(session, plan_id=plan_id)
    with session_factory.begin() as session:
        _extend(session, chat_id=OTHER_CHANNEL, plan_id=plan_id)
        _extend(session, chat_id=OTHER_CHANNEL, plan_id=plan_id)
    with session_factory() as session:
        left = dict(session.execute(select(Access.chat_id, Access.paid_through)).all())
    assert left == {CHANNEL: T0 + 30 * DAY, OTHER_CHANNEL: T0 + 60 * DAY}
