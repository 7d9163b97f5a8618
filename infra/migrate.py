"""`make migrate`: apply the Alembic migrations to DATABASE_URL and seed PLANS.

Plans are seeded only into an empty plans table: once an operator has plans, the PLANS setting
never overwrites them.
"""

from __future__ import annotations

import sys

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.db import create_engine, make_session_factory
from infra.redact import redact_url
from infra.settings import Settings, settings_or_exit
from models.migrations import upgrade
from models.schema import Plan, PlanChat


def seed_plans(session: Session, settings: Settings) -> int:
    """Insert PLANS (each granting CHANNEL_ID) when the table is empty; return how many."""
    if session.scalar(select(func.count()).select_from(Plan)):
        return 0
    for spec in settings.plans:
        plan = Plan(code=spec.code, title=spec.title, days=spec.days, price_usd=spec.price_usd)
        session.add(plan)
        session.flush()
        session.add(PlanChat(plan_id=plan.id, chat_id=settings.channel))
    return len(settings.plans)


def migrate_and_seed(settings: Settings) -> int:
    upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        with make_session_factory(engine).begin() as session:
            return seed_plans(session, settings)
    finally:
        engine.dispose()


def main() -> int:
    settings = settings_or_exit()
    seeded = migrate_and_seed(settings)
    note = f", seeded {seeded} plan(s) from PLANS" if seeded else ""
    print(f"database at {redact_url(settings.database_url)} is up to date{note}", file=sys.stderr)  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
