"""`python -m infra.ops`: history, dead letters and their replay, recheck-invoice against the
CryptoCloud stand-in, status — on a real database and a real Redis."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.cryptocloud import CryptoCloudClient
from infra.migrate import seed_plans
from infra.ops import main
from infra.settings import Settings, load_settings
from models.history import record_history
from models.schema import (
    Access,
    AccessHistory,
    DeadLetter,
    Invoice,
    PaymentEvent,
    Plan,
    TelegramEffect,
    User,
)
from tests.workers.harness import add_user, make_pipeline
from workers.context import use_context

pytestmark = pytest.mark.redis

USER = 5001
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(db_url: str, redis_url: str, redis_client: redis.Redis,
             cryptocloud_sandbox: Any) -> Iterator[Settings]:
    """What an operator's shell would have: the database, Redis and CryptoCloud of `make run`."""
    redis_client.flushdb()
    yield load_settings(_env_file=None, database_url=db_url, redis_url=redis_url,
                        cryptocloud_api_base=cryptocloud_sandbox.base_url)


def run(settings: Settings, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), settings=settings, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def queued(client: redis.Redis, queue: str) -> list[tuple[str, list[Any]]]:
    """(task name, args) of the messages waiting in a queue, oldest first."""
    raw_messages: list[bytes] = client.lrange(queue, 0, -1)  # type: ignore[assignment]
    messages = [json.loads(raw) for raw in reversed(raw_messages)]
    return [(m["headers"]["task"], json.loads(_body(m))[0]) for m in messages]


def _body(message: dict[str, Any]) -> str:
    import base64

    return base64.b64decode(message["body"]).decode()


def test_history_prints_one_line_per_entry_newest_first(
    settings: Settings, session_factory: sessionmaker[Session],
) -> None:
    """The user's access history, newest first, with what changed; nobody's history → exit 1."""
    add_user(session_factory, USER)
    with session_factory.begin() as session:
        record_history(session, user_id=USER, action="trial_started", source="trial",
                       now=NOW, chat_id=-100, after=NOW + timedelta(days=3))
        record_history(session, user_id=USER, action="admin_removed", source="admin",
                       now=NOW + timedelta(days=1), chat_id=-100, actor_id=100,
                       command="/edit 5001 remove", details={"reason": "spam"})
    code, out, _ = run(settings, "history", str(USER))
    assert code == 0
    assert out.splitlines() == [
        "2026-11-27 12:00:00  admin_removed  by admin  actor 100  chat -100  "
        "command '/edit 5001 remove'  reason=spam",
        "2026-11-26 12:00:00  trial_started  by trial  chat -100  "
        "paid through - → 2026-11-29 12:00",
    ]
    assert run(settings, "history", "42") == (1, "", "error: no access history for user 42\n")


def test_dead_letters_are_listed_and_replayed_once(
    settings: Settings, session_factory: sessionmaker[Session], redis_client: redis.Redis,
) -> None:
    """replay <id> re-queues the task with its arguments and stamps it; --all does the rest."""
    with session_factory.begin() as session:
        for task, args in ((task_names.PROCESS_PAYMENT_EVENT, [7]),
                           (task_names.SEND_MESSAGE, [9])):
            session.add(DeadLetter(task_name=task, task_id=f"id-{args[0]}", created_at=NOW,
                                   args=json.dumps({"args": args, "kwargs": {}}),
                                   error="exceeded 5 deliveries"))
    code, out, _ = run(settings, "dead-letters", "list")
    assert code == 0
    assert out.splitlines()[0] == ("#1  2026-11-26 12:00:00  payments.process_event(7)  "
                                   "task id-7  error: exceeded 5 deliveries")
    assert out.splitlines()[-1] == "2 dead letters waiting"

    code, out, _ = run(settings, "dead-letters", "replay", "1")
    assert code == 0 and "#1 payments.process_event replayed as task" in out
    assert queued(redis_client, "payments") == [(task_names.PROCESS_PAYMENT_EVENT, [7])]
    assert run(settings, "dead-letters", "replay", "1")[0] == 1  # already replayed
    assert run(settings, "dead-letters", "replay", "99")[2] == "error: no dead letter #99\n"

    assert run(settings, "dead-letters", "list")[1].splitlines()[-1] == (
        "1 dead letter waiting")
    assert run(settings, "dead-letters", "replay", "--all")[0] == 0
    assert queued(redis_client, "telegram") == [(task_names.SEND_MESSAGE, [9])]
    with session_factory() as session:
        assert all(letter.replayed_at for letter in session.scalars(select(DeadLetter)))


def open_invoice(settings: Settings, sessions: sessionmaker[Session]) -> str:
    """An invoice created at the stand-in and stored here, as checkout leaves it; its uuid."""
    with sessions.begin() as session:
        seed_plans(session, settings)
    add_user(sessions, USER)
    with CryptoCloudClient(base_url=settings.cryptocloud_base, api_key=settings.cryptocloud_key,
                           shop_id=settings.cryptocloud_shop) as client:
        created = client.create_invoice(order_id="ord_5001_a", amount_usd=Decimal("10.00"),
                                        ttl=timedelta(hours=1))
    with sessions.begin() as session:
        plan = session.scalars(select(Plan)).one()
        session.add(Invoice(order_id="ord_5001_a", user_id=USER, plan_id=plan.id,
                            amount_usd=plan.price_usd, uuid=created.uuid,
                            pay_link=created.link, expires_at=created.expires_at))
    return created.uuid


def test_recheck_invoice_settles_a_given_up_payment_event(
    settings: Settings, session_factory: sessionmaker[Session], redis_client: redis.Redis,
    cryptocloud_sandbox: Any,
) -> None:
    """An event the workers gave up on (the way out the admins' alert names): recheck-invoice
    settles the invoice and closes that very event."""
    uuid = open_invoice(settings, session_factory)
    cryptocloud_sandbox.pay(f"INV-{uuid}")
    with session_factory.begin() as session:
        session.add(PaymentEvent(invoice_uuid=uuid, reported_status="paid", source="postback",
                                 payload="{}", received_at=NOW, attempts=5, last_error="boom"))
    code, out, _ = run(settings, "recheck-invoice", f"INV-{uuid}")
    assert code == 0
    assert "outcome: activated (invoice #1, inbox event #1, seen before)" in out.splitlines()
    with session_factory() as session:
        assert session.scalars(select(Invoice)).one().activated_at is not None
        assert session.scalars(select(PaymentEvent)).one().processed_at is not None


def test_recheck_invoice_activates_a_payment_whose_postback_never_came(
    settings: Settings, session_factory: sessionmaker[Session], engine: Any,
    redis_client: redis.Redis, cryptocloud_sandbox: Any,
) -> None:
    """Paid at CryptoCloud, no postback: the recheck activates it and queues the invite once."""
    uuid = open_invoice(settings, session_factory)
    code, out, _ = run(settings, "recheck-invoice", f"INV-{uuid}")
    assert (code, out.splitlines()[-1]) == (0, "nothing to settle: the invoice is not paid, "
                                               "part paid or canceled")

    cryptocloud_sandbox.pay(f"INV-{uuid}")
    code, out, _ = run(settings, "recheck-invoice", f"INV-{uuid}")
    assert code == 0
    assert out.splitlines() == [
        f"INV-{uuid}: CryptoCloud says paid, paid 10.00 of 10.00 USD",
        "outcome: activated (invoice #1, inbox event #1, new)",
        "1 Telegram effect queued",
    ]
    with session_factory() as session:
        assert session.scalars(select(Invoice)).one().activated_at is not None
        event = session.scalars(select(PaymentEvent)).one()
        assert (event.source, event.processed_at is not None) == ("manual", True)
    [(task, args)] = queued(redis_client, "telegram")  # the invite confirms the payment too
    assert task == task_names.GRANT_INVITE

    # The queued effects, run by the real tasks against a fake Telegram: the invite goes out.
    pipeline = make_pipeline(db_url=settings.database_url, sessions=session_factory,
                             engine=engine)
    pipeline.queued.append((task, tuple(args)))
    with use_context(pipeline):
        pipeline.drain()
    assert len(pipeline.telegram.calls_of("createChatInviteLink")) == 1
    with session_factory() as session:
        assert {e.status for e in session.scalars(select(TelegramEffect))} == {"done"}

    code, out, _ = run(settings, "recheck-invoice", uuid)  # again: nothing changes
    assert code == 0
    assert out.splitlines()[1:] == ["outcome: unchanged (invoice #1, inbox event #1, seen before)",
                                    "0 Telegram effects queued"]
    assert run(settings, "recheck-invoice", "INV-NOPE0000") == (
        1, "", "error: INV-NOPE0000: CryptoCloud does not know this invoice\n")


def test_status_sums_up_the_machinery(
    settings: Settings, session_factory: sessionmaker[Session], redis_client: redis.Redis,
) -> None:
    """Open invoices, unprocessed inbox events (and how many were given up), pending effects,
    dead letters, queue depths."""
    open_invoice(settings, session_factory)
    with session_factory.begin() as session:
        session.add(PaymentEvent(invoice_uuid="X1", reported_status="paid", source="postback",
                                 payload="{}", received_at=NOW))
        session.add(PaymentEvent(invoice_uuid="X2", reported_status="paid", source="postback",
                                 payload="{}", received_at=NOW, attempts=5, last_error="boom"))
        session.add(TelegramEffect(key="k", method="sendMessage", chat_id=USER))
        session.add(DeadLetter(task_name="x", created_at=NOW))
    redis_client.lpush("payments", "m")
    code, out, _ = run(settings, "status")
    assert code == 0
    assert out.splitlines() == [
        "open invoices: 1",
        "unprocessed payment events: 2 (given up: 1, see recheck-invoice)",
        "pending Telegram effects: 1",
        "dead letters waiting: 1 (of 1)",
        "queues: payments 1, telegram 0, sweeps 0, default 0, bulk 0; unacknowledged 0",
    ]


def test_errors_are_one_line_with_an_exit_code(settings: Settings) -> None:
    """Usage errors exit 2; an unreachable Redis exits 3 with one line naming it."""
    assert run(settings, "dead-letters", "replay")[0] == 2
    unreachable = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    code, _, err = run(unreachable, "status")
    assert code == 3
    assert err == ("error: queues: Redis at redis://127.0.0.1:1/0 does not answer "
                   "(ConnectionError)\n")
    with_password = settings.model_copy(update={"redis_url": "redis://:hunter22@127.0.0.1:1/0"})
    assert run(with_password, "status")[2] == (
        "error: queues: Redis at redis://:***@127.0.0.1:1/0 does not answer (ConnectionError)\n")


def test_reset_sandbox_forgets_every_subscriber_but_keeps_plans_and_the_history(
    settings: Settings, session_factory: sessionmaker[Session],
) -> None:
    """Users, access and invoices go; plans stay; each lost access adds one history line."""
    add_user(session_factory, USER)
    add_user(session_factory, USER + 1, referred_by=USER)
    with session_factory.begin() as session:
        plans = len(seed_plans(session, settings))
        session.add(Access(user_id=USER, chat_id=-100, paid_through=NOW, status="active"))
        record_history(session, user_id=USER, action="trial_started", source="trial", now=NOW)
    refused, _, err = run(settings, "reset-sandbox")
    assert refused == 2 and "--yes" in err
    code, out, _ = run(settings, "reset-sandbox", "--yes")
    assert code == 0
    assert "2 subscribers forgotten" in out
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0
        assert session.scalar(select(func.count()).select_from(Access)) == 0
        assert session.scalar(select(func.count()).select_from(Plan)) == plans
        actions = session.scalars(select(AccessHistory.action).order_by(AccessHistory.id)).all()
    assert actions == ["trial_started", "sandbox_reset"]


def test_reset_sandbox_is_refused_with_a_real_bot(
    settings: Settings, session_factory: sessionmaker[Session],
) -> None:
    """With BOT_TOKEN set the subscribers are real people: nothing is deleted, exit 1."""
    add_user(session_factory, USER)
    real = settings.model_copy(update={"bot_token": SecretStr("42:real")})
    code, _, err = run(real, "reset-sandbox", "--yes")
    assert code == 1 and "only in sandbox mode" in err
    with session_factory() as session:
        assert session.get(User, USER) is not None


def test_run_expiry_sweep_says_in_words_whom_it_removed(
    settings: Settings, session_factory: sessionmaker[Session], redis_client: redis.Redis,
    telegram_sandbox: Any,
) -> None:
    """The page's "Run the expiry sweep now": the very task, run here, answered in words."""
    from infra.sandbox.telegram.records import MemberRecord

    world = telegram_sandbox.world
    world.add_user(user_id=USER, first_name="Ann")
    world.channel.members[USER] = MemberRecord(user_id=USER, status="member")
    on_sandbox = settings.model_copy(update={"telegram_api_base": telegram_sandbox.base_url})
    add_user(session_factory, USER)
    with session_factory.begin() as session:
        session.add(Access(user_id=USER, chat_id=on_sandbox.channel, status="active",
                           paid_through=datetime.now(UTC) - timedelta(days=1)))
    code, out, _ = run(on_sandbox, "run", "expiry-sweep")
    assert (code, out) == (0, "removed 1 subscriber from the channel; 1 marked expired\n")
    assert world.member(world.channel, USER).status == "left"
    # The message telling the subscriber went to the workers through this run's broker, as one
    # of a wave (the bulk queue): expiry notices yield to payers.
    assert [task for task, _ in queued(redis_client, "bulk")] == [task_names.SEND_BULK_MESSAGE]
    code, out, _ = run(on_sandbox, "run", "expiry-sweep")
    assert (code, out) == (0, "nothing was due: nobody was removed\n")
    assert run(on_sandbox, "run", "reminders")[1] == "no reminder was due\n"
