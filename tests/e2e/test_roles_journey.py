"""Staff roles through the whole sandbox: the bot process, a Celery worker, Redis and the
Telegram stand-in. The owner makes a person support by typing /role; that person gets the
support menu, reads a user, is refused /activate with the role it needs, and loses it all
when the owner revokes the role.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from infra import texts
from infra.settings import SANDBOX_ADMIN_ID
from models.domain import roles
from models.schema import User
from tests.e2e.test_promo_journey import Sandbox, sandbox
from tests.fixtures.waiting import eventually

__all__ = ["sandbox"]  # the whole-sandbox fixture, shared with the promo journey

pytestmark = [pytest.mark.slow, pytest.mark.redis,
              pytest.mark.parametrize("migrated_template", ["sqlite"], indirect=True)]


def menu(telegram_sandbox: Any, chat_id: int) -> list[str] | None:
    scope = json.dumps({"type": "chat", "chat_id": chat_id}, sort_keys=True)
    stored = telegram_sandbox.world.default_bot.commands.get((scope, ""))
    return None if stored is None else [str(entry["command"]) for entry in stored]


def registered(sessions: sessionmaker[Session], user_id: int) -> bool:
    with sessions() as session:
        return session.get(User, user_id) is not None


def test_the_owner_grants_and_revokes_support_from_the_bot(
        sandbox: Sandbox, telegram_sandbox: Any, session_factory: sessionmaker[Session]) -> None:
    """/role ann support -> Ann's menu is support's, /user works, /activate is refused naming
    the manager role; /role ann none -> the menu is gone and /user is refused."""
    ann, bob = sandbox.new_user("Ann"), sandbox.new_user("Bob")
    # The plan menu comes before the worker has registered them; /role wants them known.
    eventually(lambda: registered(session_factory, ann) and registered(session_factory, bob),
               timeout=60, what="Ann and Bob registered")
    sandbox.say(SANDBOX_ADMIN_ID, f"/role {ann} support")
    sandbox.heard(SANDBOX_ADMIN_ID, texts.role_set(user_id=ann, old="none", new="support"))
    support_menu = [*texts.COMMAND_DESCRIPTIONS, *roles.commands_of(roles.Role.SUPPORT)]
    eventually(lambda: menu(telegram_sandbox, ann) == support_menu, timeout=60,
               what="Ann's support menu")

    sandbox.say(ann, f"/user {bob}")
    sandbox.heard(ann, texts.user_header(user_id=bob, name="Bob", username=None))
    sandbox.say(ann, f"/resend {bob}")
    sandbox.heard(ann, texts.resend_no_access(user_id=bob))
    sandbox.say(ann, f"/activate {bob} 30")
    sandbox.heard(ann, texts.role_refused(command="/activate", needed="manager",
                                          role="support"))

    sandbox.say(SANDBOX_ADMIN_ID, "/roles")
    sandbox.heard(SANDBOX_ADMIN_ID, f"{ann} Ann: support, granted by {SANDBOX_ADMIN_ID}")
    sandbox.say(SANDBOX_ADMIN_ID, f"/role {ann} none")
    sandbox.heard(SANDBOX_ADMIN_ID, texts.role_set(user_id=ann, old="support", new="none"))
    eventually(lambda: menu(telegram_sandbox, ann) is None, timeout=60,
               what="Ann's menu dropped")
    sandbox.say(ann, f"/history {bob}")
    sandbox.heard(ann, texts.ADMIN_REFUSED)
