"""Telegram Stars on the stand-in (methods/payments.py): invoice, Pay, pre-checkout, refunds."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import LabeledPrice, Message, Update
from tg_sandbox_support import bot_on, subscriber

from infra.sandbox.telegram import TelegramSandbox, people
from infra.sandbox.telegram.people import ControlError

ANN = 5


async def invoice(bot: Bot, *, prices: list[LabeledPrice] | None = None, currency: str = "XTR",
                  payload: str = "xtr_5_abc") -> Message:
    return await bot.send_invoice(ANN, title="1 month", description="30 days", payload=payload,
                                  currency=currency,
                                  prices=prices or [LabeledPrice(label="30 days", amount=250)])


async def updates(bot: Bot, offset: int = 0) -> list[Update]:
    return await bot.get_updates(offset=offset, timeout=0)


def test_a_stars_invoice_arrives_with_its_price(telegram_sandbox: TelegramSandbox) -> None:
    """sendInvoice in XTR with one price: an invoice message the person can pay."""
    subscriber(telegram_sandbox, ANN)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            sent = await invoice(bot)
            assert sent.invoice is not None
            assert (sent.invoice.currency, sent.invoice.total_amount) == ("XTR", 250)

    asyncio.run(scenario())


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"prices": [LabeledPrice(label="a", amount=1), LabeledPrice(label="b", amount=1)]},
     "STARS_INVOICE_INVALID"),
    ({"prices": [LabeledPrice(label="a", amount=0)]}, "CURRENCY_TOTAL_AMOUNT_INVALID"),
    ({"prices": [LabeledPrice(label="a", amount=10001)]}, "CURRENCY_TOTAL_AMOUNT_INVALID"),
    ({"payload": "x" * 129}, "INVOICE_PAYLOAD_INVALID"),
    ({"currency": "USD"}, "currency is not supported"),
])
def test_a_bad_invoice_is_refused_as_telegram_does(
    telegram_sandbox: TelegramSandbox, kwargs: dict[str, object], error: str,
) -> None:
    """Two prices, an amount outside 1-10000, a long payload, a fiat currency: 400s."""
    subscriber(telegram_sandbox, ANN)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            with pytest.raises(TelegramBadRequest, match=error):
                await invoice(bot, **kwargs)  # type: ignore[arg-type]

    asyncio.run(scenario())


def test_pay_ok_charges_once_and_the_switch_delivers_the_payment_twice(
    telegram_sandbox: TelegramSandbox,
) -> None:
    """Pay → pre_checkout_query; ok → successful_payment, twice with the duplicate switch."""
    subscriber(telegram_sandbox, ANN)
    world = telegram_sandbox.world
    world.duplicate_payments = True

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            sent = await invoice(bot)
            people.pay_invoice(world, user_id=ANN, message_id=sent.message_id)
            (update,) = await updates(bot)
            query = update.pre_checkout_query
            assert query is not None and query.from_user.id == ANN
            assert (query.invoice_payload, query.total_amount) == ("xtr_5_abc", 250)
            assert await bot.answer_pre_checkout_query(query.id, ok=True) is True
            paid = [u.message.successful_payment for u in await updates(bot, update.update_id + 1)
                    if u.message is not None]
            assert len(paid) == 2 and paid[0] == paid[1] and paid[0] is not None
            assert paid[0].invoice_payload == "xtr_5_abc"
            with pytest.raises(TelegramBadRequest, match="query is too old"):
                await bot.answer_pre_checkout_query(query.id, ok=True)  # answered once
            with pytest.raises(ControlError, match="is paid"):
                people.pay_invoice(world, user_id=ANN, message_id=sent.message_id)

    asyncio.run(scenario())


def test_a_refusal_is_shown_and_a_late_answer_fails(telegram_sandbox: TelegramSandbox) -> None:
    """ok=false shows its error_message; an answer after 10 seconds is too late: no charge."""
    subscriber(telegram_sandbox, ANN)
    world = telegram_sandbox.world

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            sent = await invoice(bot)
            people.pay_invoice(world, user_id=ANN, message_id=sent.message_id)
            (update,) = await updates(bot)
            assert update.pre_checkout_query is not None
            await bot.answer_pre_checkout_query(update.pre_checkout_query.id, ok=False,
                                                error_message="Plan gone")
            chat = await _chat(telegram_sandbox)
            assert chat[-1]["payment_state"] == "refused: Plan gone"

            people.pay_invoice(world, user_id=ANN, message_id=sent.message_id)
            (late,) = await updates(bot, update.update_id + 1)
            assert late.pre_checkout_query is not None
            now = world.now()
            world.clock = lambda: now + timedelta(seconds=11)
            assert str((await _chat(telegram_sandbox))[-1]["payment_state"]).startswith("failed")
            with pytest.raises(TelegramBadRequest, match="query is too old"):
                await bot.answer_pre_checkout_query(late.pre_checkout_query.id, ok=True)
            assert world.star_charges == {}

    asyncio.run(scenario())


def test_a_second_refund_is_a_400(telegram_sandbox: TelegramSandbox) -> None:
    """refundStarPayment: True once; then CHARGE_ALREADY_REFUNDED; unknown charges refused."""
    subscriber(telegram_sandbox, ANN)
    world = telegram_sandbox.world

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            sent = await invoice(bot)
            people.pay_invoice(world, user_id=ANN, message_id=sent.message_id)
            (update,) = await updates(bot)
            assert update.pre_checkout_query is not None
            await bot.answer_pre_checkout_query(update.pre_checkout_query.id, ok=True)
            (charge,) = world.star_charges
            with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND"):
                await bot.refund_star_payment(ANN + 1, charge)
            assert await bot.refund_star_payment(ANN, charge) is True
            with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
                await bot.refund_star_payment(ANN, charge)
            with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND"):
                await bot.refund_star_payment(ANN, "stxUNKNOWN")

    asyncio.run(scenario())


async def _chat(sandbox: TelegramSandbox) -> list[dict[str, object]]:
    """The person's chat as the page reads it, through the control API."""
    async with httpx.AsyncClient(base_url=sandbox.base_url) as client:
        answer = (await client.get(f"/control/users/{ANN}/chat")).json()
    messages: list[dict[str, object]] = answer["result"]["messages"]
    return [m for m in messages if m["invoice"] is not None]


@pytest.mark.browser
def test_the_page_pays_an_invoice_with_its_pay_button(telegram_sandbox: TelegramSandbox) -> None:
    """On the page: the invoice shows "Pay 250 Stars"; pressing it asks the bot; "paid" shows."""
    from test_tg_sandbox_page import CHROMIUM_ARGS, _chromium

    executable = _chromium()
    from playwright.sync_api import expect, sync_playwright

    api = httpx.Client(base_url=f"{telegram_sandbox.base_url}/bot{telegram_sandbox.token}")
    with api, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 760})
            page.goto(telegram_sandbox.base_url + "/")
            page.get_by_test_id("new-user-name").fill("Ann")
            page.get_by_test_id("create-user").click()
            page.get_by_test_id("message-input").fill("/start")
            page.get_by_test_id("send-button").click()
            expect(page.locator('[data-direction="user_to_bot"]')).to_contain_text("/start")
            (update,) = api.post("/getUpdates").json()["result"]
            user_id = update["message"]["from"]["id"]
            api.post("/sendInvoice", json={
                "chat_id": user_id, "title": "1 month", "description": "30 days",
                "payload": "xtr_page", "currency": "XTR",
                "prices": [{"label": "30 days", "amount": 250}]}).raise_for_status()

            page.get_by_test_id("pay-button").filter(has_text="Pay 250 Stars").click()
            offset = update["update_id"] + 1
            (asked,) = api.post("/getUpdates", data={"offset": offset, "timeout": 5}).json()[
                "result"]
            query = asked["pre_checkout_query"]
            assert (query["invoice_payload"], query["total_amount"]) == ("xtr_page", 250)
            api.post("/answerPreCheckoutQuery", data={
                "pre_checkout_query_id": query["id"], "ok": "true"}).raise_for_status()
            expect(page.get_by_test_id("payment-state")).to_have_text("paid", timeout=5000)
            expect(page.get_by_test_id("successful-payment")).to_contain_text("250")
            expect(page.get_by_test_id("pay-button")).to_have_count(0)
        finally:
            browser.close()


def test_invoices_charges_and_refunds_survive_a_restart() -> None:
    """A snapshot keeps the invoice's state, the charge and its refund: no refund twice after."""
    from infra.sandbox.telegram.methods import payments
    from infra.sandbox.telegram.persistence import restore, snapshot
    from infra.sandbox.telegram.world import TelegramWorld

    world = TelegramWorld()
    ann = people.create_user(world, first_name="Ann")
    chat = world.private_chat(world.default_bot.id, ann.id)
    sent = world.add_message(chat, sender_id=world.default_bot.id, from_bot=True)
    sent.invoice = {"title": "t", "description": "d", "payload": "p", "currency": "XTR",
                    "total_amount": 250}
    query = people.pay_invoice(world, user_id=ann.id, message_id=sent.message_id)
    query.answered = True
    payments.charge(world, chat, sent)
    (charge,) = world.star_charges.values()
    charge.refunded = True
    copy = TelegramWorld()
    restore(copy, snapshot(world))
    assert snapshot(copy)["private_chats"] == snapshot(world)["private_chats"]
    assert copy.star_charges[charge.charge_id].refunded is True
    assert copy.pre_checkouts[query.id].answered is True
