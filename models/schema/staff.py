"""Staff roles granted from the bot (models/domain/roles.py has the rules).

One row per staff member; revoking a role deletes the row (the access history keeps who had
which role when). The ids in ADMIN_IDS are owners without a row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.schema.base import Base, now_utc, one_of

STAFF_ROLES = ("owner", "manager", "support")


class StaffRole(Base):
    """A role an owner granted to a user of the bot."""

    __tablename__ = "staff_roles"
    __table_args__ = (one_of("role", STAFF_ROLES),)

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"), primary_key=True,
                                         autoincrement=False)
    role: Mapped[str] = mapped_column(String(16))
    granted_by: Mapped[int] = mapped_column(BigInteger)
    granted_at: Mapped[datetime] = mapped_column(default=now_utc)
