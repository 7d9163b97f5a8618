"""Telegram Stars in the bot: the Stars button, the pre-checkout answer, the payment, /refund."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from kombu.exceptions import OperationalError
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from infra.settings import Settings, load_settings
from models.domain.stars import payment_seal
from models.schema import Invoice, Plan
from tests.bot_frontend.conftest import ADMIN, add_user
from tests.bot_frontend.harness import BotHarness, RedisDown

pytestmark = pytest.mark.anyio
PAYER, OTHER = 7601, 7602
STARS = 250


@pytest.fixture
def settings(db_url: str) -> Settings:
    """One plan sold for $10 or 250 Stars, one admin."""
    return load_settings(_env_file=None, database_url=db_url, admin_ids=str(ADMIN),
                         trial_days=3, plans=f"month:30:10.00/{STARS}:1 month")


def open_invoice(sessions: sessionmaker[Session], *, user_id: int = PAYER,
                 status: str = "created", expires_in: timedelta = timedelta(hours=1)) -> str:
    """A Stars invoice of `user_id` for the plan; its order id (the invoice payload)."""
    now = datetime.now(UTC)
    with sessions.begin() as session:
        plan = session.scalars(select(Plan)).one()
        invoice = Invoice(order_id=f"xtr_{user_id}_{status}", user_id=user_id, plan_id=plan.id,
                          amount_usd=Decimal("3.25"), status=status, method="stars",
                          amount_stars=STARS, stars_usd_rate="0.013", expires_at=now + expires_in,
                          created_at=now, updated_at=now)
        session.add(invoice)
    return invoice.order_id


async def test_the_stars_button_asks_for_a_stars_invoice(
    harness: BotHarness, session_factory: sessionmaker[Session]
) -> None:
    """The plan menu offers both ways to pay; pressing the Stars one queues a Stars checkout."""
    add_user(session_factory, PAYER)
    await harness.send(PAYER, "/start")
    stars_buttons = [data for data in harness.buttons() if data and data.startswith("stars")]
    assert len(stars_buttons) == 1
    assert any(texts.stars(STARS) in button.text for row in harness.last_markup().inline_keyboard
               for button in row)
    query_id = await harness.press(PAYER, stars_buttons[0])
    assert harness.tasks[-1] == (task_names.STARS_CHECKOUT, [
        {"user_id": PAYER, "username": f"u{PAYER}", "first_name": f"user{PAYER}",
         "last_name": None, "language_code": "en"}, "month", query_id])
    assert harness.callback_answers()[-1].text == texts.STARS_CHECKOUT_STARTED


async def test_pre_checkout_for_an_open_invoice_is_accepted(
    harness: BotHarness, session_factory: sessionmaker[Session]
) -> None:
    """An open Stars invoice of the payer at the invoiced amount: ok, and no task queued."""
    add_user(session_factory, PAYER)
    answer = await harness.pre_checkout(PAYER, open_invoice(session_factory), total_amount=STARS)
    assert answer.ok is True
    assert harness.tasks == []


@pytest.mark.parametrize(("case", "reason"), [
    ("paid", "not_open"), ("expired", "expired"), ("plan_off_sale", "plan_gone"),
    ("other_payer", "not_yours"), ("wrong_amount", "price_changed"),
    ("unknown", "unknown_invoice"),
])
async def test_pre_checkout_refuses_what_could_not_be_honoured(
    harness: BotHarness, session_factory: sessionmaker[Session], case: str, reason: str,
) -> None:
    """A closed, expired, foreign, mispriced or unknown invoice, or a plan off sale: refused."""
    add_user(session_factory, PAYER)
    payload = open_invoice(session_factory, status="paid" if case == "paid" else "created",
                           expires_in=-timedelta(minutes=1) if case == "expired"
                           else timedelta(hours=1))
    if case == "plan_off_sale":
        with session_factory.begin() as session:
            session.execute(update(Plan).values(active=False))
    payer = OTHER if case == "other_payer" else PAYER
    amount = STARS + 1 if case == "wrong_amount" else STARS
    answer = await harness.pre_checkout(payer, "nope" if case == "unknown" else payload,
                                        total_amount=amount)
    assert answer.ok is False
    assert answer.error_message == texts.STARS_CHECKOUT_REFUSALS[reason]


async def test_pre_checkout_is_answered_while_redis_is_down(
    harness: BotHarness, session_factory: sessionmaker[Session]
) -> None:
    """The FSM storage down does not keep the 10-second answer from Telegram."""
    add_user(session_factory, PAYER)
    harness.dp.fsm.storage = RedisDown()
    answer = await harness.pre_checkout(PAYER, open_invoice(session_factory), total_amount=STARS)
    assert answer.ok is True


async def test_successful_payment_is_queued_with_its_charge_id_and_sealed(
    harness: BotHarness, settings: Settings,
) -> None:
    """The payment becomes one Stars payment task with Telegram's charge id, under the bot's
    seal (what the worker checks it came from the bot)."""
    await harness.successful_payment(PAYER, "xtr_1", total_amount=STARS, charge_id="stx1")
    seal = payment_seal(key=settings.telegram_token.get_secret_value().encode(), user_id=PAYER,
                        charge_id="stx1", payload="xtr_1", currency="XTR", total_amount=STARS)
    assert harness.tasks == [(task_names.STARS_PAYMENT, [{
        "user_id": PAYER, "charge_id": "stx1", "provider_charge_id": "", "payload": "xtr_1",
        "currency": "XTR", "total_amount": STARS, "seal": seal}])]
    assert harness.last_reply() == texts.STARS_PAYMENT_RECEIVED


async def test_successful_payment_during_an_outage_is_spooled_not_lost(
    harness: BotHarness,
) -> None:
    """Broker and FSM storage down: the payment waits in the spool and is sent once back."""
    harness.producer.failure = OperationalError("Error 111 connecting to redis")
    harness.dp.fsm.storage = RedisDown()
    await harness.successful_payment(PAYER, "xtr_1", total_amount=STARS, charge_id="stx1")
    assert harness.tasks == []
    harness.producer.failure = None
    assert await harness.relay.flush() is True
    assert [name for name, _ in harness.tasks] == [task_names.STARS_PAYMENT]


async def test_refund_queues_the_admin_task(
    harness: BotHarness, session_factory: sessionmaker[Session]
) -> None:
    """/refund <user_id> from an admin queues the refund for that user."""
    add_user(session_factory, PAYER)
    await harness.send(ADMIN, f"/refund {PAYER}")
    (name, args), = harness.tasks
    assert (name, args[1:]) == (task_names.ADMIN_STARS_REFUND, [PAYER])
    assert args[0]["actor_id"] == ADMIN
    assert harness.last_reply() == texts.ADMIN_QUEUED


@pytest.mark.parametrize("args", ["", "abc", "1 2"])
async def test_refund_with_bad_arguments_shows_its_usage(harness: BotHarness, args: str) -> None:
    """A malformed /refund queues nothing and shows the usage line."""
    await harness.send(ADMIN, f"/refund {args}".strip())
    assert harness.tasks == []
    assert harness.last_reply() == texts.USAGE_REFUND


async def test_paysupport_answers_everyone(harness: BotHarness) -> None:
    """/paysupport, which Telegram expects of bots selling digital goods, answers anyone."""
    await harness.send(PAYER, "/paysupport")
    assert harness.last_reply() == texts.PAYSUPPORT
