"""A staff member's command menu set through the real gateway on the Telegram stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.sandbox.telegram import people
from models.domain import roles
from models.schema import StaffRole
from tests.workers.harness import Pipeline, add_user, make_pipeline, over_http
from workers.staff.tasks import staff_menu

if TYPE_CHECKING:
    from infra.sandbox.telegram import TelegramSandbox

ADMIN = 100  # the stand-in's channel owner
ANN, STRANGER = 8301, 8302  # ANN has written to the bot; STRANGER never met it


@pytest.fixture
def live(db_url: str, engine: Any, session_factory: sessionmaker[Session],
         telegram_sandbox: TelegramSandbox, redis_url: str) -> Iterator[Pipeline]:
    """Workers whose Telegram is the stand-in over HTTP; ANN and STRANGER known to the bot."""
    people.create_user(telegram_sandbox.world, first_name="Ann", user_id=ANN)
    people.send_text(telegram_sandbox.world, user_id=ANN, text="/start")
    add_user(session_factory, ANN)
    add_user(session_factory, STRANGER)
    ctx = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine,
                        admin_ids=str(ADMIN))
    with over_http(ctx, api_base=telegram_sandbox.base_url, redis_url=redis_url) as pipeline:
        yield pipeline


def set_role(ctx: Pipeline, key: str, user_id: int, role: str) -> None:
    ctx.send(task_names.ADMIN_SET_ROLE, {"actor_id": ADMIN, "text": f"/role {user_id} {role}",
                                         "request_key": key}, user_id, role)
    ctx.drain()


def menu(sandbox: TelegramSandbox, chat_id: int) -> list[str] | None:
    scope = json.dumps({"type": "chat", "chat_id": chat_id}, sort_keys=True)
    stored = sandbox.world.default_bot.commands.get((scope, ""))
    return None if stored is None else [str(entry["command"]) for entry in stored]


def test_the_menu_follows_the_role_on_the_stand_in(live: Pipeline,
                                                   telegram_sandbox: TelegramSandbox) -> None:
    """Granted support: the stand-in stores the support menu for that chat; revoked: gone."""
    set_role(live, "m1", ANN, "support")
    assert menu(telegram_sandbox, ANN) == [name for name, _ in staff_menu(roles.Role.SUPPORT)]
    set_role(live, "m2", ANN, "none")
    assert menu(telegram_sandbox, ANN) is None


def test_a_member_telegram_does_not_know_keeps_the_role(
        live: Pipeline, telegram_sandbox: TelegramSandbox) -> None:
    """"chat not found" for the menu (as Telegram answers) is final: one call, the role stays."""
    set_role(live, "m1", STRANGER, "manager")
    calls = [c for c in telegram_sandbox.world.calls if c.method == "setMyCommands"]
    assert [c.status for c in calls] == [400]
    with live.sessions() as session:
        assert session.get_one(StaffRole, STRANGER).role == "manager"
