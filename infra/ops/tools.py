"""What the operator commands share: one settings object, the database, the producer, Redis."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TextIO

from celery import Celery
from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from infra.celery_config import create_celery
from infra.db import create_engine, make_session_factory
from infra.settings import Settings

# Exit codes of every command.
OK, REFUSED, USAGE, UNAVAILABLE = 0, 1, 2, 3


class OpsError(Exception):
    """A command cannot go on; the message is the one line the operator sees."""

    def __init__(self, message: str, *, code: int = REFUSED) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Tools:
    """Built lazily: `history` never opens Redis, `status` never builds a Celery app."""

    settings: Settings
    out: TextIO
    _closers: list[Callable[[], object]] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.out.write(line + "\n")

    @cached_property
    def engine(self) -> Engine:
        engine = create_engine(self.settings.database_url)
        self._closers.append(engine.dispose)
        return engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    @cached_property
    def producer(self) -> Celery:
        app = create_celery(self.settings, main="ops")
        self._closers.append(app.close)
        return app

    @cached_property
    def redis(self) -> Redis:
        client = Redis.from_url(self.settings.broker_url, socket_timeout=5,
                                socket_connect_timeout=5)
        self._closers.append(client.close)
        return client

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self._closers.clear()
