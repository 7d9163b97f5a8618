"""The database engine: URL normalisation, engines per backend, sessions, idempotent inserts.

SQLite is the default store (one host, light load) and PostgreSQL the one for scale. On SQLite
every connection runs in WAL mode with foreign keys on, and every transaction starts with
`BEGIN IMMEDIATE`, so a read-then-write transaction queues behind the writer instead of failing
with "database is locked" halfway (reliability.md, section 5.4).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import ColumnElement, Engine, Row, TextClause, event, inspect, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

__all__ = ["create_engine", "insert_ignore", "make_session_factory", "normalize_url", "ping"]

# How long a SQLite writer waits for the lock before giving up with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 15_000
POSTGRES_POOL_SIZE = 5
POSTGRES_MAX_OVERFLOW = 10
POSTGRES_CONNECT_TIMEOUT_S = 10
# Recycle before typical idle-connection cutoffs of proxies and managed databases.
POSTGRES_POOL_RECYCLE_S = 1800

_POSTGRES_PREFIXES = ("postgres://", "postgresql://")


def normalize_url(url: str) -> str:
    """Point bare `postgres://` / `postgresql://` URLs at the psycopg 3 driver."""
    for prefix in _POSTGRES_PREFIXES:
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_engine(url: str) -> Engine:
    """An engine configured for the backend the URL names (SQLite or PostgreSQL)."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite":
        return _create_sqlite_engine(parsed)
    return sqlalchemy.create_engine(
        parsed,
        pool_pre_ping=True,
        pool_size=POSTGRES_POOL_SIZE,
        max_overflow=POSTGRES_MAX_OVERFLOW,
        pool_recycle=POSTGRES_POOL_RECYCLE_S,
        connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S},
    )


def _create_sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not in_memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sqlalchemy.create_engine(url)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, connection_record: Any) -> None:
        # Take BEGIN away from the sqlite3 module (Python 3.11 has no `autocommit` attribute);
        # the "begin" hook below emits our own, as the SQLAlchemy pysqlite docs describe.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
            # WAL + NORMAL is durable against crashes of the app; only power loss may drop
            # the last commits, never corrupt the file.
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Connection) -> None:
        # Take the write lock up front: a deferred transaction that reads then writes gets
        # SQLITE_BUSY at once, despite busy_timeout, when another writer got there first.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (ids cross boundaries, not objects)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def insert_ignore(
    session: Session,
    model: type[DeclarativeBase],
    values: dict[str, Any],
    *,
    conflict: list[str],
    where: ColumnElement[bool] | TextClause | None = None,
) -> bool:
    """INSERT ... ON CONFLICT (conflict) DO NOTHING; True when the row was inserted.

    This is the idempotency primitive: the unique key arbitrates, so two racing callers cannot
    both insert. `where` names the predicate of a partial unique index used as the target.
    """
    return _insert_ignore(session, model, values, conflict=conflict, where=where) is not None


def insert_ignore_id(
    session: Session, model: type[DeclarativeBase], values: dict[str, Any], *, conflict: list[str]
) -> int | None:
    """Like `insert_ignore`, for a table with an integer id: the new row's id, or None."""
    returned = _insert_ignore(session, model, values, conflict=conflict, where=None)
    return None if returned is None else int(returned[0])


def insert_ignore_rows(
    session: Session,
    model: type[DeclarativeBase],
    rows: list[dict[str, Any]],
    *,
    conflict: list[str],
    returning: list[str],
) -> list[Row[Any]]:
    """`insert_ignore` for many rows at once: `returning` of the rows inserted.

    One statement compiled once and sent as SQLAlchemy's "insertmanyvalues" batches (a
    multi-row VALUES per batch, a few round trips for a page), not a round trip per row.
    """
    if not rows:
        return []
    columns = [getattr(model, name) for name in returning]
    stmt = _ignoring(session, model, None, conflict=conflict, where=None)
    return list(session.execute(stmt.returning(*columns), rows).all())


def _ignoring(
    session: Session,
    model: type[DeclarativeBase],
    values: dict[str, Any] | None,
    *,
    conflict: list[str],
    where: ColumnElement[bool] | TextClause | None,
) -> Any:
    """INSERT ... ON CONFLICT (conflict) DO NOTHING in the session's dialect.

    Without `values` the rows come as execute() parameters (executemany).
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg_stmt = postgresql.insert(model)
        pg_stmt = pg_stmt if values is None else pg_stmt.values(values)
        return pg_stmt.on_conflict_do_nothing(index_elements=conflict, index_where=where)
    if dialect == "sqlite":
        lite_stmt = sqlite.insert(model)
        lite_stmt = lite_stmt if values is None else lite_stmt.values(values)
        return lite_stmt.on_conflict_do_nothing(index_elements=conflict, index_where=where)
    raise NotImplementedError(f"insert_ignore does not support {dialect}")


def _insert_ignore(
    session: Session,
    model: type[DeclarativeBase],
    values: dict[str, Any],
    *,
    conflict: list[str],
    where: ColumnElement[bool] | TextClause | None,
) -> Row[Any] | None:
    stmt = _ignoring(session, model, values, conflict=conflict, where=where)
    # RETURNING, not rowcount: with RETURNING in play, drivers report rowcount -1.
    returned: Row[Any] | None = session.execute(
        stmt.returning(*inspect(model).primary_key)
    ).first()
    return returned


def ping(engine: Engine) -> None:
    """Round-trip a trivial query; raises when the database cannot be reached."""
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1").scalar_one()
