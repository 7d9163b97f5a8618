"""Bad input at volume: 10,000 malformed, forged, expired, oversized and deeply nested postbacks
(plus genuine tokens for invoices nobody ordered) against the real gateway end with 0 answers
5xx and 0 activations. `make fuzz` runs this file and prints the figures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.settings import load_settings
from models.schema import Access, AccessHistory, PaymentEvent
from tests.fixtures.postbacks import Hostile, hostile
from tests.fixtures.processes import serve_wsgi
from tests.workers.harness import make_pipeline
from webhook_gateway import create_app
from workers.context import use_context

URL = "/cryptocloud_webhook"
VOLUME = 10_000
OVER_HTTP = 1_000
# What each kind may be answered; anything else (above all a 5xx) is a finding.
EXPECTED = {
    "malformed": {400, 415},
    "forged": {401},
    "expired": {401},
    "oversized": {413},
    "nested": {400, 401, 413},  # a nested form field grows past 64 KiB once URL-encoded
    "signed": {200},
}

pytestmark = pytest.mark.parametrize("migrated_template", ["postgresql"], indirect=True)


class NullProducer:
    """Queuing is not under test here: the inbox rows are processed by the pipeline below."""

    def send_task(self, name: str, *, args: list[Any], **_: Any) -> None:
        """Accept and drop the message."""


@pytest.fixture
def gateway(db_url: str) -> Iterator[Flask]:
    """The real gateway on a fresh PostgreSQL database (NUL bytes and text limits are real)."""
    settings = load_settings(_env_file=None, database_url=db_url,
                             redis_url="redis://127.0.0.1:1/0")
    app = create_app({"settings": settings})
    app.extensions["gateway"]["celery"] = NullProducer()
    yield app
    app.extensions["gateway"]["engine"].dispose()


def headers(h: Hostile) -> dict[str, str]:
    return {"Content-Type": h.content_type}


def fire(post: Callable[[Hostile], int], *, seed: int, count: int) -> list[tuple[Hostile, int]]:
    """Send `count` hostile postbacks (the same ones for the same seed); pair each with its
    answer's status."""
    return [(h, post(h)) for h in hostile(seed=seed, count=count)]


def findings(answers: list[tuple[Hostile, int]]) -> list[str]:
    return [f"{h.kind} {h.content_type!r} {h.body[:80]!r} → {status}"
            for h, status in answers if status not in EXPECTED[h.kind]]


def summary(answers: list[tuple[Hostile, int]]) -> str:
    by_status = Counter(status for _, status in answers)
    by_kind = Counter(h.kind for h, _ in answers)
    kinds, statuses = dict(sorted(by_kind.items())), dict(sorted(by_status.items()))
    return f"{len(answers)} postbacks {kinds} → answers {statuses}"


def test_ten_thousand_hostile_postbacks_get_no_5xx_and_activate_nothing(
    gateway: Flask, db_url: str, engine: Any, session_factory: sessionmaker[Session]
) -> None:
    """Every hostile postback gets the answer its kind deserves (never a 5xx); the genuine
    tokens for unknown invoices are recorded, processed and activate nobody."""
    client = gateway.test_client()
    answers = fire(lambda h: client.post(URL, data=h.body, headers=headers(h)).status_code,
                   seed=20261130, count=VOLUME)
    print(f"\nfuzz (Flask test client): {summary(answers)}")
    assert findings(answers) == []
    assert sum(status >= 500 for _, status in answers) == 0

    with session_factory() as session:
        event_ids = list(session.scalars(select(PaymentEvent.id)))
    assert len(event_ids) == sum(h.kind == "signed" for h, _ in answers)
    pipeline = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine)
    with use_context(pipeline):
        for event_id in event_ids:
            pipeline.send(task_names.PROCESS_PAYMENT_EVENT, event_id)
        pipeline.drain(limit=10 * len(event_ids) + 10)
    with session_factory() as session:
        activations = session.scalar(select(func.count()).select_from(AccessHistory).where(
            AccessHistory.action == "payment_activated"))
        unknown = session.scalar(select(func.count()).select_from(AccessHistory).where(
            AccessHistory.action == "payment_unknown"))
        accesses = session.scalar(select(func.count()).select_from(Access))
    print(f"fuzz: {len(event_ids)} genuine tokens for unknown invoices → {unknown} recorded as "
          f"unknown, {activations} activations")
    assert (activations, accesses, unknown) == (0, 0, len(event_ids))


def test_hostile_postbacks_over_real_http_get_no_5xx(gateway: Flask) -> None:
    """A slice over a real socket (werkzeug's server, real Content-Length handling): no 5xx."""
    with serve_wsgi(gateway) as url, httpx.Client(base_url=url, timeout=10.0) as http:
        answers = fire(lambda h: http.post(URL, content=h.body, headers=headers(h)).status_code,
                       seed=7, count=OVER_HTTP)
    print(f"\nfuzz (real HTTP): {summary(answers)}")
    assert findings(answers) == []
