"""Checkout never assumes another task ran first, and every refusal reaches the subscriber."""

from __future__ import annotations

from sqlalchemy import select

from infra import task_names, texts
from infra.cryptocloud import CryptoCloudRejected, CryptoCloudUnavailable
from models.schema import Invoice, Plan, User
from tests.workers.harness import Pipeline
from tests.workers.payments.conftest import texts_to

NEWCOMER = 6001


def newcomer() -> dict[str, object]:
    return {"user_id": NEWCOMER, "username": "newcomer", "first_name": "New",
            "last_name": None, "language_code": "en"}


def test_checkout_before_the_user_is_registered_still_sends_the_pay_link(
    pipeline: Pipeline,
) -> None:
    """Workers restarted and checkout ran before users.register: it records the user from the
    profile it carries and the subscriber gets the pay link."""
    pipeline.send(task_names.CHECKOUT, newcomer(), "month", "tap-1")
    pipeline.drain()
    with pipeline.sessions() as session:
        user = session.get(User, NEWCOMER)
        invoice = session.scalar(select(Invoice).where(Invoice.user_id == NEWCOMER))
    assert user is not None and user.first_name == "New"
    assert invoice is not None and invoice.pay_link
    buttons = [call.reply_markup.inline_keyboard[0][0].url
               for call in pipeline.telegram.calls_of("sendMessage")
               if call.chat_id == NEWCOMER]
    assert buttons == [invoice.pay_link]


def test_checkout_with_a_bare_id_of_an_unknown_user_retries_then_tells_them(
    pipeline: Pipeline,
) -> None:
    """A message from an older bot with only an id, and no user row ever appears: after the
    bounded retries the subscriber is told to start again."""
    pipeline.send(task_names.CHECKOUT, NEWCOMER, "month", "tap-1")
    results = pipeline.drain()
    assert ("payments.checkout", "refused") in results
    assert texts_to(pipeline, NEWCOMER) == [texts.ACCOUNT_NOT_FOUND]


def test_checkout_for_a_plan_no_longer_on_sale_tells_the_subscriber(pipeline: Pipeline) -> None:
    """An old plan button pressed after the plan was withdrawn: the subscriber is told so."""
    with pipeline.sessions.begin() as session:
        session.scalars(select(Plan)).one().active = False
    pipeline.send(task_names.CHECKOUT, newcomer(), "month", "tap-1")
    pipeline.drain()
    assert texts_to(pipeline, NEWCOMER) == [texts.CHECKOUT_PLAN_GONE]


def test_checkout_tells_the_subscriber_when_cryptocloud_stays_unreachable(
    pipeline: Pipeline,
) -> None:
    """CryptoCloud unreachable through every retry: one message to the subscriber, no link."""
    outage = CryptoCloudUnavailable("CryptoCloud invoice/create: timed out",
                                    operation="invoice/create")
    pipeline.payments.fail_next(*[outage] * 20)  # type: ignore[attr-defined]
    pipeline.send(task_names.CHECKOUT, newcomer(), "month", "tap-1")
    pipeline.drain()
    assert texts_to(pipeline, NEWCOMER) == [texts.CHECKOUT_FAILED]


def test_checkout_refused_by_cryptocloud_tells_the_subscriber_and_the_admins(
    pipeline: Pipeline,
) -> None:
    """CryptoCloud refusing the invoice: the subscriber is told, and each admin once however
    many subscribers hit the same refusal."""
    refusal = CryptoCloudRejected("CryptoCloud invoice/create rejected (HTTP 400): shop_id",
                                  operation="invoice/create")
    pipeline.payments.fail_next(refusal, refusal)  # type: ignore[attr-defined]
    pipeline.send(task_names.CHECKOUT, newcomer(), "month", "tap-1")
    pipeline.send(task_names.CHECKOUT, {**newcomer(), "user_id": NEWCOMER + 1}, "month", "tap-2")
    pipeline.drain()
    assert texts_to(pipeline, NEWCOMER) == [texts.CHECKOUT_FAILED]
    assert texts_to(pipeline, NEWCOMER + 1) == [texts.CHECKOUT_FAILED]
    for admin in pipeline.settings.admins:
        alerts = [text for text in texts_to(pipeline, admin) if "shop_id" in text]
        assert len(alerts) == 1
