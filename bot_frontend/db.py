"""Read-only database access for the bot: every write goes through a Celery task instead.

The engine refuses writes at the connection (SQLite `query_only`, PostgreSQL read-only
transactions), so a handler cannot write by accident. Reads run in a thread so a slow query
never stalls the event loop that serves every other user.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy
from sqlalchemy import Engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from infra.db import SQLITE_BUSY_TIMEOUT_MS, normalize_url

P = ParamSpec("P")
T = TypeVar("T")


def create_read_only_engine(url: str) -> Engine:
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite":
        return sqlalchemy.create_engine(
            parsed, pool_pre_ping=True, pool_size=5,
            connect_args={"options": "-c default_transaction_read_only=on",
                          "connect_timeout": 10},
        )
    engine = sqlalchemy.create_engine(parsed)

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA query_only=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
        finally:
            cursor.close()

    return engine


def read_only_sessions(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=create_read_only_engine(url), expire_on_commit=False)


async def read(
    sessions: sessionmaker[Session],
    query: Callable[Concatenate[Session, P], T],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Run `query(session, ...)` in a worker thread and return its plain result."""

    def run() -> T:
        with sessions() as session:
            return query(session, *args, **kwargs)

    return await asyncio.to_thread(run)
