"""Bot API methods of Telegram Stars payments: sendInvoice, answerPreCheckoutQuery,
refundStarPayment (reference telegram.md, "One-time Star payments from a bot").

Pressing Pay on the page (people.pay_invoice) sends the bot a `pre_checkout_query`; only an
answer within 10 seconds charges the person, and the charge arrives as a message carrying
`successful_payment` (twice while the duplicate switch is on, as Telegram may deliver it).
[I] marks refusal wording we could not verify against the official server.
"""

from __future__ import annotations

from datetime import timedelta

from infra.sandbox.telegram import errors, serialize
from infra.sandbox.telegram.errors import bad_request
from infra.sandbox.telegram.methods import lookup
from infra.sandbox.telegram.methods.messages import reply_markup_of
from infra.sandbox.telegram.methods.registry import MethodCall, method
from infra.sandbox.telegram.records import (
    MessageRecord,
    PreCheckoutRecord,
    PrivateChat,
    StarChargeRecord,
)
from infra.sandbox.telegram.world import TelegramWorld

ANSWER_WINDOW = timedelta(seconds=10)
MAX_STARS = 10000
STARS_INVOICE_INVALID = "STARS_INVOICE_INVALID"  # [I] more than one price, or a provider token
CURRENCY_TOTAL_AMOUNT_INVALID = "CURRENCY_TOTAL_AMOUNT_INVALID"
INVOICE_PAYLOAD_INVALID = "INVOICE_PAYLOAD_INVALID"
CHARGE_ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"
CHARGE_NOT_FOUND = "CHARGE_NOT_FOUND"  # [I] an unknown charge, or another user's
ERROR_MESSAGE_EMPTY = "ERROR_MESSAGE_EMPTY"  # [I] ok=false without error_message


@method("sendInvoice")
def send_invoice(call: MethodCall) -> object:
    target = lookup.chat(call)
    lookup.check_can_write(call, target)
    params = call.params
    title, description, payload = (params.text(name) for name in
                                   ("title", "description", "payload"))
    if not 1 <= len(title) <= 32:
        raise bad_request("INVOICE_TITLE_EMPTY" if not title else "INVOICE_TITLE_TOO_LONG")
    if not 1 <= len(description) <= 255:
        raise bad_request("INVOICE_DESCRIPTION_EMPTY" if not description
                          else "INVOICE_DESCRIPTION_TOO_LONG")
    if not 1 <= len(payload.encode()) <= 128:
        raise bad_request(INVOICE_PAYLOAD_INVALID)
    currency = params.text("currency")
    if currency != "XTR":  # the stand-in sells Stars only: no payment provider behind it
        raise bad_request("PAYMENT_PROVIDER_INVALID" if params.text("provider_token")
                          else "currency is not supported")
    if params.text("provider_token"):
        raise bad_request(STARS_INVOICE_INVALID)
    prices = params.json_value("prices", what="prices")
    if not isinstance(prices, list) or not prices:
        raise bad_request("can't parse prices JSON object")
    if len(prices) != 1:
        raise bad_request(STARS_INVOICE_INVALID)
    price = prices[0]
    amount = price.get("amount") if isinstance(price, dict) else None
    if not isinstance(amount, int) or not 1 <= amount <= MAX_STARS:
        raise bad_request(CURRENCY_TOTAL_AMOUNT_INVALID)
    markup = reply_markup_of(params)
    sent = call.world.add_message(target, sender_id=call.bot.id, from_bot=True,
                                  reply_markup=markup)
    sent.invoice = {"title": title, "description": description, "payload": payload,
                    "currency": currency, "total_amount": amount}
    return serialize.message(call.world, sent)


@method("answerPreCheckoutQuery")
def answer_pre_checkout_query(call: MethodCall) -> object:
    world = call.world
    query = world.pre_checkouts.get(call.params.text("pre_checkout_query_id"))
    if (query is None or query.answered or query.bot_id != call.bot.id
            or world.now() - query.created_at > ANSWER_WINDOW):
        raise bad_request(errors.QUERY_TOO_OLD)
    ok = call.params.boolean("ok")
    error_message = call.params.text("error_message")
    if not ok and not error_message:
        raise bad_request(ERROR_MESSAGE_EMPTY)
    query.answered = True
    chat = world.private_chat(query.bot_id, query.user_id)
    invoice_message = invoice_of(chat, query.message_id)
    if not ok:
        invoice_message.payment_state = f"refused: {error_message}"
        world.touch()
        return True
    charge(world, chat, invoice_message)
    return True


def charge(world: TelegramWorld, chat: PrivateChat, invoice_message: MessageRecord) -> None:
    """Take the Stars and tell the bot, once or (with the switch on) twice."""
    invoice = invoice_message.invoice or {}
    amount = int(str(invoice.get("total_amount", 0)))
    charge_id = f"stx{world.random_id(40)}"
    world.star_charges[charge_id] = StarChargeRecord(
        charge_id=charge_id, bot_id=chat.bot_id, user_id=chat.user_id, amount=amount)
    invoice_message.payment_state = "paid"
    paid = world.add_message(chat, sender_id=chat.user_id, from_bot=False)
    paid.successful_payment = {
        "currency": invoice.get("currency"), "total_amount": amount,
        "invoice_payload": invoice.get("payload"), "telegram_payment_charge_id": charge_id,
        "provider_payment_charge_id": "",
    }
    bot = world.bot_by_id(chat.bot_id)
    for _ in range(2 if world.duplicate_payments else 1):
        world.emit(bot, "message", serialize.message(world, paid))


@method("refundStarPayment")
def refund_star_payment(call: MethodCall) -> object:
    world = call.world
    charge = world.star_charges.get(call.params.text("telegram_payment_charge_id"))
    user_id = call.params.int64("user_id")
    if charge is None or charge.bot_id != call.bot.id or charge.user_id != user_id:
        raise bad_request(CHARGE_NOT_FOUND)
    if charge.refunded:
        raise bad_request(CHARGE_ALREADY_REFUNDED)
    charge.refunded = True
    chat = world.private_chat(charge.bot_id, charge.user_id)
    for message in chat.messages:
        paid = message.successful_payment or {}
        if paid.get("telegram_payment_charge_id") == charge.charge_id:
            message.payment_state = "refunded"
    world.touch()
    return True


def invoice_of(chat: PrivateChat, message_id: int) -> MessageRecord:
    message = next((m for m in chat.messages if m.message_id == message_id), None)
    if message is None or message.invoice is None:
        raise KeyError(message_id)
    return message


def new_pre_checkout(world: TelegramWorld, chat: PrivateChat,
                     message: MessageRecord) -> PreCheckoutRecord:
    """Pay pressed: the query the bot must answer, sent to it as an update."""
    invoice = message.invoice or {}
    query = PreCheckoutRecord(id=str(world.rng.randrange(10**17, 10**18)), bot_id=chat.bot_id,
                              user_id=chat.user_id, message_id=message.message_id,
                              created_at=world.now())
    world.pre_checkouts[query.id] = query
    message.payment_state = "waiting"
    world.touch()
    world.emit(world.bot_by_id(chat.bot_id), "pre_checkout_query", {
        "id": query.id, "from": serialize.user(world.users[chat.user_id]),
        "currency": invoice.get("currency"), "total_amount": invoice.get("total_amount"),
        "invoice_payload": invoice.get("payload"),
    })
    return query


def payment_state(world: TelegramWorld, message: MessageRecord) -> str | None:
    """What the page shows: a query not answered within 10 seconds has failed."""
    if message.payment_state != "waiting":
        return message.payment_state
    waiting = [q for q in world.pre_checkouts.values() if q.message_id == message.message_id
               and q.user_id == message.chat_id and not q.answered]
    if waiting and all(world.now() - q.created_at > ANSWER_WINDOW for q in waiting):
        return "failed: the bot did not answer within 10 seconds"
    return message.payment_state
