"""Staff use cases: an owner grants or revokes a role; support resends a user's invite.

Like every admin command (workers/admin/service.py) each is applied once, its reply claimed
first and keyed by the staff member's message, and each change is in the access history:
`role_granted` / `role_revoked` on the member, naming the actor and the old and new role.
The role check itself is run_admin_command's (the table in models/domain/roles.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from infra import texts
from infra.db import insert_ignore
from models.domain import access as rules
from models.domain import roles
from models.history import record_history
from models.schema import Access, StaffRole, User
from models.staff import granted_role
from workers.access.service import as_rule
from workers.admin.service import Command, Done, admin_reply, claim_reply
from workers.users.service import grant

GRANTED, REVOKED = "role_granted", "role_revoked"


@dataclass
class RoleDone(Done):
    """What /role produced; `changed` when a role was granted, changed or revoked (the
    member's menu is then refreshed)."""

    changed: bool = False


def _name(role: roles.Role | None) -> str:
    return role.value if role else roles.NONE


def set_role(session: Session, *, command: Command, user_id: int, role: roles.Role | None,
             owners: frozenset[int], now: datetime) -> RoleDone:
    """Give `user_id` the role (None revokes it); ADMIN_IDS and oneself are never changed."""
    reply = claim_reply(session, command=command, now=now)
    if reply is None:
        return RoleDone()
    changed = False
    refusal = roles.check_change(actor_id=command.actor_id, target_id=user_id, owners=owners)
    if refusal is roles.RoleRefusal.FIXED_OWNER:
        text = texts.role_fixed_owner(user_id=user_id)
    elif refusal is roles.RoleRefusal.SELF:
        text = texts.ROLE_SELF
    elif session.get(User, user_id) is None:  # the bot checked; a stale or forged task
        text = texts.unknown_user(user_id=user_id)
    else:
        changed, text = _change(session, command=command, user_id=user_id, role=role, now=now)
    return RoleDone(admin_reply(session, reply, command=command, text=text), changed=changed)


def _change(session: Session, *, command: Command, user_id: int, role: roles.Role | None,
            now: datetime) -> tuple[bool, str]:
    old = granted_role(session, user_id)
    if old == role:
        return False, texts.role_unchanged(user_id=user_id, role=_name(role))
    if role is None:
        session.execute(delete(StaffRole).where(StaffRole.user_id == user_id))
    else:
        values = {"user_id": user_id, "role": role.value, "granted_by": command.actor_id,
                  "granted_at": now}
        if not insert_ignore(session, StaffRole, values, conflict=["user_id"]):
            row = session.get_one(StaffRole, user_id, with_for_update=True)
            row.role, row.granted_by, row.granted_at = role.value, command.actor_id, now
    record_history(session, user_id=user_id, action=REVOKED if role is None else GRANTED,
                   source="admin", now=now, actor_id=command.actor_id, command=command.text,
                   details={"old": _name(old), "new": _name(role)})
    return True, texts.role_set(user_id=user_id, old=_name(old), new=_name(role))


def resend(session: Session, *, command: Command, user_id: int, chat_id: int,
           grace: timedelta, now: datetime) -> Done:
    """Send the user their invite again (as their own button does) while access covers now;
    the staff member learns which it was."""
    reply = claim_reply(session, command=command, now=now)
    if reply is None:
        return Done()
    row = session.scalar(select(Access).where(Access.user_id == user_id,
                                              Access.chat_id == chat_id))
    if row is None or not rules.is_covered(as_rule(row), now=now, grace=grace):
        return Done(admin_reply(session, reply, command=command,
                                text=texts.resend_no_access(user_id=user_id)))
    effects = grant(session, key=f"grant:admin_resend:{command.request_key}", user_id=user_id,
                    chat_id=chat_id, access_id=row.id, now=now)
    record_history(session, user_id=user_id, chat_id=chat_id, action="invite_resent",
                   source="admin", now=now, actor_id=command.actor_id, command=command.text)
    return Done(effects + admin_reply(session, reply, command=command,
                                      text=texts.resend_sent(user_id=user_id)))
