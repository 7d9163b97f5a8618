"""`make migrate` applies PLANS and CHANNEL_ID to the database; processes refuse a stale one."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import make_url, select

from infra.db import create_engine, make_session_factory
from infra.migrate import catalog_differences, catalog_or_exit, main, migrate_and_seed
from infra.settings import SANDBOX_CHANNEL_ID, load_settings
from models.outbox import GRANT_ACCESS
from models.schema import Access, AccessHistory, Plan, PlanChat, TelegramEffect, User
from tests.fixtures.processes import ROOT, child_env
from tests.fixtures.secrets import assert_no_secrets

NEW_CHANNEL = -1009999999999
NOW = datetime.now(UTC)


def sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}"


def plans_and_chats(url: str) -> tuple[list[tuple[str, int, Decimal, str, bool]], set[int]]:
    engine = create_engine(url)
    try:
        with make_session_factory(engine)() as session:
            plans = session.execute(select(Plan.code, Plan.days, Plan.price_usd, Plan.title,
                                           Plan.active).order_by(Plan.code)).all()
            chats = set(session.scalars(select(PlanChat.chat_id)))
    finally:
        engine.dispose()
    return [tuple(row) for row in plans], chats  # type: ignore[misc]


def test_a_first_migrate_seeds_the_plans_with_the_channel(tmp_path: Path) -> None:
    """An empty database gets PLANS, each granting CHANNEL_ID; a second run changes nothing."""
    settings = load_settings(_env_file=None, database_url=sqlite(tmp_path),
                             plans="month:30:10.00:1 month,year:365:99:1 year")
    assert len(migrate_and_seed(settings)) == 2
    assert migrate_and_seed(settings) == []
    plans, chats = plans_and_chats(settings.database_url)
    assert [plan[:3] for plan in plans] == [("month", 30, Decimal(10)), ("year", 365, Decimal(99))]
    assert chats == {SANDBOX_CHANNEL_ID}
    assert catalog_differences(settings) == []


def test_changed_plans_and_channel_are_applied_and_said(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """New price, a new plan, a dropped plan, a new channel: all applied, each line printed."""
    url = sqlite(tmp_path)
    migrate_and_seed(load_settings(_env_file=None, database_url=url,
                                   plans="month:30:10.00:1 month,year:365:99:1 year"))
    monkeypatch.setenv("ENV_FILE", "")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CHANNEL_ID", str(NEW_CHANNEL))
    monkeypatch.setenv("PLANS", "month:30:12.00:1 month,week:7:3.00")

    assert main() == 0

    printed = capsys.readouterr().err
    assert "plan 'month': price_usd Decimal('10.00') -> Decimal('12.00')" in printed
    assert "plan 'week': new (7 days, $3.00, '7 days')" in printed
    assert "plan 'year': off sale (not in PLANS)" in printed
    assert f"plan 'month': grants chat {NEW_CHANNEL} (was {SANDBOX_CHANNEL_ID})" in printed
    plans, chats = plans_and_chats(url)
    assert plans == [("month", 30, Decimal("12.00"), "1 month", True),
                     ("week", 7, Decimal("3.00"), "7 days", True),
                     ("year", 365, Decimal("99.00"), "1 year", False)]
    assert chats == {NEW_CHANNEL}


def test_subscribers_with_time_left_on_the_old_channel_move_with_it(tmp_path: Path) -> None:
    """Paid time on the old chat becomes the same time on the new one, with history and invite."""
    url = sqlite(tmp_path)
    migrate_and_seed(load_settings(_env_file=None, database_url=url))
    engine = create_engine(url)
    sessions = make_session_factory(engine)
    paid, lapsed = NOW + timedelta(days=12), NOW - timedelta(days=2)
    with sessions.begin() as session:
        for user_id, paid_through, status in ((7, paid, "active"), (8, lapsed, "expired")):
            session.add(User(id=user_id, first_name=f"u{user_id}", created_at=NOW))
            session.flush()
            session.add(Access(user_id=user_id, chat_id=SANDBOX_CHANNEL_ID,
                               paid_through=paid_through, status=status, created_at=NOW))

    lines = migrate_and_seed(load_settings(_env_file=None, database_url=url,
                                           channel_id=NEW_CHANNEL))

    assert lines[-1].startswith(f"chat {SANDBOX_CHANNEL_ID} is no longer configured: "
                                "1 subscriber with time left there")
    with sessions() as session:
        moved = session.scalars(select(Access).where(Access.chat_id == NEW_CHANNEL)).all()
        history = session.scalars(select(AccessHistory).where(
            AccessHistory.action == "channel_moved")).all()
        grants = session.scalars(select(TelegramEffect).where(
            TelegramEffect.method == GRANT_ACCESS)).all()
    engine.dispose()
    assert [(a.user_id, a.paid_through, a.status) for a in moved] == [(7, paid, "active")]
    assert [(h.user_id, h.chat_id) for h in history] == [(7, NEW_CHANNEL)]
    assert [(g.chat_id, g.status) for g in grants] == [(7, "pending")]
    # Applied once: a second migrate moves nobody again.
    assert migrate_and_seed(load_settings(_env_file=None, database_url=url,
                                          channel_id=NEW_CHANNEL)) == []


def test_a_process_refuses_settings_the_database_does_not_hold(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One line names the difference and the command; nothing is changed."""
    url = sqlite(tmp_path)
    migrate_and_seed(load_settings(_env_file=None, database_url=url))
    catalog_or_exit(load_settings(_env_file=None, database_url=url))  # in line: no exit

    with pytest.raises(SystemExit) as stopped:
        catalog_or_exit(load_settings(_env_file=None, database_url=url, plans="month:30:11"))
    assert stopped.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line == ("configuration error: PLANS/CHANNEL_ID/PLAN_CHATS differ from the database "
                    "(plan 'month': price_usd Decimal('10.00') -> Decimal('11.00'); "
                    "plan 'month': title '1 month' -> '30 days'): run `make migrate` to apply them")
    assert catalog_differences(load_settings(_env_file=None, database_url=url)) == []


@pytest.mark.slow
def test_a_worker_started_with_a_new_channel_before_migrating_refuses_to_start(
        tmp_path: Path) -> None:
    """The real `celery worker` exits 2 with the one line, instead of granting the old chat."""
    url = sqlite(tmp_path)
    migrate_and_seed(load_settings(_env_file=None, database_url=url))
    env = child_env(DATABASE_URL=url, REDIS_URL="redis://127.0.0.1:1/0",
                    CHANNEL_ID=str(NEW_CHANNEL))
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool", "solo"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert (f"plan 'month': grants chat {NEW_CHANNEL} (was {SANDBOX_CHANNEL_ID}))"
            f": run `make migrate`") in result.stderr


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
