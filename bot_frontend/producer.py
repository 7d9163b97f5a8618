"""Sending Celery tasks by name: the bot's only way to change anything.

The bot never imports worker code (an import-linter contract); it knows task names from
`infra.task_names` and passes ids and plain values.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

from kombu.exceptions import OperationalError

if TYPE_CHECKING:
    from bot_frontend.spool import SpoolRelay


class TaskProducer(Protocol):
    """What the bot needs of a publisher (`infra.task_publisher`; tests pass a recording fake)."""

    def send_task(self, name: str, *, args: list[Any]) -> Any: ...


class Tasks:
    """Sends tasks off the event loop: publishing to Redis is a blocking call."""

    def __init__(self, producer: TaskProducer, *, relay: SpoolRelay | None = None) -> None:
        self._producer = producer
        self._relay = relay

    async def send(self, name: str, *args: Any) -> None:
        """Queue a task; a broker that is down raises OperationalError (the user is told)."""
        await asyncio.to_thread(self._producer.send_task, name, args=list(args))

    async def send_durably(self, name: str, *args: Any) -> None:
        """Queue a task nobody could ask for again: if the broker is down, spool it instead."""
        try:
            await self.send(name, *args)
        except OperationalError as error:
            if self._relay is None:
                raise
            await self._relay.keep(name, list(args), error=error)
