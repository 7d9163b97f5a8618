"""Staff roles: who may run which admin command or press which admin button.

Three roles: an owner may do everything and manages the roles; a manager runs the business
(access, broadcasts, promo codes, figures); support reads (history, a user's plan) and
resends an invite. `ALLOWED` is the one table both doors consult: the bot before it queues a
task, the worker again before it changes anything (anything that can publish to the broker
can queue a task). A name missing from the table is the owner's alone: a new command is
closed until someone opens it here, one line.

The ids in ADMIN_IDS are owners whatever the table of granted roles says.
"""

from collections.abc import Collection, Mapping
from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    MANAGER = "manager"
    SUPPORT = "support"


# What `/role <user_id> none` asks for: no role at all.
NONE = "none"

OWNERS = frozenset({Role.OWNER})
MANAGERS = frozenset({Role.OWNER, Role.MANAGER})
STAFF = frozenset(Role)

# Admin commands by name (without the slash) and admin buttons by their callback prefix.
ALLOWED: Mapping[str, frozenset[Role]] = {
    # Support: read, and resend an invite.
    "history": STAFF,
    "user": STAFF,
    "resend": STAFF,
    # Managers: the business.
    "activate": MANAGERS,
    "edit": MANAGERS,
    "broadcast": MANAGERS,
    "broadcast_status": MANAGERS,
    "bcast_stop": MANAGERS,
    "bcast_resume": MANAGERS,
    "promo_add": MANAGERS,
    "promos": MANAGERS,
    "promo_off": MANAGERS,
    "promo_on": MANAGERS,
    "promo_delete": MANAGERS,
    "stats": MANAGERS,
    # /audit and /audit fix: a fix acts only through the sweep's breaker.
    "audit": MANAGERS,
    # Owners: roles, money owed to referrers, personal data, the sweep's brake.
    "role": OWNERS,
    "roles": OWNERS,
    "refree_add": OWNERS,
    "refree_remove": OWNERS,
    "export_refree": OWNERS,
    "payouts": OWNERS,
    "payout_decide": OWNERS,
    "export": OWNERS,
    "sweep_confirm": OWNERS,
    "refund": OWNERS,  # Telegram Stars: money back
}

# The admin commands in the order a staff member's menu lists them (buttons are not commands).
COMMANDS = ("activate", "edit", "export", "refree_add", "refree_remove", "export_refree",
            "history", "payouts", "sweep_confirm", "stats",
            "promo_add", "promos", "promo_off", "promo_on", "promo_delete",
            "broadcast", "broadcast_status", "audit", "refund", "user", "resend", "role",
            "roles")

# The order roles are named in, most powerful first.
RANK = (Role.OWNER, Role.MANAGER, Role.SUPPORT)


def allowed_roles(action: str) -> frozenset[Role]:
    """The roles that may run `action`; the owner's alone for a name the table lacks."""
    return ALLOWED.get(action, OWNERS)


def allows(role: Role | None, action: str) -> bool:
    """Whether someone with `role` (None: no role) may run `action`."""
    return role is not None and role in allowed_roles(action)


def least_role(action: str) -> Role:
    """The least powerful role that may run `action`: what a refusal says is needed."""
    allowed = allowed_roles(action)
    return next(role for role in reversed(RANK) if role in allowed)


def refusal_details(role: Role | None, action: str) -> dict[str, str]:
    """What a refusal's history row names: the command or button, the role, the role needed."""
    return {"command": action, "role": role.value if role else NONE,
            "needs": least_role(action).value}


def effective_role(granted: Role | None, *, user_id: int, owners: Collection[int]) -> Role | None:
    """The role a person acts with: owner if in ADMIN_IDS, else the granted one (if any)."""
    return Role.OWNER if user_id in owners else granted


def commands_of(role: Role) -> list[str]:
    """The admin commands `role` may run, in menu order: the member's command menu."""
    return [name for name in COMMANDS if allows(role, name)]


class BadRoleArguments(ValueError):
    """`/role` arguments that do not fit its usage line."""


def parse_role(word: str) -> Role | None:
    """`owner`, `manager`, `support` (any case), or `none` (None): the role `/role` grants."""
    lowered = word.lower()
    if lowered == NONE:
        return None
    try:
        return Role(lowered)
    except ValueError:
        raise BadRoleArguments(word) from None


class RoleRefusal(StrEnum):
    """Why a role change is refused."""

    FIXED_OWNER = "fixed_owner"  # the target is in ADMIN_IDS: an owner whatever is granted
    SELF = "self"  # an owner may not change their own role (nobody locks themselves out)


def check_change(*, actor_id: int, target_id: int, owners: Collection[int]) -> RoleRefusal | None:
    """Whether an owner may change the target's role; the refusal if not."""
    if target_id in owners:
        return RoleRefusal.FIXED_OWNER
    if target_id == actor_id:
        return RoleRefusal.SELF
    return None
