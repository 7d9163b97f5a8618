"""`make migrate` and bundles: changed chats change a plan's subscribers' access, once confirmed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra.migrate import NotConfirmed, catalog_differences, main, migrate_and_seed
from infra.settings import SANDBOX_CHANNEL_ID, Settings, load_settings
from models.outbox import GRANT_ACCESS
from models.schema import Access, AccessHistory, Plan, PlanChat, TelegramEffect, User

MAIN = SANDBOX_CHANNEL_ID
NEWS, LOUNGE, CLUB = -1002000000001, -1002000000002, -1002000000003
PLANS = "month:30:10.00:1 month,vip:30:25.00:VIP,pro:30:40.00:Pro"
NOW = datetime.now(UTC)
VIP_FAN, MONTH_FAN, BOTH, LAPSED, PRO_FAN = 11, 12, 13, 14, 15


def plan_chats(vip: str) -> str:
    return f"vip={vip};pro={MAIN},{CLUB}"


def settings_for(db_url: str, vip: str) -> Settings:
    return load_settings(_env_file=None, database_url=db_url, plans=PLANS,
                         plan_chats=plan_chats(vip))


def yes(lines: list[str]) -> bool:
    return True


def no(lines: list[str]) -> bool:
    return False


def subscribe(sessions: sessionmaker[Session], user_id: int, code: str, chats: tuple[int, ...],
              *, days: int = 10) -> None:
    with sessions.begin() as session:
        if session.get(User, user_id) is None:
            session.add(User(id=user_id, first_name=f"u{user_id}", created_at=NOW))
            session.flush()
        plan_id = session.scalars(select(Plan.id).where(Plan.code == code)).one()
        for chat in chats:
            session.add(Access(user_id=user_id, chat_id=chat, plan_id=plan_id,
                               paid_through=NOW + timedelta(days=days),
                               status="active" if days > 0 else "expired", created_at=NOW))


def access(sessions: sessionmaker[Session]) -> dict[tuple[int, int], tuple[datetime | None, str]]:
    with sessions() as session:
        return {(row.user_id, row.chat_id): (row.paid_through, row.status)
                for row in session.scalars(select(Access))}


def grants(sessions: sessionmaker[Session]) -> list[tuple[int | None, int]]:
    with sessions() as session:
        return sorted((effect.chat_id, json.loads(effect.request or "{}")["chat_id"])
                      for effect in session.scalars(select(TelegramEffect).where(
                          TelegramEffect.method == GRANT_ACCESS)))


def ended(moment: datetime | None) -> bool:
    return moment is not None and moment <= datetime.now(UTC)


@pytest.fixture
def bundled(db_url: str, session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """vip grants MAIN and NEWS, month MAIN; four subscribers, one of them lapsed."""
    migrate_and_seed(settings_for(db_url, f"{MAIN},{NEWS}"))
    subscribe(session_factory, VIP_FAN, "vip", (MAIN, NEWS))
    subscribe(session_factory, MONTH_FAN, "month", (MAIN,))
    subscribe(session_factory, BOTH, "vip", (NEWS,), days=20)
    subscribe(session_factory, BOTH, "month", (MAIN,), days=5)
    subscribe(session_factory, LAPSED, "vip", (MAIN, NEWS), days=-1)
    return session_factory


def test_a_bundle_is_seeded_with_each_of_its_chats(db_url: str,
                                                   session_factory: sessionmaker[Session]) -> None:
    """PLAN_CHATS gives vip both chats and month CHANNEL_ID alone; a second run changes nothing."""
    settings = settings_for(db_url, f"{MAIN},{NEWS}")
    migrate_and_seed(settings)
    with session_factory() as session:
        chats = session.execute(select(Plan.code, PlanChat.chat_id)
                                .join(PlanChat, PlanChat.plan_id == Plan.id)).all()
    assert sorted(tuple(row) for row in chats) == [
        ("month", MAIN), ("pro", CLUB), ("pro", MAIN), ("vip", NEWS), ("vip", MAIN)]
    assert migrate_and_seed(settings) == []
    assert catalog_differences(settings) == []


def test_without_confirmation_nothing_changes_and_processes_keep_refusing(
        db_url: str, bundled: sessionmaker[Session]) -> None:
    """Unconfirmed: the lines say who would gain and lose; plans, chats and access stay."""
    before = access(bundled)
    settings = settings_for(db_url, f"{MAIN},{LOUNGE}")
    with pytest.raises(NotConfirmed) as refused:
        migrate_and_seed(settings, confirm=no)
    assert refused.value.lines == [
        f"plan 'vip': 2 subscribers get an invite to chat {LOUNGE}; "
        f"2 subscribers are removed from chat {NEWS}"]
    assert access(bundled) == before
    assert grants(bundled) == []
    assert catalog_differences(settings) == [
        f"plan 'vip': grants chats {LOUNGE}, {MAIN} (was {NEWS}, {MAIN})"]


def test_confirmed_the_bundle_invites_to_added_chats_and_cuts_dropped_ones(
        db_url: str, bundled: sessionmaker[Session]) -> None:
    """Added chat: same paid-through and an invite; dropped chat: time cut to now, in history."""
    settings = settings_for(db_url, f"{MAIN},{LOUNGE}")
    shown: list[list[str]] = []

    def confirm(pending: list[str]) -> bool:
        shown.append(pending)
        return True

    lines = migrate_and_seed(settings, confirm=confirm)

    assert lines[-1] == shown[0][0]
    rows = access(bundled)
    # Each vip subscriber gets LOUNGE with the latest time they hold through vip.
    assert rows[(VIP_FAN, LOUNGE)] == (NOW + timedelta(days=10), "active")
    assert rows[(BOTH, LOUNGE)] == (NOW + timedelta(days=20), "active")
    assert (MONTH_FAN, LOUNGE) not in rows
    assert (LAPSED, LOUNGE) not in rows
    # NEWS: their time there ends now, so the expiry sweep removes them.
    assert ended(rows[(VIP_FAN, NEWS)][0])
    assert ended(rows[(BOTH, NEWS)][0])
    assert rows[(MONTH_FAN, MAIN)][0] == NOW + timedelta(days=10)
    assert rows[(BOTH, MAIN)][0] == NOW + timedelta(days=5)
    assert grants(bundled) == [(VIP_FAN, LOUNGE), (BOTH, LOUNGE)]
    with bundled() as session:
        history = sorted((h.user_id, h.chat_id, h.action) for h in session.scalars(
            select(AccessHistory).where(AccessHistory.action.like("bundle_%"))))
    assert history == sorted([(VIP_FAN, NEWS, "bundle_chat_dropped"),
                              (VIP_FAN, LOUNGE, "bundle_chat_added"),
                              (BOTH, NEWS, "bundle_chat_dropped"),
                              (BOTH, LOUNGE, "bundle_chat_added")])
    assert catalog_differences(settings) == []
    # Applied once: a rerun plans nothing, asks nothing and writes nothing.
    assert migrate_and_seed(settings, confirm=no) == []
    assert grants(bundled) == [(VIP_FAN, LOUNGE), (BOTH, LOUNGE)]


def test_a_dropped_chat_another_running_plan_grants_is_kept(
        db_url: str, bundled: sessionmaker[Session]) -> None:
    """vip drops MAIN: PRO_FAN keeps it (pro, running, grants it), VIP_FAN loses it."""
    subscribe(bundled, PRO_FAN, "pro", (CLUB,))
    subscribe(bundled, PRO_FAN, "vip", (MAIN,))  # bought vip last: MAIN's row says vip

    lines = migrate_and_seed(settings_for(db_url, f"{NEWS}"), confirm=yes)

    assert lines[-1] == (f"plan 'vip': 1 subscriber is removed from chat {MAIN} "
                         "(1 kept: another plan grants it)")
    rows = access(bundled)
    assert ended(rows[(VIP_FAN, MAIN)][0])
    assert rows[(PRO_FAN, MAIN)][0] == NOW + timedelta(days=10)
    assert rows[(BOTH, MAIN)][0] == NOW + timedelta(days=5)  # bought through month
    assert rows[(MONTH_FAN, MAIN)][0] == NOW + timedelta(days=10)


def test_make_migrate_refuses_without_confirm_and_applies_with_it(
        db_url: str, bundled: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Not on a terminal, no --yes: exit 3, nothing applied; `--yes` (CONFIRM=yes) applies."""
    monkeypatch.setenv("ENV_FILE", "")
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("PLANS", PLANS)
    monkeypatch.setenv("PLAN_CHATS", plan_chats(f"{MAIN},{NEWS},{LOUNGE}"))
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)

    assert main([]) == 3
    printed = capsys.readouterr().err
    assert f"plan 'vip': 2 subscribers get an invite to chat {LOUNGE}" in printed
    assert "make migrate CONFIRM=yes" in printed
    assert grants(bundled) == []

    assert main(["--yes"]) == 0
    assert grants(bundled) == [(VIP_FAN, LOUNGE), (BOTH, LOUNGE)]
    assert main([]) == 0  # in line now: nothing to confirm


@pytest.mark.parametrize(("answer", "code", "granted"), [("no", 3, 0), ("yes", 0, 2)])
def test_on_a_terminal_make_migrate_asks_and_only_yes_applies(
        db_url: str, bundled: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
        answer: str, code: int, granted: int) -> None:
    """Interactive: the question follows the lines; anything but "yes" leaves all as it was."""
    monkeypatch.setenv("ENV_FILE", "")
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("PLANS", PLANS)
    monkeypatch.setenv("PLAN_CHATS", plan_chats(f"{MAIN},{NEWS},{LOUNGE}"))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda: answer)

    assert main([]) == code
    assert len(grants(bundled)) == granted
