"""Reading staff roles: who acts with which role (ADMIN_IDS are owners), and the staff list.

The bot reads a role before it obeys an admin command or button; the worker reads it again
before it changes anything. Both read it here, and judge it with models/domain/roles.py.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.domain.roles import RANK, Role, effective_role
from models.schema import StaffRole, User


def granted_role(session: Session, user_id: int) -> Role | None:
    """The role granted from the bot, if any (ADMIN_IDS not considered)."""
    role = session.scalar(select(StaffRole.role).where(StaffRole.user_id == user_id))
    return None if role is None else Role(role)


def role_of(session: Session, user_id: int, *, owners: Collection[int]) -> Role | None:
    """The role `user_id` acts with: owner if in ADMIN_IDS (no read), else the granted one."""
    if user_id in owners:
        return Role.OWNER
    return effective_role(granted_role(session, user_id), user_id=user_id, owners=owners)


@dataclass(frozen=True)
class Member:
    """One staff member as /roles lists them."""

    user_id: int
    role: Role
    name: str
    granted_by: int | None  # None: an owner through ADMIN_IDS
    granted_at: datetime | None


def members(session: Session, *, owners: Collection[int]) -> list[Member]:
    """ADMIN_IDS first, then every granted role, most powerful first, then by id."""
    names = dict(session.execute(select(User.id, User.first_name)
                                 .where(User.id.in_(list(owners)))).all())
    fixed = [Member(user_id=owner, role=Role.OWNER, name=names.get(owner) or "",
                    granted_by=None, granted_at=None) for owner in sorted(owners)]
    rank = {role: index for index, role in enumerate(RANK)}
    granted = [Member(user_id=row.user_id, role=Role(row.role), name=name or "",
                      granted_by=row.granted_by, granted_at=row.granted_at)
               for row, name in session.execute(
                   select(StaffRole, User.first_name).join(User, User.id == StaffRole.user_id))
               .all() if row.user_id not in owners]
    return fixed + sorted(granted, key=lambda m: (rank[m.role], m.user_id))
