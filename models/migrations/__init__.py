"""Run the Alembic migrations from Python: `upgrade(url)`, `downgrade(url, revision)`.

Used by the tests and by `make migrate`; the `alembic` command line works too (alembic.ini).
The Config is built in code, without alembic.ini, so calling these never reconfigures logging.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

__all__ = ["MIGRATIONS_DIR", "alembic_config", "downgrade", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(url: str | None = None, *, connection: Connection | None = None) -> Config:
    """An Alembic Config for this project aimed at a URL or an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.attributes["url"] = url
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision` ("base" empties it)."""
    command.downgrade(alembic_config(url), revision)
