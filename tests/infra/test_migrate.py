"""`make migrate`: migrations applied, PLANS seeded into an empty table only, data kept."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import make_url, select

from infra.db import create_engine, make_session_factory
from infra.migrate import migrate_and_seed
from infra.settings import SANDBOX_CHANNEL_ID, load_settings
from models.schema import Plan, PlanChat, User
from tests.fixtures.processes import ROOT, child_env
from tests.fixtures.secrets import assert_no_secrets


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


@pytest.mark.parametrize("migrated_template", ["postgresql"], indirect=True)
def test_make_migrate_never_prints_the_database_password(db_url: str) -> None:
    """`make migrate` (run by compose on every start) names the database without its password."""
    # The test server trusts local connections, so any password gets in; it must not get out.
    url = make_url(db_url).set(password="pg-pass-5678").render_as_string(hide_password=False)
    env = child_env(DATABASE_URL=url)
    result = subprocess.run([sys.executable, "-m", "infra.migrate"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert ":***@" in result.stderr
    assert_no_secrets(result.stdout + result.stderr, env)
