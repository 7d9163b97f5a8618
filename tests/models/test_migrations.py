"""The migrations: every revision goes up, down and up again, and they match the models."""

from __future__ import annotations

import io

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Engine, inspect

from infra.db import create_engine
from models.migrations import alembic_config, downgrade, upgrade
from models.schema import metadata


def _revisions_oldest_first() -> list[Script]:
    script = ScriptDirectory.from_config(alembic_config())
    return list(reversed(list(script.walk_revisions("base", "heads"))))


def _objects_left(url: str) -> tuple[set[str], set[str]]:
    """Tables, and triggers or functions, present in the database."""
    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            else:
                query = (
                    "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
                    " UNION SELECT proname FROM pg_proc"
                    " JOIN pg_namespace ON pg_namespace.oid = pronamespace"
                    " WHERE nspname = 'public'"
                )
            routines = set(connection.exec_driver_sql(query).scalars())
    finally:
        engine.dispose()
    return tables, routines


def test_there_is_a_single_head() -> None:
    """The revisions form one line, so `upgrade head` is unambiguous."""
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


def _current_revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def test_stairway_up_down_up(blank_db_url: str) -> None:
    """Every revision upgrades, downgrades to its parent and upgrades again, one step at a time."""
    for revision in _revisions_oldest_first():
        upgrade(blank_db_url, revision.revision)
        downgrade(blank_db_url, revision.down_revision or "base")  # type: ignore[arg-type]
        assert _current_revision(blank_db_url) == revision.down_revision
        upgrade(blank_db_url, revision.revision)
        assert _current_revision(blank_db_url) == revision.revision


def test_downgrade_to_base_removes_everything(blank_db_url: str) -> None:
    """Downgrading to base leaves only Alembic's own table: no tables, triggers or functions."""
    upgrade(blank_db_url)
    tables, routines = _objects_left(blank_db_url)
    assert tables >= {"users", "access", "invoices", "access_history"}
    assert routines, "the append-only triggers should exist at head"

    downgrade(blank_db_url, "base")

    assert _objects_left(blank_db_url) == ({"alembic_version"}, set())


def test_upgrade_over_a_given_connection(blank_db_url: str) -> None:
    """A caller may hand env.py an open connection; the migration commits on it."""
    engine = create_engine(blank_db_url)
    try:
        with engine.connect() as connection:
            command.upgrade(alembic_config(connection=connection), "head")
        with engine.connect() as connection:
            version = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            assert (
                version.scalar_one()
                == ScriptDirectory.from_config(alembic_config()).get_current_head()
            )
    finally:
        engine.dispose()


def test_models_match_migrations(engine: Engine) -> None:
    """Autogenerate finds nothing to do at head: the models and the migrations agree."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, metadata) == []


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql+psycopg"])
def test_offline_sql_renders(dialect: str) -> None:
    """`alembic upgrade head --sql` renders the whole schema, triggers included, for review."""
    buffer = io.StringIO()
    config = alembic_config(f"{dialect}://offline/db")
    config.output_buffer = buffer
    command.upgrade(config, "head", sql=True)
    sql = buffer.getvalue()
    assert "CREATE TABLE access_history" in sql
    assert "CREATE TRIGGER access_history_no" in sql
    assert "WHERE status = 'open'" in sql
