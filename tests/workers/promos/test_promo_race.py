"""Racing redemptions on a real database (PostgreSQL, and SQLite): the use limit is never
passed and a user never redeems twice, however the transactions interleave."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from infra.migrate import seed_plans
from infra.settings import SANDBOX_CHANNEL_ID, load_settings
from models.schema import AccessHistory, PromoCode, PromoRedemption
from tests.workers.harness import add_user
from workers.promos import service

FIRST_USER = 9000


def create_code(sessions: sessionmaker[Session], code: str, *, kind: str = "percent",
                max_uses: int | None) -> None:
    now = datetime.now(UTC)
    values: dict[str, Any] = ({"percent_off": Decimal(20)} if kind == "percent"
                              else {"gift_days": 7})
    with sessions.begin() as session:
        session.add(PromoCode(code=code, kind=kind, max_uses=max_uses, uses=0, created_at=now,
                              updated_at=now, **values))


def race(callables: list[Callable[[], None]]) -> list[BaseException]:
    """Run every callable in its own thread, released together; the errors they raised."""
    barrier = threading.Barrier(len(callables))
    errors: list[BaseException] = []

    def run(call: Callable[[], None]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as error:  # reported by the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(call,)) for call in callables]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def redeem_as(sessions: sessionmaker[Session], user_id: int, code: str,
              key: str) -> Callable[[], None]:
    def call() -> None:
        with sessions.begin() as session:
            service.redeem(session, user=user_id, code=code, request_key=key,
                           chat_id=SANDBOX_CHANNEL_ID, now=datetime.now(UTC))
    return call


def setup(sessions: sessionmaker[Session], users: int) -> list[int]:
    with sessions.begin() as session:
        seed_plans(session, load_settings(_env_file=None))
    ids = [FIRST_USER + n for n in range(users)]
    for user_id in ids:
        add_user(sessions, user_id)
    return ids


def test_eight_users_racing_for_three_uses_get_exactly_three(
        session_factory: sessionmaker[Session]) -> None:
    """Eight users redeem a 3-use code at the same instant, five rounds over: each round
    exactly three reserve it, the counter says three, the other five are told it is used up."""
    users = setup(session_factory, 8)
    for round_ in range(5):
        code = f"LAST{round_}"
        create_code(session_factory, code, max_uses=3)
        errors = race([redeem_as(session_factory, user_id, code, f"{code}:{user_id}")
                       for user_id in users])
        assert errors == []
        with session_factory() as session:
            promo = session.scalars(select(PromoCode).where(PromoCode.code == code)).one()
            reserved = session.scalar(select(func.count()).select_from(PromoRedemption)
                                      .where(PromoRedemption.promo_id == promo.id))
            refusals = session.scalars(
                select(AccessHistory.details).where(AccessHistory.action == "promo_refused",
                                                    AccessHistory.details.contains(code))).all()
        assert (promo.uses, reserved, len(refusals)) == (3, 3, 5)
        assert all('"used_up"' in (details or "") for details in refusals)


def test_one_user_racing_themselves_for_a_gift_gets_it_once(
        session_factory: sessionmaker[Session]) -> None:
    """Four deliveries of different requests by one user for one gift, at once: one grant,
    one use, and the others are told it was already used."""
    (user_id,) = setup(session_factory, 1)
    create_code(session_factory, "GIFT", kind="gift", max_uses=None)
    errors = race([redeem_as(session_factory, user_id, "GIFT", f"tap{n}") for n in range(4)])
    assert errors == []
    with session_factory() as session:
        assert session.scalar(select(PromoCode.uses)) == 1
        assert session.scalar(select(func.count()).select_from(PromoRedemption)) == 1
        actions = session.scalars(select(AccessHistory.action)
                                  .where(AccessHistory.user_id == user_id)).all()
    assert sorted(actions) == ["promo_gift"] + ["promo_refused"] * 3
