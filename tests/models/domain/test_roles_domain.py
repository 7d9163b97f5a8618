"""Staff role rules: the table, the least role a refusal names, /role's words and refusals."""

from __future__ import annotations

import pytest

from models.domain import roles
from models.domain.roles import Role, RoleRefusal

OWNER_ONLY = ("role", "roles", "refree_add", "refree_remove", "export_refree", "payouts",
              "payout_decide", "export", "sweep_confirm")
MANAGER_TOO = ("activate", "edit", "broadcast", "broadcast_status", "bcast_stop",
               "bcast_resume", "promo_add", "promos", "promo_off", "promo_on", "promo_delete",
               "stats")
SUPPORT_TOO = ("history", "user", "resend")


@pytest.mark.parametrize("action", OWNER_ONLY + MANAGER_TOO + SUPPORT_TOO)
def test_the_table_is_the_issues(action: str) -> None:
    """Owner: everything; manager: the business and support's reads; support: reads only."""
    allowed = {role for role in Role if roles.allows(role, action)}
    expected = ({Role.OWNER} if action in OWNER_ONLY else {Role.OWNER, Role.MANAGER}
                if action in MANAGER_TOO else set(Role))
    assert allowed == expected
    assert not roles.allows(None, action)


def test_every_menu_command_is_in_the_table() -> None:
    """No admin command falls to the owner-only default by being forgotten in the table."""
    assert set(roles.COMMANDS) <= set(roles.ALLOWED)


def test_a_name_missing_from_the_table_is_the_owners_alone() -> None:
    """A new command nobody opened yet is closed to managers and support (fail closed)."""
    assert [roles.allows(role, "refund") for role in Role] == [True, False, False]
    assert roles.least_role("refund") is Role.OWNER


@pytest.mark.parametrize(("action", "least"), [("history", Role.SUPPORT),
                                               ("activate", Role.MANAGER),
                                               ("payouts", Role.OWNER)])
def test_a_refusal_names_the_least_role_needed(action: str, least: Role) -> None:
    """The refusal says the least powerful role that would do, and its history row too."""
    assert roles.least_role(action) is least
    assert roles.refusal_details(Role.SUPPORT, action) == {
        "command": action, "role": "support", "needs": least.value}
    assert roles.refusal_details(None, action)["role"] == "none"


def test_menus_follow_the_table_in_menu_order() -> None:
    """Each role's menu is the commands it may run; the owner's is all of them."""
    assert roles.commands_of(Role.OWNER) == list(roles.COMMANDS)
    assert roles.commands_of(Role.SUPPORT) == ["history", "user", "resend"]
    manager = roles.commands_of(Role.MANAGER)
    assert "activate" in manager and "role" not in manager and "export" not in manager


@pytest.mark.parametrize(("word", "role"), [("owner", Role.OWNER), ("Manager", Role.MANAGER),
                                            ("SUPPORT", Role.SUPPORT), ("none", None)])
def test_role_words_parse(word: str, role: Role | None) -> None:
    """The four words /role takes, in any case; none is no role."""
    assert roles.parse_role(word) is role


@pytest.mark.parametrize("word", ["admin", "", "owners", "0"])
def test_other_words_are_refused(word: str) -> None:
    """Anything else is not a role (the bot names the word)."""
    with pytest.raises(roles.BadRoleArguments):
        roles.parse_role(word)


def test_admin_ids_are_owners_and_cannot_be_changed_from_the_bot() -> None:
    """ADMIN_IDS act as owners whatever is granted, and /role on them is refused."""
    assert roles.effective_role(Role.SUPPORT, user_id=1, owners={1}) is Role.OWNER
    assert roles.effective_role(None, user_id=2, owners={1}) is None
    assert roles.check_change(actor_id=2, target_id=1, owners={1}) is RoleRefusal.FIXED_OWNER
    assert roles.check_change(actor_id=2, target_id=2, owners={1}) is RoleRefusal.SELF
    assert roles.check_change(actor_id=1, target_id=3, owners={1}) is None
