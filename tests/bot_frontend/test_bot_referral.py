"""/referral and the payout conversation end to end through the dispatcher and RedisStorage."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from models.domain.ledger import DEFAULT_PAYOUT_MINIMUM
from models.schema import CommissionEntry, Invoice, PayoutRequest, Plan, Referral, Referrer
from tests.bot_frontend.conftest import add_user
from tests.bot_frontend.harness import BOT_USERNAME, BotHarness

pytestmark = pytest.mark.anyio
REFERRER, BUYER = 601, 602
ERC20 = "0xCdCDCdCdcdcdcdCdcDcDCdcDcDCdCdcdCdcDCDcD"  # EIP-55 checksummed


@pytest.fixture
def referrer(harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """A 10 % referrer (added after the plans) who earned $5.00 from one buyer they brought."""
    add_user(session_factory, REFERRER)
    add_user(session_factory, BUYER, referred_by_id=REFERRER)
    now = datetime.now(UTC)
    with session_factory.begin() as session:
        session.add(Referrer(user_id=REFERRER, pct=Decimal(10), created_at=now, updated_at=now))
        session.add(Referral(referred_user_id=BUYER, referrer_id=REFERRER, created_at=now))
        invoice = Invoice(order_id="o1", user_id=BUYER, amount_usd=Decimal(50), status="paid",
                          plan_id=session.scalars(select(Plan.id)).one(), activated_at=now)
        session.add(invoice)
        session.flush()
        session.add(CommissionEntry(referrer_id=REFERRER, kind="credit", amount=Decimal(5),
                                    invoice_id=invoice.id, created_at=now))


async def test_referral_before_terms(harness: BotHarness) -> None:
    """Nothing but the terms until they are accepted."""
    await harness.send(BUYER, "/referral")
    assert harness.last_reply() == texts.ACCEPT_TERMS_FIRST


async def test_referral_for_a_non_referrer(harness: BotHarness,
                                           session_factory: sessionmaker[Session]) -> None:
    """Someone outside the programme gets a short explanation."""
    add_user(session_factory, BUYER)
    await harness.send(BUYER, "/referral")
    assert harness.last_reply() == texts.NOT_A_REFERRER


@pytest.mark.usefixtures("referrer")
async def test_referral_overview(harness: BotHarness) -> None:
    """A referrer sees their deep link, people referred, balance and last commissions."""
    await harness.send(REFERRER, "/referral")
    reply = harness.last_reply()
    assert f"https://t.me/{BOT_USERNAME}?start=ref_{REFERRER}" in reply
    assert "People referred: 1" in reply
    assert "Balance: $5.00" in reply
    assert "+$5.00" in reply
    assert harness.buttons() == ["payout_start"]


@pytest.mark.usefixtures("referrer")
async def test_payout_conversation(harness: BotHarness) -> None:
    """network → wallet → amount → confirm sends one referrals.request_payout task."""
    await harness.press(REFERRER, "payout_start")
    assert harness.last_reply() == texts.PAYOUT_CHOOSE_NETWORK
    assert harness.buttons() == ["payout_net:TRC20", "payout_net:BEP20", "payout_net:ERC20",
                                 "payout_cancel"]
    await harness.press(REFERRER, "payout_net:ERC20")
    assert harness.last_reply() == texts.payout_ask_wallet(network="ERC20")
    await harness.send(REFERRER, "0x123")
    assert harness.last_reply().startswith("That address does not look right")
    await harness.send(REFERRER, ERC20)
    assert harness.last_reply() == texts.payout_ask_amount(available=Decimal("5.00"),
                                                           minimum=DEFAULT_PAYOUT_MINIMUM)
    for bad in ("lots", "-1"):
        await harness.send(REFERRER, bad)
        assert harness.last_reply() == texts.payout_bad_amount(
            available=Decimal("5.00"), minimum=DEFAULT_PAYOUT_MINIMUM)
    for refused, reason in (("5.01", "above_available"), ("0.5", "below_minimum")):
        await harness.send(REFERRER, refused)
        assert harness.last_reply() == texts.payout_amount_refused(
            reason=reason, asked=Decimal(refused), minimum=DEFAULT_PAYOUT_MINIMUM,
            available=Decimal("5.00"))
    await harness.send(REFERRER, "4,5")
    assert harness.last_reply() == texts.payout_confirm(network="ERC20", wallet=ERC20,
                                                        amount=Decimal("4.50"))
    query_id = await harness.press(REFERRER, "payout_confirm")
    assert harness.tasks == [
        (task_names.REQUEST_PAYOUT, [REFERRER, "ERC20", ERC20, "4.50", query_id])]
    assert harness.last_reply() == texts.PAYOUT_SENDING
    await harness.send(REFERRER, ERC20)  # the conversation is over: this is no wallet now
    assert harness.last_reply() == texts.PAYOUT_SENDING


@pytest.mark.usefixtures("referrer")
async def test_payout_cancel(harness: BotHarness) -> None:
    """Cancel ends the conversation and nothing is sent."""
    await harness.press(REFERRER, "payout_start")
    await harness.press(REFERRER, "payout_net:TRC20")
    await harness.press(REFERRER, "payout_cancel")
    assert harness.last_reply() == texts.PAYOUT_CANCELED
    await harness.press(REFERRER, "payout_confirm")
    assert harness.tasks == []
    assert harness.callback_answers()[-1].text == texts.PAYOUT_EXPIRED


@pytest.mark.usefixtures("referrer")
async def test_command_mid_conversation_is_obeyed(harness: BotHarness) -> None:
    """A command typed while a wallet is expected runs the command, not the wallet check."""
    await harness.press(REFERRER, "payout_start")
    await harness.press(REFERRER, "payout_net:TRC20")
    await harness.send(REFERRER, "/help")
    assert harness.last_reply() == texts.HELP


@pytest.mark.usefixtures("referrer")
async def test_payout_refused_while_one_is_open(harness: BotHarness,
                                               session_factory: sessionmaker[Session]) -> None:
    """At most one open request: the button explains instead of starting a conversation."""
    with session_factory.begin() as session:
        session.add(PayoutRequest(referrer_id=REFERRER, amount=Decimal(2), network="ERC20",
                                  wallet=ERC20, status="open"))
    await harness.press(REFERRER, "payout_start")
    assert harness.callback_answers()[-1].text == texts.PAYOUT_OPEN_EXISTS
    assert harness.replies() == []


async def test_payout_refused_without_balance(harness: BotHarness,
                                              session_factory: sessionmaker[Session]) -> None:
    """A referrer with nothing earned is told there is nothing to pay out."""
    add_user(session_factory, REFERRER)
    now = datetime.now(UTC)
    with session_factory.begin() as session:
        session.add(Referrer(user_id=REFERRER, pct=Decimal(10), created_at=now, updated_at=now))
    await harness.press(REFERRER, "payout_start")
    assert harness.callback_answers()[-1].text == texts.PAYOUT_NOTHING_AVAILABLE
