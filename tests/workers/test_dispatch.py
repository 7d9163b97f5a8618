"""Dispatching a transaction's effects: in the written order per chat, in parallel across chats."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.celery_config import create_celery
from infra.cryptocloud.fake import FakePaymentProvider
from infra.settings import load_settings
from infra.telegram.fake import FakeTelegramGateway
from models import outbox
from workers.context import WorkerContext, use_context
from workers.dispatch import dispatch

ANN, BOB = 9101, 9102


class RecordingProducer:
    """Stands in for the Celery app: records each `send_task` with the chain linked to it."""

    def __init__(self) -> None:
        self.sent: list[list[tuple[str, list[Any]]]] = []
        self.links: list[Any] = []

    def send_task(self, name: str, args: Any = None, link: Any = None, **_: Any) -> None:
        chain, step = [(name, list(args))], link
        while step is not None:
            self.links.append(step)
            chain.append((step["task"], list(step["args"])))
            [step] = step["options"].get("link") or [None]
        self.sent.append(chain)


@pytest.fixture
def producer(db_url: str, engine: Engine, session_factory: sessionmaker[Session],
             monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProducer]:
    """A real worker context on a fresh database whose Celery app only records."""
    recording = RecordingProducer()
    monkeypatch.setattr("workers.context.current_app", recording)
    ctx = WorkerContext(settings=load_settings(_env_file=None, database_url=db_url),
                        engine=engine, sessions=session_factory,
                        payments=FakePaymentProvider(), telegram=FakeTelegramGateway())
    with use_context(ctx):
        yield recording


def test_effects_to_one_chat_are_chained_in_order_and_other_chats_stay_apart(
        producer: RecordingProducer, session_factory: sessionmaker[Session]) -> None:
    """Ann's message then her invite go as one chain in that order; Bob's message goes alone."""
    now = datetime.now(UTC)
    with session_factory.begin() as session:
        [paid] = outbox.queue_message(session, key="paid", chat_id=ANN, text="Paid", now=now)
        [bob] = outbox.queue_message(session, key="bob", chat_id=BOB, text="Hi", now=now)
        invite = outbox.add_effect(session, key="grant", method=outbox.GRANT_ACCESS,
                                   chat_id=ANN, payload={}, now=now)
    assert invite is not None
    dispatch([paid, bob, (invite, outbox.GRANT_ACCESS)])
    assert producer.sent == [
        [(task_names.SEND_MESSAGE, [paid[0]]), (task_names.GRANT_INVITE, [invite])],
        [(task_names.SEND_MESSAGE, [bob[0]])],
    ]
    # A link must not receive the previous task's result, and it is routed by its name (no
    # queue of its own): to the telegram queue, as a direct send would be.
    router = create_celery(load_settings(_env_file=None)).amqp.router
    [link] = producer.links
    assert link["immutable"] and "queue" not in link["options"]
    assert router.route({}, link["task"])["queue"].name == "telegram"


def test_a_reminder_sweep_to_many_chats_is_sent_all_in_parallel(
        producer: RecordingProducer, session_factory: sessionmaker[Session]) -> None:
    """One effect per chat for 200 chats: 200 independent sends, none waiting for another."""
    now = datetime.now(UTC)
    with session_factory.begin() as session:
        effects = [effect for chat in range(200) for effect in outbox.queue_message(
            session, key=f"remind:{chat}", chat_id=10_000 + chat, text="Renew", now=now)]
    dispatch(effects)
    assert producer.sent == [[(task_names.SEND_MESSAGE, [effect_id])]
                             for effect_id, _ in effects]
