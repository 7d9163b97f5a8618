"""Helpers for the payment tests: a pipeline with the default plan and one subscriber."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.migrate import seed_plans
from infra.settings import load_settings
from models import inbox
from models.schema import Access, Invoice
from tests.workers.harness import Pipeline, add_user, make_pipeline
from workers.context import use_context

SUBSCRIBER, REFERRER = 5001, 5002


@pytest.fixture
def pipeline(
    db_url: str, engine: Any, session_factory: sessionmaker[Session]
) -> Iterator[Pipeline]:
    """A context on a fresh database with the default plan seeded and one subscriber."""
    with session_factory.begin() as session:
        seed_plans(session, load_settings(_env_file=None))
    add_user(session_factory, SUBSCRIBER)
    ctx = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine)
    with use_context(ctx):
        yield ctx


def count(ctx: Pipeline, model: Any, *where: Any) -> int:
    with ctx.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def checkout(ctx: Pipeline, request_key: str = "tap-1") -> Invoice:
    ctx.send(task_names.CHECKOUT, SUBSCRIBER, "month", request_key)
    ctx.drain()
    with ctx.sessions() as session:
        return session.scalars(select(Invoice).order_by(Invoice.id.desc())).first()  # type: ignore[return-value]


def report(ctx: Pipeline, invoice: Invoice, status: str, **state: Any) -> None:
    """CryptoCloud changes the invoice and a postback about it lands in the inbox."""
    assert invoice.uuid is not None
    ctx.payments.set_state(invoice.uuid, status, **state)  # type: ignore[attr-defined]
    with ctx.sessions.begin() as session:
        entry = inbox.record_payment_event(
            session, invoice_uuid=invoice.uuid, reported_status=status, source="postback",
            payload="{}", now=datetime.now(UTC),
        )
    ctx.send(task_names.PROCESS_PAYMENT_EVENT, entry.id)


def texts_to(ctx: Pipeline, chat_id: int) -> list[str]:
    return [call.text for call in ctx.telegram.calls_of("sendMessage") if call.chat_id == chat_id]


def access_of(ctx: Pipeline, user_id: int = SUBSCRIBER) -> Access | None:
    with ctx.sessions() as session:
        return session.scalar(select(Access).where(Access.user_id == user_id))


def poll_sees(ctx: Pipeline, invoice: Invoice, status: str, **state: Any) -> None:
    """CryptoCloud changes the invoice, no postback comes, and the fallback poll runs."""
    assert invoice.uuid is not None
    ctx.payments.set_state(invoice.uuid, status, **state)  # type: ignore[attr-defined]
    ctx.send(task_names.POLL_PENDING_INVOICES)
    ctx.drain()
