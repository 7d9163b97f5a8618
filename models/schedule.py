"""Claiming a periodic task's run, so two beats (an operator's mistake) double nothing.

Beat fires each periodic task with `every=<interval seconds>`; the task first claims its run
here and does nothing if another run started less than half an interval ago. Runs an operator
starts by hand carry no `every` and always go ahead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from infra.db import insert_ignore
from models.schema import ScheduledRun

_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def claim_scheduled_run(session: Session, *, task: str, now: datetime, every: int) -> bool:
    """True if this firing of `task` should run: none started in the last `every / 2` s.

    Half an interval: one beat's consecutive firings are a whole interval apart and always
    pass, while a second beat's firing lands within half an interval of one of the first's.
    """
    insert_ignore(session, ScheduledRun, {"task": task, "last_run_at": _NEVER},
                  conflict=["task"])
    changed = session.execute(
        update(ScheduledRun)
        .where(ScheduledRun.task == task,
               ScheduledRun.last_run_at <= now - timedelta(seconds=every / 2))
        .values(last_run_at=now)
    )
    return bool(changed.rowcount)  # type: ignore[attr-defined]
