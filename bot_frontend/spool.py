"""Tasks the broker would not take, kept on the bot's disk until it does: join requests survive.

A join request has no reply its sender could retry from: if its task cannot be queued it is
lost, and the person waits on a request nobody answers while their link no longer lets them ask
again. So when the broker refuses such a task, `SpoolRelay.keep` writes it to `TaskSpool` (a
small SQLite file of the bot's own, not the product's database: the bot only reads state and
produces tasks), and `SpoolRelay.run` sends it when the broker is back, oldest first, backing off
between attempts. A restarted bot sends what a crashed one left. Sending a task twice is harmless:
the worker vets a join request idempotently.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

from kombu.exceptions import OperationalError

from bot_frontend.producer import TaskProducer
from infra.logging import get_logger

log = get_logger("bot_frontend")
Spooled = tuple[int, str, list[Any]]


class TaskSpool:
    """(name, args) rows in a SQLite file, durable once `add` returns.

    The file is created by the first `add`: a bot whose broker never failed leaves no trace.
    """

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)

    def _connect(self) -> closing[sqlite3.Connection]:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, timeout=10)
        with db:
            db.execute("CREATE TABLE IF NOT EXISTS spooled (id INTEGER PRIMARY KEY"
                       " AUTOINCREMENT, name TEXT NOT NULL, args TEXT NOT NULL)")
        return closing(db)

    def add(self, name: str, args: list[Any]) -> None:
        with self._connect() as db, db:
            db.execute("INSERT INTO spooled (name, args) VALUES (?, ?)", (name, json.dumps(args)))

    def oldest(self, limit: int = 100) -> list[Spooled]:
        if not self._path.exists():
            return []
        with self._connect() as db:
            rows = db.execute("SELECT id, name, args FROM spooled ORDER BY id LIMIT ?", (limit,))
            return [(row[0], row[1], json.loads(row[2])) for row in rows]

    def remove(self, spooled_id: int) -> None:
        with self._connect() as db, db:
            db.execute("DELETE FROM spooled WHERE id = ?", (spooled_id,))


class SpoolRelay:
    """Keeps refused tasks in the spool and sends them once the broker takes them again."""

    def __init__(self, spool: TaskSpool, producer: TaskProducer, *, first_delay: float = 1.0,
                 max_delay: float = 60.0) -> None:
        self._spool = spool
        self._producer = producer
        self._first_delay, self._max_delay = first_delay, max_delay
        self._wake = asyncio.Event()

    async def keep(self, name: str, args: list[Any], *, error: Exception) -> None:
        """Spool a task the broker refused; `run` sends it later."""
        await asyncio.to_thread(self._spool.add, name, args)
        log.warning("task_spooled", task=name, error=str(error))
        self._wake.set()

    async def flush(self) -> bool:
        """Send what is spooled, oldest first; False if the broker still refuses."""
        while spooled := await asyncio.to_thread(self._spool.oldest):
            for spooled_id, name, args in spooled:
                try:
                    await asyncio.to_thread(self._producer.send_task, name, args=args)
                except OperationalError as error:
                    log.warning("spool_broker_unavailable", task=name, error=str(error))
                    return False
                await asyncio.to_thread(self._spool.remove, spooled_id)
                log.info("spooled_task_sent", task=name)
        return True

    async def run(self, *, idle_seconds: float = 30.0) -> None:
        """Flush now (a crashed bot may have left tasks), then whenever something is spooled."""
        delay = self._first_delay
        while True:
            self._wake.clear()
            if await self.flush():
                delay = self._first_delay
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=idle_seconds)
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_delay)
