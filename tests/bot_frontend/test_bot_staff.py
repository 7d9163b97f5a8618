"""Staff commands through the dispatcher: /role, /roles, /user, /resend, their arguments,
and the refusal naming the role a command needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from infra.settings import SANDBOX_CHANNEL_ID
from models.domain import roles
from models.schema import Access, Invoice, Plan, StaffRole
from tests.bot_frontend.conftest import ADMIN, add_user
from tests.bot_frontend.harness import BotHarness

# On SQLite and PostgreSQL: /roles and /user are reads the bot answers itself.
pytestmark = pytest.mark.anyio
ANN, BOB, UNKNOWN = 721, 722, 999_998
NOW = datetime.now(UTC)


@pytest.fixture
def staff(harness: BotHarness, session_factory: sessionmaker[Session]) -> BotHarness:
    """ANN known to the bot with no role; BOB a manager granted by ADMIN."""
    add_user(session_factory, ANN)
    add_user(session_factory, BOB)
    with session_factory.begin() as session:
        session.add(StaffRole(user_id=BOB, role="manager", granted_by=ADMIN, granted_at=NOW))
    return harness


def command(text: str, actor: int = ADMIN) -> dict[str, Any]:
    return {"actor_id": actor, "text": text, "request_key": f"{actor}:1"}


@pytest.mark.parametrize(("text", "args"), [
    (f"/role {ANN} support", [ANN, "support"]),
    (f"/role {ANN} Manager", [ANN, "manager"]),
    (f"/role {BOB} owner", [BOB, "owner"]),
    (f"/role {BOB} none", [BOB, "none"]),
])
async def test_role_sends_its_task(staff: BotHarness, text: str, args: list[Any]) -> None:
    """A well-formed /role about a known user queues the change with the role's own word."""
    await staff.send(ADMIN, text)
    assert staff.tasks == [(task_names.ADMIN_SET_ROLE, [command(text), *args])]
    assert staff.last_reply() == texts.ADMIN_QUEUED


@pytest.mark.parametrize(("text", "reply"), [
    ("/role", texts.USAGE_ROLE),
    (f"/role {ANN}", texts.USAGE_ROLE),
    (f"/role {ANN} support now", texts.USAGE_ROLE),
    ("/role ann support", texts.USAGE_ROLE),
    (f"/role {ANN} admin", texts.role_not_a_role(word="admin")),
    (f"/role {ADMIN} none", texts.role_fixed_owner(user_id=ADMIN)),
    (f"/role {UNKNOWN} support", texts.unknown_user(user_id=UNKNOWN)),
])
async def test_role_refuses_with_a_precise_message(staff: BotHarness, text: str,
                                                   reply: str) -> None:
    """Bad arguments, an ADMIN_IDS owner, an unknown user: the reason, and no task."""
    await staff.send(ADMIN, text)
    assert staff.replies() == [reply]
    assert staff.tasks == []


async def test_an_owner_by_role_cannot_change_their_own(
        staff: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """An owner granted from the bot is told to ask another owner to change their role."""
    with session_factory.begin() as session:
        session.get_one(StaffRole, BOB).role = "owner"
    await staff.send(BOB, f"/role {BOB} none")
    assert staff.replies() == [texts.ROLE_SELF]
    assert staff.tasks == []


async def test_roles_lists_admin_ids_then_granted_roles(staff: BotHarness) -> None:
    """/roles: the ADMIN_IDS owners, then each granted role with who granted it and when."""
    await staff.send(ADMIN, "/roles")
    assert staff.last_reply().splitlines() == [
        texts.role_line(user_id=ADMIN, name="", role="owner", granted_by=None, granted_at=None),
        texts.role_line(user_id=BOB, name=f"user{BOB}", role="manager", granted_by=ADMIN,
                        granted_at=NOW)]


async def test_a_manager_is_told_which_role_roles_needs(staff: BotHarness) -> None:
    """A staff member without the role hears the role needed and their own; it is audited."""
    await staff.send(BOB, "/roles")
    assert staff.replies() == [texts.role_refused(command="/roles", needed="owner",
                                                  role="manager")]
    assert staff.tasks == [(task_names.ADMIN_AUDIT, [
        command("/roles", BOB), BOB, "admin_refused",
        {"command": "roles", "role": "manager", "needs": "owner"}])]


async def test_user_shows_status_paid_through_and_payments(
        staff: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """/user: who, their standing in the channel until when, and their last payment."""
    until = NOW + timedelta(days=20)
    with session_factory.begin() as session:
        plan = session.scalars(select(Plan).where(Plan.code == "month")).one()
        session.add(Access(user_id=ANN, chat_id=SANDBOX_CHANNEL_ID, plan_id=plan.id,
                           paid_through=until, status="active", created_at=NOW,
                           updated_at=NOW))
        plan_title = plan.title or plan.code
        session.add(Invoice(order_id="o-1", user_id=ANN, plan_id=plan.id,
                            amount_usd=Decimal("10.00"), status="paid", activated_at=NOW,
                            created_at=NOW))
    await staff.send(BOB, f"/user {ANN}")
    assert staff.last_reply().splitlines() == [
        texts.user_header(user_id=ANN, name=f"user{ANN}", username=None),
        texts.user_status_line(chat_id=SANDBOX_CHANNEL_ID, status="active",
                               paid_through=until, trial_used=False),
        texts.user_payment_line(paid_at=NOW, amount="10.00", plan=plan_title)]
    assert staff.tasks == []


@pytest.mark.parametrize(("text", "reply"), [
    ("/user", texts.USAGE_USER), ("/user x", texts.USAGE_USER),
    (f"/user {UNKNOWN}", texts.unknown_user(user_id=UNKNOWN)),
    ("/resend", texts.USAGE_RESEND), (f"/resend {ANN} {ANN}", texts.USAGE_RESEND),
    (f"/resend {UNKNOWN}", texts.unknown_user(user_id=UNKNOWN)),
])
async def test_user_and_resend_refuse_with_a_precise_message(staff: BotHarness, text: str,
                                                             reply: str) -> None:
    """Bad arguments or an unknown user: the reason, and no task."""
    await staff.send(ADMIN, text)
    assert staff.replies() == [reply]
    assert staff.tasks == []


async def test_support_resends_an_invite(staff: BotHarness,
                                         session_factory: sessionmaker[Session]) -> None:
    """Support's /resend queues the resend with the staff member as its actor."""
    with session_factory.begin() as session:
        session.get_one(StaffRole, BOB).role = roles.Role.SUPPORT.value
    await staff.send(BOB, f"/resend {ANN}")
    assert staff.tasks == [(task_names.ADMIN_RESEND_INVITE, [command(f"/resend {ANN}", BOB),
                                                             ANN])]
    assert staff.last_reply() == texts.ADMIN_QUEUED
