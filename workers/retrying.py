"""The retry policy tasks share: transient failures retry with exponential backoff and jitter.

A lost database connection or a lock timeout is worth another try; a constraint violation is
not (it would fail the same way every time). Every use case is idempotent, so a retry after a
commit changes nothing. The backoff stays below the broker's visibility timeout
(infra/celery_config.py), so a waiting retry is never handed to a second worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import OperationalError

from infra.celery_config import RETRY_BACKOFF_MAX

MAX_RETRIES = 8


def retrying(*transient: type[BaseException]) -> dict[str, Any]:
    """Celery task options retrying OperationalError and the given transient errors."""
    return {
        "autoretry_for": (OperationalError, *transient),
        "retry_backoff": True,
        "retry_backoff_max": RETRY_BACKOFF_MAX,
        "retry_jitter": True,
        "max_retries": MAX_RETRIES,
    }


DB_RETRYING = retrying()


@dataclass(frozen=True)
class Run:
    """What one run of a use case came to: an outcome word for the task's result, and when the
    task should run it again (None: not by the task; the relay or the poll may)."""

    outcome: str
    retry_in: float | None = None
