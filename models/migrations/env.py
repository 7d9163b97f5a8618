"""Alembic environment: which database to migrate, and how.

The URL comes, first match wins, from `config.attributes["connection"]` (an open connection,
used as is), `config.attributes["url"]` (models.migrations helpers), `-x url=...` on the command
line, the DATABASE_URL environment variable, or `sqlite:///var/app.db`. Settings are not
imported: migrations run before, and apart from, the application.

On SQLite, foreign keys are switched off while migrating, as the SQLite "ALTER TABLE" procedure
requires: batch mode recreates tables, and dropping a referenced table with foreign keys on
would fail or cascade. A `foreign_key_check` before commit catches what that let through.
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator

from infra.db import create_engine, normalize_url
from models.schema import metadata

DEFAULT_URL = "sqlite:///var/app.db"

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    url = (
        config.attributes.get("url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("DATABASE_URL")
        or DEFAULT_URL
    )
    return normalize_url(url)


def _set_sqlite_foreign_keys(connection: Connection, *, enabled: bool) -> None:
    # The PRAGMA is a no-op inside a transaction, and any SQLAlchemy execute would begin one,
    # so it goes straight to the driver.
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")
    finally:
        cursor.close()


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"migration left rows with dangling foreign keys: {broken[:10]}")


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Revisions are snapshots: they spell out the stored type (BIGINT for Money), never import
    # models.types, so a later change to a TypeDecorator cannot rewrite history.
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl_instance!r}"
    return False


def _run_migrations(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=is_sqlite,
        # DDL is transactional on both backends here (infra.db begins SQLite transactions
        # itself), so a failed migration leaves the database as it was.
        transactional_ddl=True,
        compare_type=True,
        compare_server_default=True,
        render_item=_render_item,
    )
    toggle_foreign_keys = is_sqlite and not connection.in_transaction()
    if toggle_foreign_keys:
        _set_sqlite_foreign_keys(connection, enabled=False)
    try:
        with context.begin_transaction():
            context.run_migrations()
            if is_sqlite:
                _check_sqlite_foreign_keys(connection)
    finally:
        if toggle_foreign_keys:
            _set_sqlite_foreign_keys(connection, enabled=True)


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (`alembic upgrade head --sql`)."""
    url = _database_url()
    context.configure(
        url=url,
        target_metadata=metadata,
        render_as_batch=url.startswith("sqlite"),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate the database over a connection (given, or opened on the URL)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_migrations(connection)
        return
    engine = create_engine(_database_url())
    try:
        with engine.connect() as own_connection:
            _run_migrations(own_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
