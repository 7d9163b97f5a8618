"""`make migrate`: apply the Alembic migrations to DATABASE_URL, then PLANS, CHANNEL_ID, PLAN_CHATS.

The database is the source of truth for plans and the channel they admit to; the settings say
what it should be. Migrating brings it in line and prints every change: new plans, changed
terms, plans taken off sale (never deleted), plans moved to a new CHANNEL_ID — and subscribers
with time left on a chat no longer configured get the same time, and an invite, on the new one.
A bundle whose chats change (PLAN_CHATS) changes its subscribers' access: what that means is
printed first (N get invites to chat X, M are removed from chat Y), and nothing of the catalogue
is changed until the operator confirms: "yes" on a terminal, or `make migrate CONFIRM=yes`.
Every process checks at start that nothing differs (`catalog_or_exit`) and otherwise refuses
with one line naming the difference, so a changed setting is never silently ignored.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
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
    """Make the stored plans say what PLANS, CHANNEL_ID and PLAN_CHATS say; the changes."""
    return catalog.reconcile(session, plans=settings.plans, chat_id=settings.channel,
                             plan_chats=settings.plan_chats)


class NotConfirmed(Exception):
    """Bundle changes would change subscribers' access and the operator did not confirm them."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


Confirm = Callable[[list[str]], bool]


def migrate_and_seed(settings: Settings, *, confirm: Confirm | None = None) -> list[str]:
    """Migrate, apply the catalogue, move subscribers off chats no longer configured.

    A bundle change that gives or takes anybody's access is applied only if `confirm` says yes
    to its lines; otherwise NotConfirmed is raised and the catalogue is left as it was.
    """
    upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        with make_session_factory(engine).begin() as session:
            now = datetime.now(UTC)
            steps = catalog.bundle_plan(session, plans=settings.plans, chat_id=settings.channel,
                                        plan_chats=settings.plan_chats, now=now)
            pending = [step.describe() for step in steps if step.affected]
            if pending and (confirm is None or not confirm(pending)):
                raise NotConfirmed(pending)
            changes = seed_plans(session, settings)
            changes += catalog.apply_bundle(session, steps, now=now)
            return changes + catalog.move_access(session, chat_id=settings.channel, now=now,
                                                 configured=settings.chats)
    finally:
        engine.dispose()


def catalog_differences(settings: Settings) -> list[str]:
    """What `make migrate` would change in the catalogue; [] when the database is in line."""
    engine = create_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            return catalog.differences(session, plans=settings.plans, chat_id=settings.channel,
                                       plan_chats=settings.plan_chats)
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
        line = (f"PLANS/CHANNEL_ID/PLAN_CHATS differ from the database ({'; '.join(differences)}): "
                "run `make migrate` to apply them")
    print(f"configuration error: {line}", file=sys.stderr)  # noqa: T201
    raise SystemExit(2)


def _show(lines: list[str]) -> None:
    print("PLAN_CHATS changes subscribers' access:", file=sys.stderr)  # noqa: T201
    for line in lines:
        print(f"  {line}", file=sys.stderr)  # noqa: T201


def confirmed_by_flag(lines: list[str]) -> bool:
    """`--yes` (`make migrate CONFIRM=yes`): show what the bundle change does, and apply it."""
    _show(lines)
    return True


def ask_on_terminal(lines: list[str]) -> bool:
    """Show what the bundle change does to subscribers; true only for a typed "yes"."""
    _show(lines)
    if not sys.stdin.isatty():
        return False
    print("Apply these access changes? Type yes to apply: ", end="", file=sys.stderr)  # noqa: T201
    return input().strip().lower() == "yes"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.migrate")
    parser.add_argument("--yes", action="store_true",
                        help="apply access changes of bundles without asking (CONFIRM=yes)")
    args = parser.parse_args(argv or [])
    settings = settings_or_exit()
    confirm = confirmed_by_flag if args.yes else ask_on_terminal
    try:
        changes = migrate_and_seed(settings, confirm=confirm)
    except NotConfirmed:
        print("not confirmed: the plans and their chats are unchanged, and every process "  # noqa: T201
              "refuses to start until they are applied; run `make migrate CONFIRM=yes` "
              "(or answer yes on a terminal)", file=sys.stderr)
        return 3
    for change in changes:
        print(f"  {change}", file=sys.stderr)  # noqa: T201
    note = (f", {count(len(changes), 'change')} applied" if changes
            else ", plans and channel unchanged")
    print(f"database at {redact_url(settings.database_url)} is up to date{note}",  # noqa: T201
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
