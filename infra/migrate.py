"""`make migrate`: apply the Alembic migrations to DATABASE_URL, then apply PLANS and CHANNEL_ID.

The database is the source of truth for plans and the channel they admit to; the settings say
what it should be. Migrating brings it in line and prints every change: new plans, changed
terms, plans taken off sale (never deleted), plans moved to a new CHANNEL_ID — and subscribers
with time left on a chat no longer configured get the same time, and an invite, on the new one.
Every process checks at start that nothing differs (`catalog_or_exit`) and otherwise refuses
with one line naming the difference, so a changed setting is never silently ignored.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from infra.db import create_engine, make_session_factory
from infra.redact import redact_url
from infra.settings import Settings, settings_or_exit
from infra.texts import count
from models import catalog
from models.migrations import upgrade


def seed_plans(session: Session, settings: Settings) -> list[str]:
    """Make the stored plans say what PLANS and CHANNEL_ID say; the changes, one line each."""
    return catalog.reconcile(session, plans=settings.plans, chat_id=settings.channel)


def migrate_and_seed(settings: Settings) -> list[str]:
    """Migrate, apply the catalogue, move subscribers off chats no longer configured."""
    upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        with make_session_factory(engine).begin() as session:
            changes = seed_plans(session, settings)
            return changes + catalog.move_access(session, chat_id=settings.channel,
                                                 now=datetime.now(UTC))
    finally:
        engine.dispose()


def catalog_differences(settings: Settings) -> list[str]:
    """What `make migrate` would change in the catalogue; [] when the database is in line."""
    engine = create_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            return catalog.differences(session, plans=settings.plans, chat_id=settings.channel)
    finally:
        engine.dispose()


def catalog_or_exit(settings: Settings) -> None:
    """Entry points call this: settings the database does not hold end the process, one line."""
    try:
        differences = catalog_differences(settings)
    except SQLAlchemyError as error:
        line = f"the database cannot be read ({type(error).__name__}): run `make migrate`"
    else:
        if not differences:
            return
        line = (f"PLANS/CHANNEL_ID differ from the database ({'; '.join(differences)}): "
                "run `make migrate` to apply them")
    print(f"configuration error: {line}", file=sys.stderr)  # noqa: T201
    raise SystemExit(2)


def main() -> int:
    settings = settings_or_exit()
    changes = migrate_and_seed(settings)
    for change in changes:
        print(f"  {change}", file=sys.stderr)  # noqa: T201
    note = (f", {count(len(changes), 'change')} applied" if changes
            else ", plans and channel unchanged")
    print(f"database at {redact_url(settings.database_url)} is up to date{note}",  # noqa: T201
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
