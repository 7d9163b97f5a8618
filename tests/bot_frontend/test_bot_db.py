"""The bot's database access is read-only at the connection, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import pytest
import sqlalchemy

from bot_frontend.db import read, read_only_sessions
from models.schema import User


def test_bot_sessions_cannot_write(db_url: str) -> None:
    """An insert through the bot's sessions is refused by the database itself."""
    sessions = read_only_sessions(db_url)
    try:
        with pytest.raises(sqlalchemy.exc.DBAPIError), sessions.begin() as session:
            session.add(User(id=1, first_name="x", created_at=datetime.now(UTC)))
    finally:
        sessions.kw["bind"].dispose()


def test_read_runs_the_query_off_the_loop(db_url: str) -> None:
    """`read` returns what the query returns, run in a worker thread."""
    sessions = read_only_sessions(db_url)
    try:
        count = anyio.run(read, sessions, lambda session: session.query(User).count())
    finally:
        sessions.kw["bind"].dispose()
    assert count == 0
