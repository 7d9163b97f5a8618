"""`dead-letters list` and `dead-letters replay <id>|--all`: look at parked tasks, send them again.

A replay sends the task by name with its recorded arguments under a new task id (so it starts
with a fresh delivery count) and stamps `replayed_at`; every task is idempotent, so replaying
one that partly ran is safe.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from infra.ops.tools import OK, REFUSED, OpsError, Tools
from infra.texts import count
from models.schema import DeadLetter


def _arguments(letter: DeadLetter) -> tuple[list[Any], dict[str, Any]]:
    stored = json.loads(letter.args or "{}")
    if isinstance(stored, list):
        return stored, {}
    return list(stored.get("args") or []), dict(stored.get("kwargs") or {})


def _line(letter: DeadLetter) -> str:
    args, kwargs = _arguments(letter)
    shown = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
    replayed = f"  replayed {letter.replayed_at:%Y-%m-%d %H:%M}" if letter.replayed_at else ""
    return (f"#{letter.id}  {letter.created_at:%Y-%m-%d %H:%M:%S}  {letter.task_name}({shown})"
            f"  task {letter.task_id or '-'}  error: {letter.error or '-'}{replayed}")


def list_letters(tools: Tools, *, include_replayed: bool) -> int:
    query = select(DeadLetter).order_by(DeadLetter.id)
    if not include_replayed:
        query = query.where(DeadLetter.replayed_at.is_(None))
    with tools.sessions() as session:
        letters = session.scalars(query).all()
    for letter in letters:
        tools.say(_line(letter))
    tools.say(f"{count(len(letters), 'dead letter')}{'' if include_replayed else ' waiting'}")
    return OK


def replay(tools: Tools, *, letter_id: int | None) -> int:
    """Send one dead letter (or all waiting ones) again; stamp each once it is queued."""
    query = select(DeadLetter).where(DeadLetter.replayed_at.is_(None)).order_by(DeadLetter.id)
    if letter_id is not None:
        query = select(DeadLetter).where(DeadLetter.id == letter_id)
    with tools.sessions() as session:
        letters = session.scalars(query).all()
    if letter_id is not None and not letters:
        raise OpsError(f"no dead letter #{letter_id}")
    if letter_id is not None and letters[0].replayed_at is not None:
        raise OpsError(f"dead letter #{letter_id} was replayed at "
                       f"{letters[0].replayed_at:%Y-%m-%d %H:%M:%S}", code=REFUSED)
    for letter in letters:
        args, kwargs = _arguments(letter)
        sent = tools.producer.send_task(letter.task_name, args=args, kwargs=kwargs)
        with tools.sessions.begin() as session:
            session.execute(update(DeadLetter).where(DeadLetter.id == letter.id)
                            .values(replayed_at=datetime.now(UTC)))
        tools.say(f"#{letter.id} {letter.task_name} replayed as task {sent.id}")
    tools.say(f"{count(len(letters), 'dead letter')} replayed")
    return OK
