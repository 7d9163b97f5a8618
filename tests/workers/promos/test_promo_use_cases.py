"""Promo and gift codes in-process, on SQLite and PostgreSQL: admin commands, redeeming, the
discounted invoice, the use confirmed by the payment, gifts, refusals, released uses, /export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiogram.methods import SendDocument
from aiogram.types import BufferedInputFile
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from infra.cryptocloud import CryptoCloudClient
from infra.migrate import seed_plans
from infra.sandbox.cryptocloud import CryptoCloudSandbox
from infra.settings import SANDBOX_CHANNEL_ID, load_settings
from models.sandbox_reset import forget_subscribers
from models.schema import (
    Access,
    AccessHistory,
    CommissionEntry,
    Invoice,
    Plan,
    PromoCode,
    PromoRedemption,
    Referral,
    Referrer,
)
from tests.workers.harness import Pipeline, add_user, make_pipeline
from tests.workers.payments.conftest import report, texts_to
from workers.context import use_context

ADMIN, ANN, BOB, REF = 100, 8101, 8102, 8103
MONTH = "month"


@pytest.fixture
def ctx(db_url: str, engine: Any, session_factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    """A pipeline with the default plan ($10, 30 days), an admin and three users."""
    with session_factory.begin() as session:
        seed_plans(session, load_settings(_env_file=None))
    for user_id in (ANN, BOB, REF):
        add_user(session_factory, user_id)
    pipeline = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine,
                             admin_ids=str(ADMIN))
    with use_context(pipeline):
        yield pipeline


_keys = iter(range(10**6))


def admin(ctx: Pipeline, name: str, text: str, *args: Any, actor: int = ADMIN) -> None:
    command = {"actor_id": actor, "text": text, "request_key": f"m{next(_keys)}"}
    ctx.send(name, command, *args)
    ctx.drain()


def add_code(ctx: Pipeline, args: str) -> None:
    admin(ctx, task_names.ADMIN_PROMO_ADD, f"/promo_add {args}", args)


def redeem(ctx: Pipeline, user_id: int, code: str, key: str | None = None) -> str:
    """The user sends the code; the bot's one answer to them."""
    before = len(texts_to(ctx, user_id))
    ctx.send(task_names.REDEEM_PROMO, user_id, code, key or f"r{next(_keys)}")
    ctx.drain()
    return "\n".join(texts_to(ctx, user_id)[before:])


def checkout(ctx: Pipeline, user_id: int) -> Invoice:
    ctx.send(task_names.CHECKOUT, user_id, MONTH, f"tap{next(_keys)}")
    ctx.drain()
    return checkout_latest(ctx, user_id)


def checkout_latest(ctx: Pipeline, user_id: int) -> Invoice:
    with ctx.sessions() as session:
        return session.scalars(select(Invoice).where(Invoice.user_id == user_id)
                               .order_by(Invoice.id.desc())).first()  # type: ignore[return-value]


def code_row(ctx: Pipeline, code: str) -> PromoCode:
    with ctx.sessions() as session:
        return session.scalars(select(PromoCode).where(PromoCode.code == code)
                               .order_by(PromoCode.id.desc())).first()  # type: ignore[return-value]


def redemptions(ctx: Pipeline, user_id: int | None = None) -> list[PromoRedemption]:
    with ctx.sessions() as session:
        query = select(PromoRedemption).order_by(PromoRedemption.id)
        if user_id is not None:
            query = query.where(PromoRedemption.user_id == user_id)
        return list(session.scalars(query))


def history(ctx: Pipeline, action: str) -> list[AccessHistory]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AccessHistory).where(AccessHistory.action == action)))


def access_of(ctx: Pipeline, user_id: int) -> Access | None:
    with ctx.sessions() as session:
        return session.scalar(select(Access).where(Access.user_id == user_id,
                                                   Access.chat_id == SANDBOX_CHANNEL_ID))


def near(moment: datetime | None, expected: datetime) -> bool:
    return moment is not None and abs(moment - expected) < timedelta(minutes=1)


def refused(code: str, text: str) -> str:
    return texts.promo_refused(code=code, text=text)


# Admin commands -----------------------------------------------------------------------------

def test_promo_add_creates_the_code_and_says_how_to_share_it(ctx: Pipeline) -> None:
    """/promo_add stores the code as parsed, records it, and tells the admin its deep link."""
    add_code(ctx, "spring 20% uses=5 until=2099-12-31 plans=month new_only")
    row = code_row(ctx, "SPRING")
    assert (row.kind, row.percent_off, row.max_uses, row.uses, row.plans, row.new_only,
            row.active) == ("percent", Decimal("20.00"), 5, 0, MONTH, True, True)
    assert row.ends_at == datetime(2100, 1, 1, tzinfo=UTC)
    assert texts_to(ctx, ADMIN) == [texts.promo_added(code="SPRING", offer="20% off")]
    assert "/start promo_SPRING" in texts_to(ctx, ADMIN)[0]
    assert [row.actor_id for row in history(ctx, "promo_added")] == [ADMIN]


def test_promo_add_refuses_a_taken_name_or_a_plan_not_on_sale(ctx: Pipeline) -> None:
    """A live code's name and an unknown plan are refused with the reason; nothing is added."""
    add_code(ctx, "SPRING 20%")
    add_code(ctx, "spring 5usd")
    add_code(ctx, "OTHER 10% plans=yearly")
    assert texts_to(ctx, ADMIN)[1:] == [
        texts.promo_exists(code="SPRING"),
        texts.promo_unknown_plans(plans=["yearly"], on_sale=[MONTH])]
    with ctx.sessions() as session:
        assert session.scalars(select(PromoCode.code)).all() == ["SPRING"]


def test_pause_resume_and_delete(ctx: Pipeline) -> None:
    """/promo_off pauses, /promo_on resumes, /promo_delete deletes; a deleted name is free
    again and the old row (with its redemptions) stays."""
    add_code(ctx, "SPRING 20%")
    assert redeem(ctx, ANN, "spring").startswith("Code SPRING applied")
    admin(ctx, task_names.ADMIN_PROMO_SET_ACTIVE, "/promo_off SPRING", "SPRING", False)
    assert redeem(ctx, BOB, "SPRING") == refused("SPRING", texts.PROMO_PAUSED)
    admin(ctx, task_names.ADMIN_PROMO_SET_ACTIVE, "/promo_on SPRING", "SPRING", True)
    assert redeem(ctx, BOB, "SPRING").startswith("Code SPRING applied")
    admin(ctx, task_names.ADMIN_PROMO_DELETE, "/promo_delete SPRING", "SPRING")
    assert redeem(ctx, REF, "SPRING") == refused("SPRING", texts.PROMO_UNKNOWN)
    admin(ctx, task_names.ADMIN_PROMO_DELETE, "/promo_delete SPRING", "SPRING")
    add_code(ctx, "SPRING 7d")
    assert texts_to(ctx, ADMIN) == [
        texts.promo_added(code="SPRING", offer="20% off"),
        texts.promo_state_set(code="SPRING", active=False),
        texts.promo_state_set(code="SPRING", active=True),
        texts.promo_deleted(code="SPRING"),
        texts.promo_not_found(code="SPRING"),
        texts.promo_added(code="SPRING", offer="7 free days")]
    assert len(redemptions(ctx)) == 2  # ANN's and BOB's stay with the deleted code
    assert [row.action for row in history(ctx, "promo_paused") + history(ctx, "promo_resumed")
            + history(ctx, "promo_deleted")] == ["promo_paused", "promo_resumed",
                                                 "promo_deleted"]


def test_a_non_admin_actor_changes_nothing_and_is_recorded(ctx: Pipeline) -> None:
    """Queued with a non-admin as the actor, promo tasks change nothing and record a refusal."""
    add_code(ctx, "SPRING 20%")
    admin(ctx, task_names.ADMIN_PROMO_ADD, "/promo_add EVIL 99%", "EVIL 99%", actor=ANN)
    admin(ctx, task_names.ADMIN_PROMO_SET_ACTIVE, "/promo_off SPRING", "SPRING", False, actor=ANN)
    admin(ctx, task_names.ADMIN_PROMO_DELETE, "/promo_delete SPRING", "SPRING", actor=ANN)
    row = code_row(ctx, "SPRING")
    assert row.active and row.deleted_at is None
    assert code_row(ctx, "EVIL") is None
    assert [row.user_id for row in history(ctx, "admin_refused")] == [ANN, ANN, ANN]
    assert texts_to(ctx, ANN) == []


# A discount ---------------------------------------------------------------------------------

def test_a_discount_prices_the_next_invoice_and_its_payment_uses_it(ctx: Pipeline) -> None:
    """A redeemed 20% code makes the next invoice $8.00 at CryptoCloud and in the pay link;
    paying it turns the reservation into a use, named in the payment's history row."""
    add_code(ctx, "SPRING 20% uses=10")
    answer = redeem(ctx, ANN, "Spring")
    assert answer == texts.promo_discount_applied(code="SPRING", offer="20% off", plans=None,
                                                  until=None)
    assert code_row(ctx, "SPRING").uses == 1
    (reserved,) = redemptions(ctx, ANN)
    assert reserved.status == "reserved"
    [redeemed] = history(ctx, "promo_redeemed")
    assert json.loads(redeemed.details or "")["code"] == "SPRING"

    invoice = checkout(ctx, ANN)
    assert (invoice.amount_usd, invoice.promo_redemption_id) == (Decimal("8.00"), reserved.id)
    assert [created.amount_usd for created in ctx.payments.created] == [  # type: ignore[attr-defined]
        Decimal("8.00")]
    assert "$8.00" in texts_to(ctx, ANN)[-1]

    report(ctx, invoice, "paid")
    ctx.drain()
    access = access_of(ctx, ANN)
    assert access is not None and access.status == "active"
    (used,) = redemptions(ctx, ANN)
    assert (used.status, used.invoice_id) == ("used", invoice.id)
    assert code_row(ctx, "SPRING").uses == 1
    [activated] = history(ctx, "payment_activated")
    assert json.loads(activated.details or "")["promo"] == "SPRING"


def test_after_its_payment_the_next_invoice_is_at_full_price(ctx: Pipeline) -> None:
    """A discount is for one payment: the renewal after it costs the full price."""
    add_code(ctx, "SPRING 2.50usd")
    redeem(ctx, ANN, "SPRING")
    first = checkout(ctx, ANN)
    report(ctx, first, "paid")
    ctx.drain()
    second = checkout(ctx, ANN)
    assert (first.amount_usd, second.amount_usd) == (Decimal("7.50"), Decimal("10.00"))
    assert second.promo_redemption_id is None


def test_the_commission_is_on_the_discounted_amount(ctx: Pipeline) -> None:
    """A referred subscriber paying $8.00 with a code earns their 10 % referrer $0.80."""
    now = datetime.now(UTC)
    with ctx.sessions.begin() as session:
        session.add(Referrer(user_id=REF, pct=Decimal(10), created_at=now, updated_at=now))
        session.add(Referral(referred_user_id=ANN, referrer_id=REF, created_at=now))
    add_code(ctx, "SPRING 20%")
    redeem(ctx, ANN, "SPRING")
    invoice = checkout(ctx, ANN)
    report(ctx, invoice, "paid")
    ctx.drain()
    with ctx.sessions() as session:
        assert session.scalars(select(CommissionEntry.amount)).all() == [Decimal("0.80")]


def test_a_code_redeemed_after_opening_an_invoice_opens_one_at_the_new_price(
        ctx: Pipeline) -> None:
    """The open full-price invoice is not reused once a code applies: a new one is made."""
    full = checkout(ctx, ANN)
    add_code(ctx, "SPRING 20%")
    redeem(ctx, ANN, "SPRING")
    discounted = checkout(ctx, ANN)
    again = checkout(ctx, ANN)
    assert full.amount_usd == Decimal("10.00")
    assert discounted.id != full.id and discounted.amount_usd == Decimal("8.00")
    assert again.id == discounted.id


def test_a_code_for_other_plans_leaves_the_price(ctx: Pipeline) -> None:
    """A discount limited to plans the user does not buy changes nothing at checkout."""
    add_code(ctx, "SPRING 20%")
    with ctx.sessions.begin() as session:
        session.execute(update(PromoCode).values(plans="year"))
    redeem(ctx, ANN, "SPRING")
    assert checkout(ctx, ANN).amount_usd == Decimal("10.00")


def test_a_paused_code_stops_discounting_new_invoices(ctx: Pipeline) -> None:
    """Pausing a leaked code takes effect at once, also for users who already redeemed it."""
    add_code(ctx, "SPRING 20%")
    redeem(ctx, ANN, "SPRING")
    admin(ctx, task_names.ADMIN_PROMO_SET_ACTIVE, "/promo_off SPRING", "SPRING", False)
    assert checkout(ctx, ANN).amount_usd == Decimal("10.00")


# A gift -------------------------------------------------------------------------------------

def test_a_gift_grants_paid_days_and_the_invite_without_an_invoice(ctx: Pipeline) -> None:
    """A 7-day gift: paid access (not a trial) through the access rules, a history row
    naming the code, the invite as after a payment, and no invoice."""
    add_code(ctx, "GIFT7 7d")
    redeem(ctx, ANN, "gift7")
    access = access_of(ctx, ANN)
    assert access is not None
    assert (access.status, access.is_trial) == ("active", False)
    assert near(access.paid_through, datetime.now(UTC) + timedelta(days=7))
    [gift] = history(ctx, "promo_gift")
    assert (gift.source, gift.paid_through_after) == ("user", access.paid_through)
    assert json.loads(gift.details or "") | {"redemption_id": 0} == {
        "code": "GIFT7", "days": 7, "redemption_id": 0}
    messages = texts_to(ctx, ANN)
    assert messages[0] == texts.promo_gift_applied(code="GIFT7", days=7,
                                                   paid_through=access.paid_through)
    assert "invite link" in messages[1]
    (used,) = redemptions(ctx, ANN)
    assert used.status == "used" and code_row(ctx, "GIFT7").uses == 1
    with ctx.sessions() as session:
        assert session.scalars(select(Invoice)).all() == []


def test_a_gift_stacks_on_paid_time(ctx: Pipeline) -> None:
    """A gift adds its days on top of what is left, like a renewal."""
    add_code(ctx, "GIFT7 7d")
    add_code(ctx, "GIFT3 3d")
    redeem(ctx, ANN, "GIFT7")
    redeem(ctx, ANN, "GIFT3")
    access = access_of(ctx, ANN)
    assert access is not None and near(access.paid_through,
                                       datetime.now(UTC) + timedelta(days=10))


# Refusals and exactly once -------------------------------------------------------------------

def test_each_refusal_reaches_the_user_precisely(ctx: Pipeline) -> None:
    """Unknown, malformed, used up, new subscribers only, already used, expired: each user
    hears why, in their own words, and nothing is granted."""
    add_code(ctx, "ONCE 7d uses=1")
    add_code(ctx, "NEWBIE 20% new_only")
    add_code(ctx, "OLD 20%")
    with ctx.sessions.begin() as session:
        session.execute(update(PromoCode).where(PromoCode.code == "OLD")
                        .values(ends_at=datetime.now(UTC) - timedelta(seconds=1)))
        plan_id = session.scalars(select(Plan.id)).one()
        session.add(Invoice(order_id="o-paid", user_id=BOB, plan_id=plan_id,
                            amount_usd=Decimal(10), status="paid",
                            activated_at=datetime.now(UTC)))
    assert redeem(ctx, ANN, "NOPE") == refused("NOPE", texts.PROMO_UNKNOWN)
    assert redeem(ctx, ANN, "no pe;") == refused("no pe;", texts.PROMO_UNKNOWN)
    assert redeem(ctx, ANN, "ONCE").startswith("Code ONCE: 7 free days")
    assert redeem(ctx, ANN, "ONCE") == refused("ONCE", texts.PROMO_ALREADY_USED)
    assert redeem(ctx, BOB, "ONCE") == refused("ONCE", texts.PROMO_USED_UP)
    assert redeem(ctx, BOB, "NEWBIE") == refused("NEWBIE", texts.PROMO_NEW_ONLY)
    assert redeem(ctx, ANN, "OLD") == refused("OLD", texts.PROMO_EXPIRED)
    assert access_of(ctx, BOB) is None
    assert code_row(ctx, "ONCE").uses == 1
    assert [json.loads(row.details or "")["reason"] for row in history(ctx, "promo_refused")] == [
        "unknown", "unknown", "already_used", "used_up", "new_only", "expired"]


def test_a_redelivered_redemption_answers_and_counts_once(ctx: Pipeline) -> None:
    """The same request delivered twice: one answer, one use, one grant."""
    add_code(ctx, "GIFT7 7d")
    redeem(ctx, ANN, "GIFT7", key="same")
    assert redeem(ctx, ANN, "GIFT7", key="same") == ""
    assert code_row(ctx, "GIFT7").uses == 1
    assert len(history(ctx, "promo_gift")) == 1


def test_redeeming_a_held_discount_again_takes_no_second_use(ctx: Pipeline) -> None:
    """A user sending the same discount code twice keeps one reservation and one use."""
    add_code(ctx, "SPRING 20% uses=2")
    redeem(ctx, ANN, "SPRING")
    assert redeem(ctx, ANN, "SPRING").startswith("Code SPRING applied")
    assert code_row(ctx, "SPRING").uses == 1 and len(redemptions(ctx)) == 1


# Released uses ------------------------------------------------------------------------------

def _age_reservation(ctx: Pipeline, user_id: int, *, hours: int) -> None:
    with ctx.sessions.begin() as session:
        session.execute(update(PromoRedemption).where(PromoRedemption.user_id == user_id)
                        .values(reserved_at=datetime.now(UTC) - timedelta(hours=hours)))


def test_an_abandoned_reservation_gives_its_use_back(ctx: Pipeline) -> None:
    """The last use, held by an invoice that expired unpaid days ago, goes to the next user."""
    add_code(ctx, "LAST 20% uses=1")
    redeem(ctx, ANN, "LAST")
    invoice = checkout(ctx, ANN)
    assert redeem(ctx, BOB, "LAST") == refused("LAST", texts.PROMO_USED_UP)
    _age_reservation(ctx, ANN, hours=49)
    with ctx.sessions.begin() as session:
        session.execute(update(Invoice).where(Invoice.id == invoice.id).values(
            status="canceled", updated_at=datetime.now(UTC) - timedelta(days=2)))
    assert redeem(ctx, BOB, "LAST").startswith("Code LAST applied")
    assert [(r.user_id, r.status) for r in redemptions(ctx)] == [(ANN, "released"),
                                                                 (BOB, "reserved")]
    assert code_row(ctx, "LAST").uses == 1
    assert checkout(ctx, ANN).amount_usd == Decimal("10.00")


@pytest.mark.parametrize(("status", "canceled_ago"), [
    ("created", timedelta(0)), ("canceled", timedelta(hours=2))])
def test_a_reservation_whose_invoice_can_still_be_paid_keeps_its_use(
        ctx: Pipeline, status: str, canceled_ago: timedelta) -> None:
    """Past the hold, an invoice still open, or canceled within the late-payment window, keeps
    the use: money that can still arrive finds it."""
    add_code(ctx, "LAST 20% uses=1")
    redeem(ctx, ANN, "LAST")
    invoice = checkout(ctx, ANN)
    _age_reservation(ctx, ANN, hours=49)
    with ctx.sessions.begin() as session:
        session.execute(update(Invoice).where(Invoice.id == invoice.id).values(
            status=status, updated_at=datetime.now(UTC) - canceled_ago))
    assert redeem(ctx, BOB, "LAST") == refused("LAST", texts.PROMO_USED_UP)
    assert [r.status for r in redemptions(ctx)] == ["reserved"]


def test_a_reservation_never_checked_out_is_released_after_the_hold(ctx: Pipeline) -> None:
    """A user who redeemed and never opened an invoice holds the use for the hold only."""
    add_code(ctx, "LAST 20% uses=1")
    redeem(ctx, ANN, "LAST")
    _age_reservation(ctx, ANN, hours=47)
    assert redeem(ctx, BOB, "LAST") == refused("LAST", texts.PROMO_USED_UP)
    _age_reservation(ctx, ANN, hours=49)
    assert redeem(ctx, BOB, "LAST").startswith("Code LAST applied")


def test_a_released_user_may_redeem_again_while_there_is_room(ctx: Pipeline) -> None:
    """A lapsed reservation is not a use: its user can redeem the code again."""
    add_code(ctx, "SPRING 20% uses=1")
    redeem(ctx, ANN, "SPRING")
    _age_reservation(ctx, ANN, hours=49)
    redeem(ctx, BOB, "SPRING")  # releases ANN's and takes the use
    assert redeem(ctx, ANN, "SPRING") == refused("SPRING", texts.PROMO_USED_UP)
    with ctx.sessions.begin() as session:
        session.execute(update(PromoCode).values(max_uses=2))
    assert redeem(ctx, ANN, "SPRING").startswith("Code SPRING applied")
    assert [(r.user_id, r.status) for r in redemptions(ctx)] == [(ANN, "reserved"),
                                                                 (BOB, "reserved")]


def test_late_money_on_a_released_reservation_is_honoured(ctx: Pipeline) -> None:
    """An invoice paid after its reservation was released still activates, and takes its
    use back when there is room."""
    add_code(ctx, "SPRING 20% uses=2")
    redeem(ctx, ANN, "SPRING")
    invoice = checkout(ctx, ANN)
    with ctx.sessions.begin() as session:
        session.execute(update(PromoRedemption).values(status="released"))
        session.execute(update(PromoCode).values(uses=0))
    report(ctx, invoice, "paid")
    ctx.drain()
    assert access_of(ctx, ANN) is not None
    assert [r.status for r in redemptions(ctx)] == ["used"]
    assert code_row(ctx, "SPRING").uses == 1


# /export ------------------------------------------------------------------------------------

def test_export_lists_each_users_redemptions_in_a_last_column(ctx: Pipeline) -> None:
    """users.csv keeps its columns and adds promo_codes, `CODE:status` per redemption."""
    add_code(ctx, "SPRING 20%")
    add_code(ctx, "GIFT7 7d")
    redeem(ctx, ANN, "SPRING")
    redeem(ctx, ANN, "GIFT7")
    admin(ctx, task_names.ADMIN_EXPORT_USERS, "/export")
    (call,) = ctx.telegram.calls_of("sendDocument")
    assert isinstance(call, SendDocument) and isinstance(call.document, BufferedInputFile)
    reader = csv.reader(io.StringIO(call.document.data.decode()))
    header = next(reader)
    assert header[:10] == ["user_id", "username", "first_name", "status", "plan",
                           "paid_through", "trial_used_at", "referrer_id", "blocked_bot_at",
                           "created_at"]
    assert header[-1] == "promo_codes"
    rows = {row[0]: row[-1] for row in reader}
    assert rows[str(ANN)] == "SPRING:reserved;GIFT7:used"
    assert rows[str(BOB)] == ""



def test_the_cryptocloud_invoice_is_for_the_discounted_price(
        ctx: Pipeline, cryptocloud_sandbox: CryptoCloudSandbox) -> None:
    """Through the real client, the CryptoCloud stand-in's invoice is $8.00 for a 20 % code;
    paying it there in full activates access and uses the code."""
    client = CryptoCloudClient(base_url=cryptocloud_sandbox.base_url,
                               api_key=SecretStr(cryptocloud_sandbox.config.api_key),
                               shop_id=SecretStr(cryptocloud_sandbox.config.shop_id))
    ctx.payments = client
    with client:
        add_code(ctx, "SPRING 20%")
        redeem(ctx, ANN, "SPRING")
        invoice = checkout(ctx, ANN)
        assert cryptocloud_sandbox.invoice(f"INV-{invoice.uuid}").amount_usd == Decimal("8.00")
        cryptocloud_sandbox.pay(f"INV-{invoice.uuid}")
        ctx.send(task_names.POLL_PENDING_INVOICES)
        ctx.drain()
    access = access_of(ctx, ANN)
    assert access is not None and access.status == "active"
    assert [r.status for r in redemptions(ctx, ANN)] == ["used"]


def test_a_discount_moves_to_the_newest_invoice_and_the_older_is_canceled(
        ctx: Pipeline) -> None:
    """One discount, one payment: checking out another plan with the same code cancels the
    older discounted invoice at CryptoCloud, and the poll then closes it without a word."""
    with ctx.sessions.begin() as session:
        seed_plans(session, load_settings(
            _env_file=None, plans="month:30:10.00:1 month,year:365:100.00:1 year"))
    add_code(ctx, "SPRING 20%")
    redeem(ctx, ANN, "SPRING")
    month = checkout(ctx, ANN)
    ctx.send(task_names.CHECKOUT, ANN, "year", "tap-year")
    ctx.drain()
    year = checkout_latest(ctx, ANN)
    assert (month.amount_usd, year.amount_usd) == (Decimal("8.00"), Decimal("80.00"))
    assert month.promo_redemption_id == year.promo_redemption_id is not None
    assert month.uuid is not None
    assert ctx.payments.invoices[month.uuid].status == "canceled"  # type: ignore[attr-defined]
    said = len(texts_to(ctx, ANN))
    ctx.send(task_names.POLL_PENDING_INVOICES)
    ctx.drain()
    with ctx.sessions() as session:
        assert session.get_one(Invoice, month.id).status == "canceled"
    assert len(texts_to(ctx, ANN)) == said
    report(ctx, year, "paid")
    ctx.drain()
    assert [r.status for r in redemptions(ctx, ANN)] == ["used"]


def test_the_sandbox_reset_keeps_the_codes_with_their_uses_back_at_zero(ctx: Pipeline) -> None:
    """"Reset world" forgets who redeemed what; the codes stay (they are offers, like plans)
    with no use taken, so the reset world can redeem them again."""
    add_code(ctx, "ONCE 7d uses=1")
    redeem(ctx, ANN, "ONCE")
    with ctx.sessions.begin() as session:
        forget_subscribers(session, now=datetime.now(UTC))
    assert code_row(ctx, "ONCE").uses == 0
    assert redemptions(ctx) == []
    add_user(ctx.sessions, BOB)
    assert redeem(ctx, BOB, "ONCE").startswith("Code ONCE: 7 free days")
