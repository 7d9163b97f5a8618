"""Referral rules in the bot, through the dispatcher: hold in /referral, the minimum in the payout
conversation, risk flags in /payouts (REFERRAL_HOLD_DAYS=7, PAYOUT_MIN_USD=5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from infra.settings import Settings, load_settings
from models.schema import CommissionEntry, Invoice, PayoutRequest, Plan, Referral, Referrer
from tests.bot_frontend.conftest import ADMIN, add_user
from tests.bot_frontend.harness import BotHarness

pytestmark = pytest.mark.anyio
REFERRER, BUYER, FRIEND, SECOND, THIRD = 701, 702, 703, 704, 705
ERC20 = "0xCdCDCdCdcdcdcdCdcDcDCdcDcDCdCdcdCdcDCDcD"  # EIP-55 checksummed
OTHER_ERC20 = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"
NOW = datetime.now(UTC)
YOUNG = NOW - timedelta(days=2)  # earned two days ago: on hold for five more


@pytest.fixture
def settings(db_url: str) -> Settings:
    """The suite's bot settings with a 7-day hold and a $5.00 minimum payout."""
    return load_settings(_env_file=None, database_url=db_url, admin_ids=str(ADMIN),
                         trial_days=3, referral_hold_days="7", payout_min_usd="5")


def referrer(sessions: sessionmaker[Session], user_id: int, *,
             referred_by: int | None = None) -> None:
    """A 10 % referrer who accepted the terms."""
    add_user(sessions, user_id)
    with sessions.begin() as session:
        session.add(Referrer(user_id=user_id, pct=Decimal(10), created_at=NOW, updated_at=NOW))
        if referred_by is not None:
            session.add(Referral(referred_user_id=user_id, referrer_id=referred_by,
                                 created_at=NOW))


def earned(sessions: sessionmaker[Session], buyer: int, *, commission: str | None,
           at: datetime, referrer_id: int = REFERRER) -> None:
    """`buyer` (brought in by `referrer_id` the first time) paid at `at`, earning `commission`."""
    with sessions() as session:
        known = session.get(Referral, buyer) is not None
    if not known:
        add_user(sessions, buyer, referred_by_id=referrer_id)
        with sessions.begin() as session:
            session.add(Referral(referred_user_id=buyer, referrer_id=referrer_id, created_at=at))
    with sessions.begin() as session:
        number = session.scalar(select(func.count()).select_from(Invoice))
        invoice = Invoice(order_id=f"o{number}", user_id=buyer, amount_usd=Decimal(50),
                          status="paid", plan_id=session.scalars(select(Plan.id)).one(),
                          activated_at=at)
        session.add(invoice)
        session.flush()
        if commission is not None:
            session.add(CommissionEntry(referrer_id=referrer_id, kind="credit",
                                        amount=Decimal(commission), invoice_id=invoice.id,
                                        created_at=at))


def press_button(harness: BotHarness, text: str) -> str:
    """The callback data of the last keyboard's button labelled `text` (to press it)."""
    for row in harness.last_markup().inline_keyboard:
        for button in row:
            if button.text == text:
                assert button.callback_data is not None
                return button.callback_data
    raise AssertionError(f"no button {text!r} in {harness.last_markup()}")


async def open_payout_button(harness: BotHarness) -> None:
    """REFERRER opens /referral and presses its payout button."""
    await harness.send(REFERRER, "/referral")
    await harness.press(REFERRER, press_button(harness, texts.PAYOUT_BUTTON))


async def test_referral_shows_what_is_on_hold_and_when_it_is_released(
    harness: BotHarness, session_factory: sessionmaker[Session]
) -> None:
    """/referral splits the balance into available now and on hold, says when the next part
    becomes payable, the hold period and the minimum payout."""
    referrer(session_factory, REFERRER)
    earned(session_factory, BUYER, commission="6.00", at=NOW - timedelta(days=10))
    earned(session_factory, BUYER, commission="4.00", at=YOUNG)
    await harness.send(REFERRER, "/referral")
    reply = harness.last_reply()
    assert "Balance: $10.00 (available for payout: $6.00)" in reply
    assert (f"On hold: $4.00; the next part becomes payable on {texts.when(YOUNG + timedelta(7))}."
            in reply)
    assert "A commission becomes payable 7 days after the payment that earned it." in reply
    assert "Minimum payout: $5.00" in reply


async def test_referral_without_held_commissions_has_no_hold_line(
    harness: BotHarness, session_factory: sessionmaker[Session]
) -> None:
    """Once every commission is past its week, all of it is available and nothing is on hold."""
    referrer(session_factory, REFERRER)
    earned(session_factory, BUYER, commission="6.00", at=NOW - timedelta(days=7, minutes=1))
    await harness.send(REFERRER, "/referral")
    reply = harness.last_reply()
    assert "Balance: $6.00 (available for payout: $6.00)" in reply
    assert "On hold" not in reply


async def test_payout_button_explains_the_minimum_and_the_hold(
    harness: BotHarness, session_factory: sessionmaker[Session]
) -> None:
    """With $3.00 payable and $4.00 on hold under a $5.00 minimum, the button answers with an
    alert naming all three and the release time; no conversation starts."""
    referrer(session_factory, REFERRER)
    earned(session_factory, BUYER, commission="3.00", at=NOW - timedelta(days=10))
    earned(session_factory, BUYER, commission="4.00", at=YOUNG)
    await open_payout_button(harness)
    alert = harness.callback_answers()[-1]
    assert alert.show_alert
    assert alert.text == (f"The minimum payout is $5.00; you have $3.00 available now ($4.00 on "
                          f"hold, the next part payable {texts.when(YOUNG + timedelta(7))}).")
    assert len(alert.text) <= 200  # Telegram's limit for a callback answer
    assert texts.PAYOUT_CHOOSE_NETWORK not in harness.replies()


async def test_payout_conversation_refuses_an_amount_under_the_minimum(
    harness: BotHarness, session_factory: sessionmaker[Session]
) -> None:
    """The amount prompt states the range; $4.99 is refused with the minimum and what is
    available, nothing is sent; $5 then goes through to the confirmation and one task."""
    referrer(session_factory, REFERRER)
    earned(session_factory, BUYER, commission="6.00", at=NOW - timedelta(days=10))
    earned(session_factory, BUYER, commission="4.00", at=YOUNG)
    await open_payout_button(harness)
    assert harness.last_reply() == texts.PAYOUT_CHOOSE_NETWORK
    await harness.press(REFERRER, press_button(harness, "ERC20"))
    await harness.send(REFERRER, ERC20)
    assert harness.last_reply() == "How much? From $5.00 up to $6.00, for example 12.50."
    await harness.send(REFERRER, "4.99")
    assert harness.last_reply() == (
        "$4.99 is below the minimum payout of $5.00; you have $6.00 available now.")
    await harness.send(REFERRER, "6.01")
    assert harness.last_reply() == (
        "$6.01 is more than the $6.00 available now (the minimum payout is $5.00).")
    assert harness.tasks == []
    await harness.send(REFERRER, "5")
    assert harness.last_reply() == texts.payout_confirm(network="ERC20", wallet=ERC20,
                                                        amount=Decimal("5.00"))
    query_id = await harness.press(REFERRER, press_button(harness, texts.CONFIRM_BUTTON))
    assert harness.tasks == [
        (task_names.REQUEST_PAYOUT, [REFERRER, "ERC20", ERC20, "5.00", query_id])]


def open_request(sessions: sessionmaker[Session], user_id: int, wallet: str, *,
                 status: str = "open", at: datetime = NOW) -> int:
    """A payout request of `user_id` to `wallet` made at `at` (decided unless open); its id."""
    with sessions.begin() as session:
        decided = None if status == "open" else NOW
        request = PayoutRequest(referrer_id=user_id, amount=Decimal("5.00"), network="ERC20",
                                wallet=wallet, status=status, created_at=at,
                                decided_at=decided, decided_by=ADMIN if decided else None)
        session.add(request)
        session.flush()
        return request.id


async def test_payouts_shows_flags_in_plain_words_and_approve_still_works(
    harness: BotHarness, session_factory: sessionmaker[Session]
) -> None:
    """/payouts lists under a request the wallet it shares with a user the referrer brought in
    and the churn among their payers; an unflagged request shows none; Approve still sends
    the decision task."""
    add_user(session_factory, ADMIN)
    referrer(session_factory, REFERRER)
    for buyer in (BUYER, SECOND, THIRD):
        earned(session_factory, buyer, commission="3.00", at=NOW - timedelta(days=10))
    referrer(session_factory, FRIEND, referred_by=REFERRER)
    shared = open_request(session_factory, FRIEND, ERC20.lower(), status="rejected")
    flagged = open_request(session_factory, REFERRER, ERC20)
    plain = open_request(session_factory, FRIEND, OTHER_ERC20, at=NOW + timedelta(minutes=1))
    await harness.send(ADMIN, "/payouts")
    lines = harness.last_reply().splitlines()
    first = lines.index(next(line for line in lines if line.startswith(f"#{flagged}:")))
    assert lines[first + 1] == (
        f"  ⚠ Shared wallet: the same wallet is in the payout requests of user {FRIEND}, "
        f"whom this referrer brought in (request #{shared}).")
    assert lines[first + 2] == (
        "  ⚠ Churn: 3 of the 3 people this referrer brought in who paid never paid a second "
        "time.")
    assert lines[first + 3].startswith(f"#{plain}:")
    assert len(lines) == first + 4  # the unflagged request has no ⚠ line
    await harness.press(ADMIN, press_button(harness, f"{texts.APPROVE_BUTTON} #{flagged}"))
    assert harness.tasks[-1][0] == task_names.DECIDE_PAYOUT
    assert harness.tasks[-1][1][:3] == [flagged, True, ADMIN]


async def test_payouts_without_flags_shows_plain_lines(
    harness: BotHarness, session_factory: sessionmaker[Session]
) -> None:
    """A referrer with one payer and a wallet nobody else used gets no ⚠ line."""
    add_user(session_factory, ADMIN)
    referrer(session_factory, REFERRER)
    earned(session_factory, BUYER, commission="6.00", at=NOW - timedelta(days=10))
    open_request(session_factory, REFERRER, ERC20)
    await harness.send(ADMIN, "/payouts")
    assert "⚠" not in harness.last_reply()
