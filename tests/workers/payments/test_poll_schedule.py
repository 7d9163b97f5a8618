"""The fallback poll at scale: due invoices only, <= 100 ids per call, a bound on calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import chain

from sqlalchemy import select

from infra.cryptocloud.fake import FakePaymentProvider
from infra.settings import Settings
from models.schema import Invoice, Plan
from tests.workers.harness import CountingProvider, Pipeline
from tests.workers.payments.conftest import SUBSCRIBER, access_of
from workers.payments import polling

NOW = datetime.now(UTC).replace(microsecond=0)
EVERY = 60


def open_invoices(ctx: Pipeline, count: int, *, age: timedelta = timedelta(minutes=5),
                  status: str = "created", changed_ago: timedelta = timedelta(0)) -> list[str]:
    """`count` invoices at CryptoCloud and ours, stored as checkout stores them (due now)."""
    provider = ctx.payments
    assert isinstance(provider, FakePaymentProvider)
    uuids = []
    with ctx.sessions.begin() as session:
        plan = session.scalars(select(Plan)).first()
        assert plan is not None
        for _ in range(count):
            created = provider.create_invoice(order_id=f"ord_{len(provider.created)}",
                                              amount_usd=plan.price_usd, ttl=timedelta(days=2))
            session.add(Invoice(
                uuid=created.uuid, order_id=f"ord_{created.uuid}", user_id=SUBSCRIBER,
                plan_id=plan.id, amount_usd=plan.price_usd, status=status,
                expires_at=NOW - age + timedelta(days=2), created_at=NOW - age,
                updated_at=NOW - changed_ago, next_poll_at=NOW - timedelta(seconds=1)))
            uuids.append(created.uuid)
    return uuids


def counting(pipeline: Pipeline, **settings: object) -> CountingProvider:
    provider = CountingProvider()
    pipeline.payments = provider
    if settings:
        pipeline.settings = Settings.model_validate(
            {**pipeline.settings.model_dump(), **settings})
    return provider


def next_polls(ctx: Pipeline, uuids: list[str]) -> list[datetime | None]:
    with ctx.sessions() as session:
        by_uuid = {row.uuid: row.next_poll_at for row in session.execute(
            select(Invoice.uuid, Invoice.next_poll_at).where(Invoice.uuid.in_(uuids)))}
    return [by_uuid[uuid] for uuid in uuids]


def test_one_run_asks_about_every_due_invoice_in_calls_of_at_most_100(
    pipeline: Pipeline,
) -> None:
    """250 open invoices, the last one paid with its postback lost: one run asks about all of
    them in three calls (100, 100, 50) and the payment activates (it used to take 100 a run)."""
    provider = counting(pipeline)
    uuids = open_invoices(pipeline, 250)
    provider.set_state(uuids[-1], "paid")  # type: ignore[arg-type]
    run = polling.poll_due(pipeline, now=NOW, every=EVERY)
    assert [len(call) for call in provider.info_calls] == [100, 100, 50]
    assert sorted(chain(*provider.info_calls)) == sorted(uuids)
    assert (run.calls, run.asked, run.news, run.behind) == (3, 250, 1, 0)
    pipeline.drain()
    access = access_of(pipeline)
    assert access is not None and access.status == "active"


def test_a_young_invoice_is_asked_about_again_at_the_next_run_not_before(
    pipeline: Pipeline,
) -> None:
    """Polled now, a young invoice is not due again in this interval but is at the next run,
    even when that run starts a little early."""
    provider = counting(pipeline)
    uuids = open_invoices(pipeline, 3)
    polling.poll_due(pipeline, now=NOW, every=EVERY)
    assert next_polls(pipeline, uuids) == [NOW + timedelta(seconds=EVERY)] * 3
    polling.poll_due(pipeline, now=NOW + timedelta(seconds=5), every=EVERY)
    assert len(provider.info_calls) == 1
    polling.poll_due(pipeline, now=NOW + timedelta(seconds=EVERY - 2), every=EVERY)
    assert len(provider.info_calls) == 2


def test_old_open_invoices_are_asked_about_rarely(pipeline: Pipeline) -> None:
    """A two-hour-old open invoice is asked about every 3 minutes, not at every run."""
    provider = counting(pipeline)
    uuids = open_invoices(pipeline, 2, age=timedelta(hours=2))
    for minute in range(7):
        polling.poll_due(pipeline, now=NOW + timedelta(minutes=minute), every=EVERY)
    assert len(provider.info_calls) == 3  # minutes 0, 3 and 6
    assert next_polls(pipeline, uuids) == [NOW + timedelta(minutes=9)] * 2


def test_invoices_that_cannot_change_are_never_asked_about(pipeline: Pipeline) -> None:
    """Paid, and canceled longer ago than a day: off the schedule without a call; a recently
    canceled one is still asked about (late money is honoured)."""
    provider = counting(pipeline)
    paid = open_invoices(pipeline, 1, status="paid")
    long_canceled = open_invoices(pipeline, 1, status="canceled", changed_ago=timedelta(days=2))
    canceled = open_invoices(pipeline, 1, status="canceled", changed_ago=timedelta(hours=2))
    polling.poll_due(pipeline, now=NOW, every=EVERY)
    assert provider.info_calls == [canceled]
    assert next_polls(pipeline, paid + long_canceled) == [None, None]
    assert next_polls(pipeline, canceled) == [NOW + timedelta(minutes=10)]


def test_the_call_bound_leaves_the_rest_due_for_the_next_run_oldest_due_first(
    pipeline: Pipeline,
) -> None:
    """POLL_MAX_CALLS_PER_MINUTE=2: a run makes two calls, says how many are left, and the
    next run starts with those before the ones just asked about."""
    provider = counting(pipeline, poll_max_calls_per_minute=2)
    uuids = open_invoices(pipeline, 250)
    first = polling.poll_due(pipeline, now=NOW, every=EVERY)
    assert (first.calls, first.asked, first.behind) == (2, 200, 50)
    polling.poll_due(pipeline, now=NOW + timedelta(seconds=EVERY), every=EVERY)
    assert [len(call) for call in provider.info_calls] == [100, 100, 100, 100]
    assert set(uuids) - set(chain(*provider.info_calls[:2])) <= set(provider.info_calls[2])


def test_a_run_started_by_hand_asks_about_what_is_next_even_if_not_yet_due(
    pipeline: Pipeline,
) -> None:
    """The pay page's nudge (a run without `every`): an invoice polled a moment ago is asked
    about again at once, so a part payment is told within seconds."""
    provider = counting(pipeline)
    uuids = open_invoices(pipeline, 1)
    polling.poll_due(pipeline, now=NOW, every=EVERY)
    provider.set_state(uuids[0], "partial", paid_usd=Decimal("4.00"))  # type: ignore[arg-type]
    run = polling.poll_due(pipeline, now=NOW + timedelta(seconds=1), every=None)
    assert (len(provider.info_calls), run.news) == (2, 1)


def test_a_run_out_of_time_stops_calling_and_leaves_the_rest_due(pipeline: Pipeline) -> None:
    """A slow provider: once the run's time is spent it makes no further call, and what it
    did not ask about is due at the next run (no run is killed mid-call by the time limit)."""
    provider = counting(pipeline)
    uuids = open_invoices(pipeline, 250)
    run = polling.poll_due(pipeline, now=NOW, every=EVERY, run_seconds=0.0)
    assert (run.calls, run.asked, run.behind) == (1, 100, 150)
    polling.poll_due(pipeline, now=NOW + timedelta(seconds=1), every=EVERY)
    assert set(chain(*provider.info_calls)) == set(uuids)
