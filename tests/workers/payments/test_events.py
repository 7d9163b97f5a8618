"""An inbox event is processed only once it reached a final answer; its failures are bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from infra import task_names
from infra.cryptocloud import (
    CryptoCloudClient,
    CryptoCloudError,
    CryptoCloudMoved,
    CryptoCloudRejected,
    CryptoCloudUnavailable,
)
from infra.sandbox.cryptocloud import CryptoCloudSandbox
from models import inbox
from models.schema import AccessHistory, Invoice, PaymentEvent
from tests.workers.harness import Pipeline
from tests.workers.payments.conftest import access_of, checkout, count, poll_sees, texts_to


def record(ctx: Pipeline, invoice: Invoice, status: str, *, age: timedelta = timedelta(0)) -> int:
    """A postback about `invoice` lands in the inbox; CryptoCloud's own state is left alone."""
    assert invoice.uuid is not None
    with ctx.sessions.begin() as session:
        entry = inbox.record_payment_event(
            session, invoice_uuid=invoice.uuid, reported_status=status, source="postback",
            payload="{}", now=datetime.now(UTC) - age,
        )
    return entry.id


def event(ctx: Pipeline, event_id: int) -> PaymentEvent:
    with ctx.sessions() as session:
        return session.get_one(PaymentEvent, event_id)


def test_postback_ahead_of_merchant_info_stays_open_until_a_poll_sees_paid(
    pipeline: Pipeline,
) -> None:
    """merchant/info still says created after a paid postback: the event stays open and the
    next poll that sees paid activates the subscriber."""
    invoice = checkout(pipeline)
    event_id = record(pipeline, invoice, "paid")
    pipeline.send(task_names.PROCESS_PAYMENT_EVENT, event_id)
    pipeline.drain()
    assert access_of(pipeline) is None
    lagging = event(pipeline, event_id)
    assert lagging.processed_at is None
    assert "created" in (lagging.last_error or "")

    poll_sees(pipeline, invoice, "paid")
    access = access_of(pipeline)
    assert access is not None and access.status == "active"
    assert event(pipeline, event_id).processed_at is not None


def test_relay_settles_a_lagging_event_once_the_provider_catches_up(pipeline: Pipeline) -> None:
    """The relay keeps re-queuing an event the provider lagged on, and settles it when it can."""
    invoice = checkout(pipeline)
    event_id = record(pipeline, invoice, "paid", age=timedelta(hours=1))
    pipeline.send(task_names.RELAY_PAYMENT_INBOX)
    pipeline.drain()
    assert event(pipeline, event_id).processed_at is None
    assert invoice.uuid is not None
    pipeline.payments.set_state(invoice.uuid, "paid")  # type: ignore[attr-defined]
    pipeline.send(task_names.RELAY_PAYMENT_INBOX)
    pipeline.drain()
    assert event(pipeline, event_id).processed_at is not None
    assert count(pipeline, AccessHistory, AccessHistory.action == "payment_activated") == 1


def test_event_failing_the_same_way_is_given_up_after_bounded_attempts(
    pipeline: Pipeline,
) -> None:
    """merchant/info refusing an event every time: a bounded number of attempts recorded on the
    event, one alert to each admin, and the relay stops re-queuing it."""
    invoice = checkout(pipeline)
    event_id = record(pipeline, invoice, "paid", age=timedelta(hours=1))
    refusal = CryptoCloudRejected("CryptoCloud invoice/merchant/info rejected (HTTP 400): boom",
                                  operation="invoice/merchant/info")
    pipeline.payments.fail_next(*[refusal] * 30)  # type: ignore[attr-defined]
    outcomes = []
    for _ in range(12):
        pipeline.send(task_names.RELAY_PAYMENT_INBOX)
        outcomes += [result for name, result in pipeline.drain()
                     if name == task_names.PROCESS_PAYMENT_EVENT]
    # Each attempt ends the task normally (no failure, so no dead letter), and then they stop.
    assert outcomes == ["failed"] * (inbox.MAX_EVENT_ATTEMPTS - 1) + ["given up"]
    failed = event(pipeline, event_id)
    assert failed.processed_at is None
    assert failed.attempts == inbox.MAX_EVENT_ATTEMPTS
    assert "boom" in (failed.last_error or "")
    with pipeline.sessions() as session:
        assert event_id not in inbox.unprocessed_event_ids(
            session, received_before=datetime.now(UTC), limit=10)
    for admin in pipeline.settings.admins:
        alerts = [text for text in texts_to(pipeline, admin) if f"INV-{invoice.uuid}" in text]
        assert len(alerts) == 1


def test_provider_outage_leaves_the_event_open_without_counting_it_as_failed(
    pipeline: Pipeline,
) -> None:
    """CryptoCloud unreachable through every retry: the event stays open for the relay and its
    attempts stay at zero, so an outage never gives a payment up."""
    invoice = checkout(pipeline)
    event_id = record(pipeline, invoice, "paid")
    outage = CryptoCloudUnavailable("CryptoCloud invoice/merchant/info: timed out",
                                    operation="invoice/merchant/info")
    pipeline.payments.fail_next(*[outage] * 30)  # type: ignore[attr-defined]
    pipeline.send(task_names.PROCESS_PAYMENT_EVENT, event_id)
    pipeline.drain()
    open_event = event(pipeline, event_id)
    assert open_event.processed_at is None and open_event.attempts == 0
    assert "timed out" in (open_event.last_error or "")
    with pipeline.sessions() as session:
        assert event_id in inbox.unprocessed_event_ids(
            session, received_before=datetime.now(UTC) + timedelta(seconds=1), limit=10)


@pytest.mark.parametrize(
    "failure",
    [CryptoCloudMoved("CryptoCloud API has moved; set CRYPTOCLOUD_API_BASE=https://x",
                      operation="invoice/merchant/info"),
     CryptoCloudRejected("CryptoCloud invoice/merchant/info rejected (HTTP 401): "
                         "authorization: Unauthorized request.",
                         operation="invoice/merchant/info", status_code=401)],
    ids=["moved-host", "refused-key"],
)
def test_our_misconfiguration_leaves_events_open_and_the_poll_quiet(
    pipeline: Pipeline, failure: CryptoCloudError
) -> None:
    """A moved API host or a refused key fails every call alike until an operator fixes the
    setting: events stay open uncounted (never given up), the poll logs and fails nothing."""
    invoice = checkout(pipeline)
    event_id = record(pipeline, invoice, "paid")
    pipeline.payments.fail_next(*[failure] * 30)  # type: ignore[attr-defined]
    pipeline.send(task_names.PROCESS_PAYMENT_EVENT, event_id)
    pipeline.send(task_names.POLL_PENDING_INVOICES)
    results = pipeline.drain()
    assert (task_names.POLL_PENDING_INVOICES, 0) in results
    open_event = event(pipeline, event_id)
    assert open_event.processed_at is None and open_event.attempts == 0
    assert open_event.last_error == str(failure)


def test_stand_in_lagging_behind_its_postback_is_settled_once_it_catches_up(
    pipeline: Pipeline, cryptocloud_sandbox: CryptoCloudSandbox,
) -> None:
    """The CryptoCloud stand-in with its lag switch on, through the real client: the postback's
    event stays open while merchant/info says created, and the poll after the lag activates."""
    cryptocloud_sandbox.configure(info_lag_seconds=60)
    client = CryptoCloudClient(base_url=cryptocloud_sandbox.base_url,
                               api_key=SecretStr(cryptocloud_sandbox.config.api_key),
                               shop_id=SecretStr(cryptocloud_sandbox.config.shop_id))
    pipeline.payments = client
    with client:
        invoice = checkout(pipeline)
        cryptocloud_sandbox.pay(f"INV-{invoice.uuid}")
        event_id = record(pipeline, invoice, "paid")  # its postback arrived at once
        pipeline.send(task_names.PROCESS_PAYMENT_EVENT, event_id)
        pipeline.drain()
        assert event(pipeline, event_id).processed_at is None
        assert access_of(pipeline) is None

        cryptocloud_sandbox.advance_clock(timedelta(seconds=61))
        pipeline.send(task_names.POLL_PENDING_INVOICES)
        pipeline.drain()
    access = access_of(pipeline)
    assert access is not None and access.status == "active"
    assert event(pipeline, event_id).processed_at is not None
