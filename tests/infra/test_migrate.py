"""`make migrate`: migrations applied, PLANS seeded into an empty table only, data kept."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from infra.db import create_engine, make_session_factory
from infra.migrate import migrate_and_seed
from infra.settings import SANDBOX_CHANNEL_ID, load_settings
from models.schema import Plan, PlanChat, User


def test_plans_are_seeded_once_and_never_overwritten(tmp_path: Path) -> None:
    """A first migrate seeds PLANS with the channel; later runs keep the plans and the data."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    first = load_settings(_env_file=None, database_url=url,
                          plans="month:30:10.00:1 month,year:365:99:1 year")
    assert migrate_and_seed(first) == 2
    engine = create_engine(url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        session.add(User(id=7, first_name="Ann", created_at=datetime.now(UTC)))

    changed = load_settings(_env_file=None, database_url=url, plans="week:7:3.00")
    assert migrate_and_seed(changed) == 0
    with sessions() as session:
        plans = session.execute(select(Plan.code, Plan.days, Plan.price_usd)).all()
        chats = session.scalars(select(PlanChat.chat_id)).all()
        users = session.scalars(select(User.id)).all()
    engine.dispose()
    assert sorted(plans) == [("month", 30, 10), ("year", 365, 99)]
    assert chats == [SANDBOX_CHANNEL_ID, SANDBOX_CHANNEL_ID]
    assert users == [7]
