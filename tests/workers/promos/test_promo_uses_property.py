"""The use counter of every code, over any sequence of redeeming, checking out, paying and
abandoning: it always equals the uses held (reserved) plus the uses confirmed (used), and never
passes the limit."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.migrate import seed_plans
from infra.settings import load_settings
from models.schema import Invoice, PromoCode, PromoRedemption
from tests.workers.harness import Pipeline, add_user, make_pipeline
from tests.workers.payments.conftest import report
from workers.context import use_context

ADMIN = 100
USERS = (8201, 8202, 8203, 8204)
LIMIT = 1
pytestmark = pytest.mark.parametrize("migrated_template", ["sqlite"], indirect=True)


@pytest.fixture
def ctx(db_url: str, engine: Any, session_factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    """A pipeline with the default plan and four users."""
    with session_factory.begin() as session:
        seed_plans(session, load_settings(_env_file=None))
    for user_id in USERS:
        add_user(session_factory, user_id)
    pipeline = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine,
                             admin_ids=str(ADMIN))
    with use_context(pipeline):
        yield pipeline


_keys = itertools.count()
steps = st.lists(st.tuples(st.sampled_from(["redeem", "checkout", "pay", "abandon"]),
                           st.sampled_from(USERS)), min_size=1, max_size=12)


def _latest_open(ctx: Pipeline, user_id: int) -> Invoice | None:
    with ctx.sessions() as session:
        return session.scalars(select(Invoice).where(Invoice.user_id == user_id,
                                                     Invoice.status == "created")
                               .order_by(Invoice.id.desc())).first()


def _step(ctx: Pipeline, action: str, user_id: int, code: str) -> None:
    if action == "redeem":
        ctx.send(task_names.REDEEM_PROMO, user_id, code, f"k{next(_keys)}")
    elif action == "checkout":
        ctx.send(task_names.CHECKOUT, user_id, "month", f"k{next(_keys)}")
    elif action == "pay" and (invoice := _latest_open(ctx, user_id)) is not None:
        report(ctx, invoice, "paid")
    elif action == "abandon":
        # The user walked away days ago: their hold ran out and their open invoices expired.
        long_ago = datetime.now(UTC) - timedelta(days=3)
        with ctx.sessions.begin() as session:
            session.execute(update(PromoRedemption).where(PromoRedemption.user_id == user_id)
                            .values(reserved_at=long_ago))
            session.execute(update(Invoice).where(Invoice.user_id == user_id,
                                                  Invoice.status == "created")
                            .values(status="canceled", updated_at=long_ago))
    ctx.drain()


def _check(ctx: Pipeline) -> None:
    with ctx.sessions() as session:
        for promo_id, uses, max_uses in session.execute(
                select(PromoCode.id, PromoCode.uses, PromoCode.max_uses)):
            held = session.scalar(select(func.count()).select_from(PromoRedemption).where(
                PromoRedemption.promo_id == promo_id,
                PromoRedemption.status.in_(["reserved", "used"])))
            assert uses == held
            assert max_uses is None or uses <= max_uses


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=steps)
def test_uses_count_what_is_held_and_stay_within_the_limit(
        ctx: Pipeline, script: list[tuple[str, int]]) -> None:
    """Whatever users do, in any order, each code's counter is its reserved plus used
    redemptions, at most its limit (each example gets a code of its own)."""
    code = f"P{next(_keys)}"
    ctx.send(task_names.ADMIN_PROMO_ADD,
             {"actor_id": ADMIN, "text": "/promo_add", "request_key": code},
             f"{code} 20% uses={LIMIT}")
    ctx.drain()
    for action, user_id in script:
        _step(ctx, action, user_id, code)
        _check(ctx)
