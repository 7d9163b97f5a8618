"""Admin commands through the dispatcher: as an admin, as anyone else, with bad arguments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from models.history import record_history
from models.schema import PayoutRequest, Referrer
from tests.bot_frontend.conftest import ADMIN, add_user
from tests.bot_frontend.harness import BotHarness

# Argument checks do not depend on the backend: SQLite only keeps the suite quick (the
# subscriber and referral handler tests read through PostgreSQL too).
pytestmark = [pytest.mark.anyio,
              pytest.mark.parametrize("migrated_template", ["sqlite"], indirect=True)]
ANN = 701
UNKNOWN = 999_999


@pytest.fixture
def known(harness: BotHarness, session_factory: sessionmaker[Session]) -> BotHarness:
    """The harness, with ANN known to the bot."""
    add_user(session_factory, ANN)
    return harness


def command(text: str) -> dict[str, Any]:
    """The `command` argument the bot passes, for the first message a test sends."""
    return {"actor_id": ADMIN, "text": text, "request_key": f"{ADMIN}:1"}


@pytest.mark.parametrize(("text", "task"), [
    (f"/activate {ANN} 30", (task_names.ADMIN_ACTIVATE, [ANN, 30])),
    (f"/edit {ANN} remove", (task_names.ADMIN_EDIT, [ANN, "remove", None])),
    (f"/edit {ANN} setdays 0", (task_names.ADMIN_EDIT, [ANN, "setdays", 0])),
    (f"/edit {ANN} setdays 12", (task_names.ADMIN_EDIT, [ANN, "setdays", 12])),
    (f"/edit {ANN} marktrial", (task_names.ADMIN_EDIT, [ANN, "marktrial", None])),
    (f"/edit {ANN} resettrial", (task_names.ADMIN_EDIT, [ANN, "resettrial", None])),
    ("/export", (task_names.ADMIN_EXPORT_USERS, [])),
    (f"/refree_add {ANN} 12.5", (task_names.ADMIN_ADD_REFERRER, [ANN, "12.5"])),
    (f"/refree_remove {ANN}", (task_names.ADMIN_REMOVE_REFERRER, [ANN])),
    ("/export_refree", (task_names.ADMIN_EXPORT_REFERRERS, [])),
])
async def test_admin_command_sends_its_task(known: BotHarness, text: str,
                                            task: tuple[str, list[Any]]) -> None:
    """A well-formed admin command about a known user sends one task and says it is queued."""
    await known.send(ADMIN, text)
    name, args = task
    assert known.tasks == [(name, [command(text), *args])]
    assert known.last_reply() == texts.ADMIN_QUEUED


@pytest.mark.parametrize(("text", "usage"), [
    ("/activate", texts.USAGE_ACTIVATE),
    (f"/activate {ANN}", texts.USAGE_ACTIVATE),
    (f"/activate {ANN} 0", texts.USAGE_ACTIVATE),
    (f"/activate {ANN} -3", texts.USAGE_ACTIVATE),
    (f"/activate {ANN} 3 extra", texts.USAGE_ACTIVATE),
    ("/activate ann 3", texts.USAGE_ACTIVATE),
    ("/edit", texts.USAGE_EDIT),
    (f"/edit {ANN}", texts.USAGE_EDIT),
    (f"/edit {ANN} setdays", texts.USAGE_EDIT),
    (f"/edit {ANN} setdays x", texts.USAGE_EDIT),
    (f"/edit {ANN} remove now", texts.USAGE_EDIT),
    (f"/edit {ANN} destroy", texts.USAGE_EDIT),
    ("/refree_add", texts.USAGE_REFREE_ADD),
    (f"/refree_add {ANN}", texts.USAGE_REFREE_ADD),
    (f"/refree_add {ANN} 0", texts.USAGE_REFREE_ADD),
    (f"/refree_add {ANN} 100.01", texts.USAGE_REFREE_ADD),
    (f"/refree_add {ANN} 10.555", texts.USAGE_REFREE_ADD),
    ("/refree_remove", texts.USAGE_REFREE_REMOVE),
    ("/refree_remove x", texts.USAGE_REFREE_REMOVE),
    ("/history", texts.USAGE_HISTORY),
    (f"/history {ANN} {ANN}", texts.USAGE_HISTORY),
    ("/export all", texts.usage_without_arguments(command="export")),
    ("/export_refree x", texts.usage_without_arguments(command="export_refree")),
    ("/payouts 1", texts.usage_without_arguments(command="payouts")),
    ("/sweep_confirm now", texts.usage_without_arguments(command="sweep_confirm")),
])
async def test_bad_arguments_show_usage(known: BotHarness, text: str, usage: str) -> None:
    """Wrong arguments get the usage line and change nothing."""
    await known.send(ADMIN, text)
    assert known.last_reply() == usage
    assert known.tasks == []


@pytest.mark.parametrize("text", [f"/activate {UNKNOWN} 3", f"/edit {UNKNOWN} remove",
                                  f"/refree_add {UNKNOWN} 10", f"/refree_remove {UNKNOWN}",
                                  f"/history {UNKNOWN}"])
async def test_unknown_user_is_reported(known: BotHarness, text: str) -> None:
    """An id the bot has never seen is reported before any task is sent."""
    await known.send(ADMIN, text)
    assert known.last_reply() == texts.unknown_user(user_id=UNKNOWN)
    assert known.tasks == []


async def test_history_newest_first(known: BotHarness,
                                    session_factory: sessionmaker[Session]) -> None:
    """/history reads the audit trail straight from the database, newest first."""
    now = datetime.now(UTC)
    with session_factory.begin() as session:
        record_history(session, user_id=ANN, action="trial_started", source="trial",
                       now=now - timedelta(days=2))
        record_history(session, user_id=ANN, action="admin_removed", source="admin",
                       now=now, actor_id=ADMIN)
    await known.send(ADMIN, f"/history {ANN}")
    first, second = known.last_reply().splitlines()
    assert "admin_removed (admin by 100)" in first
    assert "trial_started (trial)" in second
    assert known.tasks == []


async def test_history_names_what_each_change_was_made_by(
        known: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """/history shows a row's command (a gift's promo code, an admin's command), cut short so
    30 rows fit in one Telegram message."""
    now = datetime.now(UTC)
    with session_factory.begin() as session:
        record_history(session, user_id=ANN, action="promo_gift", source="user",
                       now=now - timedelta(days=1), command="promo SPRING")
        record_history(session, user_id=ANN, action="admin_setdays", source="admin",
                       now=now, actor_id=ADMIN, command=f"/edit {ANN} setdays 30 " + "x" * 80)
    await known.send(ADMIN, f"/history {ANN}")
    first, second = known.last_reply().splitlines()
    assert second.endswith("promo_gift (user)  [promo SPRING]")
    shown = first[first.index("[") + 1:first.rindex("]")]
    assert shown.startswith(f"/edit {ANN} setdays 30 ")
    assert len(shown) == texts.HISTORY_COMMAND_CHARS and shown.endswith("…")


async def test_history_of_a_known_user_without_rows(known: BotHarness) -> None:
    """A known user with no history gets an explicit "no history"."""
    await known.send(ADMIN, f"/history {ANN}")
    assert known.last_reply() == texts.NO_HISTORY


async def test_payouts_lists_open_requests_with_buttons(
        known: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """/payouts lists open requests, each with approve and reject buttons."""
    now = datetime.now(UTC)
    with session_factory.begin() as session:
        session.add(Referrer(user_id=ANN, pct=Decimal(10), created_at=now, updated_at=now))
        session.flush()
        request = PayoutRequest(referrer_id=ANN, amount=Decimal("7.00"), network="ERC20",
                                wallet="0x" + "ef" * 20, status="open", created_at=now)
        session.add(request)
        session.flush()
        request_id = request.id
    await known.send(ADMIN, "/payouts")
    assert f"#{request_id}: $7.00 to user {ANN}" in known.last_reply()
    assert known.buttons() == [f"payout_decide:{request_id}:1", f"payout_decide:{request_id}:0"]


async def test_payouts_when_none_open(known: BotHarness) -> None:
    """With nothing open /payouts says so."""
    await known.send(ADMIN, "/payouts")
    assert known.last_reply() == texts.NO_OPEN_PAYOUTS


async def test_payout_decision_sends_the_task(known: BotHarness) -> None:
    """An admin's approve button sends referrals.decide_payout with who pressed it."""
    await known.press(ADMIN, "payout_decide:5:1")
    await known.press(ADMIN, "payout_decide:6:0")
    assert known.tasks == [
        (task_names.DECIDE_PAYOUT, [5, True, ADMIN, "payout_decide:5:1"]),
        (task_names.DECIDE_PAYOUT, [6, False, ADMIN, "payout_decide:6:0"]),
    ]


async def test_sweep_confirm(known: BotHarness) -> None:
    """/sweep_confirm sends sweeps.confirm_hold with the admin's id and audits it."""
    await known.send(ADMIN, "/sweep_confirm")
    assert known.tasks == [
        (task_names.CONFIRM_SWEEP_HOLD, [ADMIN]),
        (task_names.ADMIN_AUDIT, [command("/sweep_confirm"), ADMIN, "sweep_confirm"]),
    ]
    assert known.last_reply() == texts.SWEEP_CONFIRM_SENT
