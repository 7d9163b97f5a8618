"""Writing the append-only access history: every change of access, and every refusal."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from models.schema import AccessHistory


def record_history(
    session: Session,
    *,
    user_id: int,
    action: str,
    source: str,
    now: datetime,
    chat_id: int | None = None,
    actor_id: int | None = None,
    command: str | None = None,
    invoice_id: int | None = None,
    before: datetime | None = None,
    after: datetime | None = None,
    details: dict[str, Any] | None = None,
) -> AccessHistory:
    """Append one entry in the caller's transaction, so it lands together with the change."""
    entry = AccessHistory(
        user_id=user_id,
        chat_id=chat_id,
        action=action,
        source=source,
        actor_id=actor_id,
        command=command,
        invoice_id=invoice_id,
        paid_through_before=before,
        paid_through_after=after,
        details=json.dumps(details, default=str, sort_keys=True) if details else None,
        created_at=now,
    )
    session.add(entry)
    return entry
