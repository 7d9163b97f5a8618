"""Sending Celery tasks by name: the bot's only way to change anything.

The bot never imports worker code (an import-linter contract); it knows task names from
`infra.task_names` and passes ids and plain values.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol


class TaskProducer(Protocol):
    """What the bot needs of a Celery app (tests pass a recording fake)."""

    def send_task(self, name: str, args: Any = None, **options: Any) -> Any: ...


class Tasks:
    """Sends tasks off the event loop: publishing to Redis is a blocking call."""

    def __init__(self, producer: TaskProducer) -> None:
        self._producer = producer

    async def send(self, name: str, *args: Any) -> None:
        await asyncio.to_thread(self._producer.send_task, name, args=list(args))
