"""/role and /resend in-process, on SQLite and PostgreSQL: grant, change, revoke, refusals,
the history rows, each member's menu, and support resending an invite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from infra.migrate import seed_plans
from infra.settings import SANDBOX_CHANNEL_ID, load_settings
from infra.telegram import TelegramTransient
from models.domain import roles
from models.schema import AccessHistory, StaffRole
from tests.workers.harness import Pipeline, add_user, make_pipeline
from workers.context import use_context
from workers.staff.tasks import staff_menu

ADMIN, ANN, BOB = 100, 8101, 8102
UNKNOWN = 8199


@pytest.fixture
def ctx(db_url: str, engine: Any, session_factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    """A pipeline on a fresh database, ADMIN an owner through ADMIN_IDS, two known users."""
    with session_factory.begin() as session:
        seed_plans(session, load_settings(_env_file=None))
    add_user(session_factory, ANN)
    add_user(session_factory, BOB)
    pipeline = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine,
                             admin_ids=str(ADMIN))
    with use_context(pipeline):
        yield pipeline


def set_role(ctx: Pipeline, key: str, target: int, role: str, *, actor: int = ADMIN) -> None:
    command = {"actor_id": actor, "text": f"/role {target} {role}", "request_key": key}
    ctx.send(task_names.ADMIN_SET_ROLE, command, target, role)
    ctx.drain()


def replies(ctx: Pipeline, chat_id: int = ADMIN) -> list[str]:
    return [call.text for call in ctx.telegram.calls_of("sendMessage")
            if call.chat_id == chat_id]


def role_rows(ctx: Pipeline) -> list[tuple[str, int, int | None, dict[str, str]]]:
    with ctx.sessions() as session:
        rows = session.scalars(select(AccessHistory).where(
            AccessHistory.action.in_(("role_granted", "role_revoked")))
            .order_by(AccessHistory.id))
        return [(r.action, r.user_id, r.actor_id, json.loads(r.details or "{}")) for r in rows]


def granted(ctx: Pipeline, user_id: int) -> str | None:
    with ctx.sessions() as session:
        row = session.get(StaffRole, user_id)
        return None if row is None else row.role


def names(role: roles.Role) -> list[str]:
    return [name for name, _ in staff_menu(role)]


def test_grant_change_and_revoke_are_each_in_the_history_and_the_menu(ctx: Pipeline) -> None:
    """none -> manager -> support -> none: three history rows naming the actor and both roles;
    the member's menu follows each change and is dropped at the end."""
    set_role(ctx, "m1", ANN, "manager")
    assert (granted(ctx, ANN), ctx.telegram.commands[ANN]) == ("manager",
                                                               names(roles.Role.MANAGER))
    set_role(ctx, "m2", ANN, "support")
    assert (granted(ctx, ANN), ctx.telegram.commands[ANN]) == ("support",
                                                               names(roles.Role.SUPPORT))
    set_role(ctx, "m3", ANN, "none")
    assert granted(ctx, ANN) is None and ANN not in ctx.telegram.commands
    assert role_rows(ctx) == [
        ("role_granted", ANN, ADMIN, {"old": "none", "new": "manager"}),
        ("role_granted", ANN, ADMIN, {"old": "manager", "new": "support"}),
        ("role_revoked", ANN, ADMIN, {"old": "support", "new": "none"}),
    ]
    assert replies(ctx) == [texts.role_set(user_id=ANN, old="none", new="manager"),
                            texts.role_set(user_id=ANN, old="manager", new="support"),
                            texts.role_set(user_id=ANN, old="support", new="none")]


def test_a_redelivered_role_command_applies_once(ctx: Pipeline) -> None:
    """The same message delivered twice grants once, records once and answers once."""
    set_role(ctx, "m1", ANN, "owner")
    set_role(ctx, "m1", ANN, "owner")
    assert len(role_rows(ctx)) == 1 and len(replies(ctx)) == 1


def test_the_same_role_again_changes_nothing(ctx: Pipeline) -> None:
    """Granting the role someone has writes no history row and says so."""
    set_role(ctx, "m1", ANN, "manager")
    set_role(ctx, "m2", ANN, "manager")
    assert len(role_rows(ctx)) == 1
    assert replies(ctx)[-1] == texts.role_unchanged(user_id=ANN, role="manager")


def test_an_admin_ids_owner_cannot_be_demoted(ctx: Pipeline) -> None:
    """/role on an ADMIN_IDS owner (here by an owner granted from the bot) is refused with the
    precise reason; nothing is written, no menu touched."""
    set_role(ctx, "m1", BOB, "owner")
    set_role(ctx, "m2", ADMIN, "none", actor=BOB)
    assert replies(ctx, BOB) == [texts.role_fixed_owner(user_id=ADMIN)]
    assert granted(ctx, ADMIN) is None and len(role_rows(ctx)) == 1
    assert ADMIN not in ctx.telegram.commands


def test_an_owner_granted_from_the_bot_manages_roles_but_not_their_own(ctx: Pipeline) -> None:
    """An owner by /role grants roles like an ADMIN_IDS owner; changing oneself is refused."""
    set_role(ctx, "m1", BOB, "owner")
    set_role(ctx, "m2", ANN, "support", actor=BOB)
    set_role(ctx, "m3", BOB, "none", actor=BOB)
    assert (granted(ctx, ANN), granted(ctx, BOB)) == ("support", "owner")
    assert replies(ctx, BOB) == [texts.role_set(user_id=ANN, old="none", new="support"),
                                 texts.ROLE_SELF]
    assert role_rows(ctx)[-1] == ("role_granted", ANN, BOB, {"old": "none", "new": "support"})


def test_a_manager_cannot_grant_roles(ctx: Pipeline) -> None:
    """/role is the owner's: a manager's task is refused, recorded with both roles, no change."""
    set_role(ctx, "m1", BOB, "manager")
    set_role(ctx, "m2", ANN, "owner", actor=BOB)
    assert granted(ctx, ANN) is None
    with ctx.sessions() as session:
        (refusal,) = session.scalars(select(AccessHistory).where(
            AccessHistory.action == "admin_refused"))
    assert (refusal.actor_id, json.loads(refusal.details or "{}")) == (
        BOB, {"command": "role", "role": "manager", "needs": "owner"})
    assert replies(ctx, BOB) == []


def test_an_unknown_user_gets_no_role(ctx: Pipeline) -> None:
    """A task naming a user the bot never saw (the bot checks first) says so and writes none."""
    set_role(ctx, "m1", UNKNOWN, "support")
    assert replies(ctx) == [texts.unknown_user(user_id=UNKNOWN)]
    assert role_rows(ctx) == [] and UNKNOWN not in ctx.telegram.commands


def test_a_refused_menu_does_not_undo_the_role(ctx: Pipeline) -> None:
    """Telegram refusing the member's menu for good is logged; the role stays, no retry loop."""
    ctx.telegram.answer_next("setMyCommands", "Bad Request: chat not found")
    set_role(ctx, "m1", ANN, "support")
    assert granted(ctx, ANN) == "support" and ANN not in ctx.telegram.commands
    assert len(ctx.telegram.calls_of("setMyCommands")) == 1


def test_a_transient_menu_failure_is_retried(ctx: Pipeline) -> None:
    """A timeout setting the menu is retried until the menu is set."""
    ctx.telegram.fail_next("setMyCommands", TelegramTransient(description="timeout"))
    set_role(ctx, "m1", ANN, "manager")
    assert ctx.telegram.commands[ANN] == names(roles.Role.MANAGER)


def resend(ctx: Pipeline, key: str, user_id: int, *, actor: int) -> None:
    command = {"actor_id": actor, "text": f"/resend {user_id}", "request_key": key}
    ctx.send(task_names.ADMIN_RESEND_INVITE, command, user_id)
    ctx.drain()


def test_support_resends_a_live_invite_and_hears_when_there_is_none(ctx: Pipeline) -> None:
    """Support's /resend: no live access -> told so, nothing sent to the user; live access ->
    a fresh invite reaches the user and the resend is in the history."""
    set_role(ctx, "m1", BOB, "support")
    resend(ctx, "r1", ANN, actor=BOB)
    assert replies(ctx, BOB) == [texts.resend_no_access(user_id=ANN)]
    assert ctx.telegram.calls_of("createChatInviteLink") == []
    ctx.send(task_names.ADMIN_ACTIVATE,
             {"actor_id": ADMIN, "text": "/activate", "request_key": "a1"}, ANN, 30)
    ctx.drain()
    (granted_invite,) = replies(ctx, ANN)
    resend(ctx, "r2", ANN, actor=BOB)
    assert replies(ctx, BOB)[-1] == texts.resend_sent(user_id=ANN)
    (link,) = ctx.telegram.calls_of("createChatInviteLink")
    assert link.chat_id == SANDBOX_CHANNEL_ID
    assert replies(ctx, ANN) == [granted_invite, granted_invite]  # the same link, again
    with ctx.sessions() as session:
        rows = session.scalars(select(AccessHistory).where(
            AccessHistory.action == "invite_resent")).all()
    assert [(row.user_id, row.actor_id) for row in rows] == [(ANN, BOB)]
