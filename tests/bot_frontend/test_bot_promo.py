"""Promo codes through the dispatcher: the admin commands, the deep link, the "I have a code"
button and its conversation, and the plan menu's discounted prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from models.domain import roles
from models.schema import Invoice, Plan, PromoCode, PromoRedemption
from tests.bot_frontend.conftest import ADMIN, add_user
from tests.bot_frontend.harness import BotHarness

pytestmark = pytest.mark.anyio
ANN = 801


def profile(user_id: int) -> dict[str, object]:
    return {"user_id": user_id, "username": f"u{user_id}", "first_name": f"user{user_id}",
            "last_name": None, "language_code": "en"}


def action_of(text: str) -> str:
    return text.split(maxsplit=1)[0].removeprefix("/")


def command(text: str, message_id: int = 1) -> dict[str, Any]:
    return {"actor_id": ADMIN, "text": text, "request_key": f"{ADMIN}:{message_id}"}


def add_code(sessions: sessionmaker[Session], code: str, **values: Any) -> int:
    now = datetime.now(UTC)
    values = {"kind": "percent", "percent_off": Decimal(20), **values}
    with sessions.begin() as session:
        row = PromoCode(code=code, uses=0, created_at=now, updated_at=now, **values)
        session.add(row)
        session.flush()
        return row.id


def reserve(sessions: sessionmaker[Session], promo_id: int, user_id: int) -> None:
    now = datetime.now(UTC)
    with sessions.begin() as session:
        session.add(PromoRedemption(promo_id=promo_id, user_id=user_id, status="reserved",
                                    reserved_at=now, created_at=now))


# Admin commands -----------------------------------------------------------------------------

async def test_promo_add_sends_its_task(harness: BotHarness) -> None:
    """A well-formed /promo_add sends admin.promo_add with its arguments and says it is queued."""
    text = "/promo_add SPRING 20% uses=5 until=2099-12-31 plans=month new_only"
    await harness.send(ADMIN, text)
    assert harness.tasks == [(task_names.ADMIN_PROMO_ADD,
                              [command(text), "SPRING 20% uses=5 until=2099-12-31 plans=month "
                                              "new_only"])]
    assert harness.last_reply() == texts.ADMIN_QUEUED


@pytest.mark.parametrize(("args", "problem", "word"), [
    ("", "missing", ""),
    ("SPRING", "missing", "SPRING"),
    ("S 20%", "code", "S"),
    ("SPRING 120%", "offer", "120%"),
    ("SPRING 20% uses=lots", "uses", "lots"),
    ("SPRING 20% until=tomorrow", "until", "tomorrow"),
    ("SPRING 20% until=2020-01-01", "until_past", "2020-01-01"),
    ("SPRING 7d plans=month", "plans_on_gift", "month"),
    ("SPRING 20% forever", "unknown", "forever"),
])
async def test_a_bad_promo_add_names_the_argument(harness: BotHarness, args: str, problem: str,
                                                  word: str) -> None:
    """Each wrong argument is named with what is expected; nothing is sent."""
    await harness.send(ADMIN, f"/promo_add {args}".strip())
    assert harness.last_reply() == texts.promo_bad_argument(problem=problem, word=word)
    assert harness.tasks == []


async def test_promo_add_checks_plans_and_names_before_sending(
        harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """A plan not on sale, or a code that exists, is answered at once; nothing is sent."""
    add_code(session_factory, "SPRING")
    await harness.send(ADMIN, "/promo_add OTHER 10% plans=month,yearly")
    assert harness.last_reply() == texts.promo_unknown_plans(plans=["yearly"], on_sale=["month"])
    await harness.send(ADMIN, "/promo_add spring 10%")
    assert harness.last_reply() == texts.promo_exists(code="SPRING")
    assert harness.tasks == []


async def test_promos_lists_codes_with_uses_limit_and_state(
        harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """/promos shows each live code: offer, uses of the limit, reservations, state, limits."""
    await harness.send(ADMIN, "/promos")
    assert harness.last_reply() == texts.NO_PROMOS
    add_user(session_factory, ANN)
    spring = add_code(session_factory, "SPRING", max_uses=10, plans="month", new_only=True,
                      ends_at=datetime(2100, 1, 1, tzinfo=UTC))
    reserve(session_factory, spring, ANN)
    add_code(session_factory, "GIFT7", kind="gift", percent_off=None, gift_days=7,
             active=False)
    add_code(session_factory, "GONE", deleted_at=datetime.now(UTC))
    await harness.send(ADMIN, "/promos")
    assert harness.last_reply().splitlines() == [
        "SPRING: 20% off · used 0/10 (+1 reserved) · on · until 2099-12-31 · plans month · "
        "new subscribers only",
        "GIFT7: 7 free days · used 0 · paused"]
    assert harness.tasks == []


@pytest.mark.parametrize(("text", "task", "args"), [
    ("/promo_off spring", task_names.ADMIN_PROMO_SET_ACTIVE, ["SPRING", False]),
    ("/promo_on SPRING", task_names.ADMIN_PROMO_SET_ACTIVE, ["SPRING", True]),
    ("/promo_delete SPRING", task_names.ADMIN_PROMO_DELETE, ["SPRING"]),
])
async def test_pause_resume_delete_send_their_task(
        harness: BotHarness, session_factory: sessionmaker[Session], text: str, task: str,
        args: list[Any]) -> None:
    """/promo_off, /promo_on and /promo_delete of an existing code send their task."""
    add_code(session_factory, "SPRING")
    await harness.send(ADMIN, text)
    assert harness.tasks == [(task, [command(text), *args])]


@pytest.mark.parametrize("name", ["promo_off", "promo_on", "promo_delete"])
async def test_pause_resume_delete_check_the_code(harness: BotHarness, name: str) -> None:
    """Without a code, or with one that does not exist, the admin is told; nothing is sent."""
    await harness.send(ADMIN, f"/{name}")
    assert harness.last_reply() == texts.usage_promo_code(command=name)
    await harness.send(ADMIN, f"/{name} NOPE")
    assert harness.last_reply() == texts.promo_not_found(code="NOPE")
    assert harness.tasks == []


@pytest.mark.parametrize("text", ["/promo_add SPRING 20%", "/promos", "/promo_off SPRING",
                                  "/promo_on SPRING", "/promo_delete SPRING"])
async def test_promo_commands_are_for_admins_only(harness: BotHarness, text: str) -> None:
    """Anyone else is refused and the refusal is recorded, as for every admin command."""
    await harness.send(ANN, text)
    assert harness.last_reply() == texts.ADMIN_REFUSED
    assert harness.tasks == [(task_names.ADMIN_AUDIT,
                              [{"actor_id": ANN, "text": text, "request_key": f"{ANN}:1"},
                               ANN, "admin_refused", roles.refusal_details(None, action_of(text))])]


@pytest.mark.parametrize("user", [ANN, ADMIN], ids=["non-admin", "admin"])
@pytest.mark.parametrize("text", ["/promo_add SPRING 20%", "/promos", "/promo_delete SPRING"])
async def test_promo_commands_in_a_group_post_nothing(harness: BotHarness, text: str,
                                                      user: int) -> None:
    """In a group nobody, not even an admin, gets an answer (codes are not for a group to read);
    the refusal is recorded."""
    group = -100_777
    await harness.send(user, text, group=group)
    assert harness.replies() == []
    assert harness.tasks == [(task_names.ADMIN_AUDIT,
                              [{"actor_id": user, "text": text, "request_key": f"{group}:1"},
                               user, "admin_refused",
                               roles.refusal_details(roles.Role.OWNER if user == ADMIN else None,
                                                     action_of(text))])]


# Subscribers --------------------------------------------------------------------------------

async def test_the_deep_link_redeems_the_code(harness: BotHarness,
                                             session_factory: sessionmaker[Session]) -> None:
    """/start promo_<CODE> from a user who accepted the terms sends the code to be redeemed."""
    add_user(session_factory, ANN, username=f"u{ANN}", language_code="en")
    await harness.send(ANN, "/start promo_spring")
    assert harness.tasks == [(task_names.REDEEM_PROMO, [profile(ANN), "spring", f"start:{ANN}:1"])]
    assert harness.last_reply() == texts.PROMO_CHECKING


async def test_a_newcomers_deep_link_waits_for_the_terms(harness: BotHarness) -> None:
    """A newcomer's code is redeemed once they accept the terms, not before."""
    await harness.send(ANN, "/start promo_SPRING")
    assert harness.tasks == [(task_names.REGISTER_USER, [profile(ANN), None])]
    assert harness.last_reply() == texts.TERMS
    query_id = await harness.press(ANN, "terms")
    assert harness.tasks[1:] == [(task_names.ACCEPT_TERMS, [profile(ANN)]),
                                 (task_names.REDEEM_PROMO,
                                  [profile(ANN), "SPRING", f"terms:{query_id}"])]
    await harness.press(ANN, "terms")  # a second acceptance redeems nothing again
    assert [name for name, _ in harness.tasks].count(task_names.REDEEM_PROMO) == 1


async def test_the_code_button_asks_and_the_next_message_is_the_code(
        harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """"I have a code" on the plan menu asks for it; the reply is redeemed; the conversation
    then ends, so a later message is not taken for a code."""
    add_user(session_factory, ANN, username=f"u{ANN}", language_code="en")
    await harness.send(ANN, "/start")
    assert harness.buttons()[-1] == "promo"
    await harness.press(ANN, "promo")
    assert harness.last_reply() == texts.PROMO_ASK_CODE
    await harness.send(ANN, " spring ")
    assert harness.tasks == [(task_names.REDEEM_PROMO, [profile(ANN), "spring", f"code:{ANN}:4"])]
    assert harness.last_reply() == texts.PROMO_CHECKING
    await harness.send(ANN, "AUTUMN")
    assert len(harness.tasks) == 1


async def test_a_malformed_code_is_answered_and_a_command_is_obeyed(
        harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """A message that cannot be a code is answered at once (the question stays open); a
    command typed instead is obeyed; then a code is still accepted."""
    add_user(session_factory, ANN)
    await harness.press(ANN, "promo")
    await harness.send(ANN, "my code please")
    assert harness.last_reply() == texts.PROMO_BAD_FORMAT
    await harness.send(ANN, "/help")
    assert harness.last_reply() == texts.HELP
    await harness.send(ANN, "/nonsense")
    assert harness.tasks == []
    await harness.send(ANN, "SPRING")
    assert [name for name, _ in harness.tasks] == [task_names.REDEEM_PROMO]


async def test_the_plan_menu_shows_the_discounted_price(
        harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """With a discount reserved, the plan button shows the price checkout will invoice, next to
    the full price, and the menu says which code is applied."""
    add_user(session_factory, ANN, trial_used_at=datetime.now(UTC))
    reserve(session_factory, add_code(session_factory, "SPRING"), ANN)
    await harness.send(ANN, "/start")
    assert harness.last_reply() == (texts.choose_plan(trial_days=None) + "\n"
                                    + texts.promo_menu_line(codes=["SPRING"]))
    assert harness.last_markup().inline_keyboard[0][0].text == texts.plan_button_discounted(
        title="1 month", days=30, price=Decimal("8.00"), full=Decimal("10.00"))


async def test_a_lapsed_or_paused_discount_shows_the_full_price(
        harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """A paused code, or a reservation past its hold, no longer discounts the menu."""
    add_user(session_factory, ANN, trial_used_at=datetime.now(UTC))
    reserve(session_factory, add_code(session_factory, "PAUSED", active=False), ANN)
    old = add_code(session_factory, "OLD")
    with session_factory.begin() as session:
        session.add(PromoRedemption(promo_id=old, user_id=ANN, status="reserved",
                                    reserved_at=datetime.now(UTC) - timedelta(hours=49),
                                    created_at=datetime.now(UTC)))
    await harness.send(ANN, "/start")
    assert harness.last_reply() == texts.choose_plan(trial_days=None)
    assert "$10.00" in harness.last_markup().inline_keyboard[0][0].text


async def test_a_plan_tap_after_redeeming_says_a_new_invoice_comes(
        harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """An open full-price invoice is reused only while no code applies: once one does, the
    plan button says a new invoice is being made (checkout makes it at the new price)."""
    add_user(session_factory, ANN)
    now = datetime.now(UTC)
    with session_factory.begin() as session:
        plan = session.scalars(select(Plan).where(Plan.code == "month")).one()
        session.add(Invoice(
            order_id="ord_1", user_id=ANN, plan_id=plan.id, amount_usd=plan.price_usd,
            currency="USD", status="created", uuid="AB12CD34",
            pay_link="http://127.0.0.1:8082/pay/AB12CD34", expires_at=now + timedelta(hours=1),
            created_at=now, updated_at=now))
    await harness.press(ANN, "plan:month")
    assert harness.callback_answers()[-1].text == texts.REUSING_INVOICE
    reserve(session_factory, add_code(session_factory, "SPRING"), ANN)
    await harness.press(ANN, "plan:month")
    assert harness.callback_answers()[-1].text == texts.CREATING_INVOICE
