"""infra.db: URL normalisation, SQLite engine settings, BEGIN IMMEDIATE, insert_ignore, ping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from infra.db import (
    SQLITE_BUSY_TIMEOUT_MS,
    create_engine,
    insert_ignore,
    make_session_factory,
    normalize_url,
    ping,
)
from models.schema import PaymentEvent, PayoutRequest, Referrer, User


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A file SQLite engine, in a directory that does not exist yet, with one small table."""
    engine = create_engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'app.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        connection.exec_driver_sql(
            "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id))"
        )
        connection.exec_driver_sql("CREATE TABLE counter (value INTEGER NOT NULL)")
        connection.exec_driver_sql("INSERT INTO counter VALUES (0)")
    yield engine
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@db:5432/app", "postgresql+psycopg://u:p@db:5432/app"),
        ("postgresql://u@db/app", "postgresql+psycopg://u@db/app"),
        ("postgresql+psycopg://u@db/app", "postgresql+psycopg://u@db/app"),
        ("sqlite:///var/app.db", "sqlite:///var/app.db"),
    ],
)
def test_normalize_url_points_postgres_at_psycopg(url: str, expected: str) -> None:
    """Bare PostgreSQL URLs (as hosting platforms hand them out) get the psycopg 3 driver."""
    assert normalize_url(url) == expected


def test_postgres_engine_uses_psycopg_and_pre_ping() -> None:
    """A PostgreSQL engine checks pooled connections before use; nothing connects yet."""
    engine = create_engine("postgres://app@127.0.0.1:1/app")
    try:
        assert engine.dialect.driver == "psycopg"
        assert engine.pool._pre_ping
    finally:
        engine.dispose()


def test_sqlite_engine_settings(sqlite_engine: Engine) -> None:
    """Every SQLite connection runs in WAL mode, enforces foreign keys, waits when busy."""
    with sqlite_engine.connect() as connection:

        def pragma(name: str) -> object:
            return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == SQLITE_BUSY_TIMEOUT_MS
        assert pragma("synchronous") == 1  # NORMAL


def test_sqlite_enforces_foreign_keys(sqlite_engine: Engine) -> None:
    """A row pointing at a missing parent is refused."""
    with pytest.raises(IntegrityError), sqlite_engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO child (id, parent_id) VALUES (1, 42)")


def test_sqlite_transactions_begin_immediate(sqlite_engine: Engine) -> None:
    """A transaction takes the write lock at BEGIN, so a second writer waits instead of
    failing halfway through its read-then-write."""
    statements: list[str] = []
    event.listen(sqlite_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    factory = make_session_factory(sqlite_engine)

    with factory() as first:
        # Only a read so far; a deferred BEGIN would not have locked anything yet.
        assert first.execute(text("SELECT value FROM counter")).scalar_one() == 0
        assert "BEGIN IMMEDIATE" in statements

        with sqlite_engine.connect() as second:
            # Do not wait the full busy timeout for what is known to be locked.
            cursor = second.connection.cursor()
            cursor.execute("PRAGMA busy_timeout=50")
            cursor.close()
            with pytest.raises(OperationalError, match="database is locked"):
                second.begin()

        first.execute(text("UPDATE counter SET value = value + 1"))
        first.commit()

    with factory.begin() as later:
        assert later.execute(text("SELECT value FROM counter")).scalar_one() == 1


def test_insert_ignore_inserts_once(session_factory: sessionmaker[Session]) -> None:
    """insert_ignore returns True for the first row and False, inserting nothing, for a dup."""
    values = {
        "invoice_uuid": "ABC123",
        "reported_status": "success",
        "source": "postback",
        "payload": "{}",
    }
    with session_factory.begin() as session:
        first = insert_ignore(
            session, PaymentEvent, values, conflict=["invoice_uuid", "reported_status"]
        )
        again = insert_ignore(
            session,
            PaymentEvent,
            {**values, "source": "poll"},
            conflict=["invoice_uuid", "reported_status"],
        )
        rows = session.query(PaymentEvent).all()

    assert (first, again) == (True, False)
    assert [(row.source, row.attempts) for row in rows] == [("postback", 0)]


def test_insert_ignore_targets_a_partial_unique_index(
    session_factory: sessionmaker[Session],
) -> None:
    """With `where`, the partial index of open payout requests arbitrates the conflict."""
    with session_factory.begin() as session:
        session.add(User(id=1))
        session.flush()
        session.add(Referrer(user_id=1, pct=10))

    request = {"referrer_id": 1, "amount": 5, "network": "TRC20", "wallet": "T" * 34}
    is_open = text("status = 'open'")
    with session_factory.begin() as session:
        first = insert_ignore(
            session, PayoutRequest, request, conflict=["referrer_id"], where=is_open
        )
        again = insert_ignore(
            session, PayoutRequest, request, conflict=["referrer_id"], where=is_open
        )
    assert (first, again) == (True, False)


def test_ping_succeeds_on_a_reachable_database(engine: Engine) -> None:
    """ping returns quietly when the database answers, after a real round trip to it."""
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    ping(engine)
    assert "SELECT 1" in statements


def test_ping_raises_when_unreachable() -> None:
    """ping raises when nothing listens at the address (readiness must fail)."""
    engine = create_engine("postgresql://nobody@127.0.0.1:1/nothing")
    try:
        with pytest.raises(OperationalError):
            ping(engine)
    finally:
        engine.dispose()
