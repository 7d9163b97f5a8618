"""Queue the outbox effects a committed transaction produced, each to the task that does it."""

from __future__ import annotations

from collections.abc import Iterable

from infra import task_names
from models import outbox
from workers.context import context

TASK_FOR_EFFECT = {
    outbox.SEND_MESSAGE: task_names.SEND_MESSAGE,
    outbox.GRANT_ACCESS: task_names.GRANT_INVITE,
}


def dispatch(effects: Iterable[tuple[int, str]]) -> None:
    """Call only after the commit: a task must find the row it is given."""
    ctx = context()
    for effect_id, method in effects:
        ctx.send(TASK_FOR_EFFECT[method], effect_id)
