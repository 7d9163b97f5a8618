"""What a person does in a Telegram client, turned into world changes and bot updates.

Writing to the bot, pressing an inline button, opening an invite link, leaving the channel,
blocking the bot. Refusals raise `ControlError` (the control API answers them as JSON).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal, cast

from infra.sandbox.telegram import images, serialize
from infra.sandbox.telegram.methods import payments
from infra.sandbox.telegram.records import (
    PARTICIPANT_STATUSES,
    BotRecord,
    CallbackQueryRecord,
    JoinRequestRecord,
    MemberStatus,
    MessageRecord,
    PreCheckoutRecord,
    PrivateChat,
    UserRecord,
)
from infra.sandbox.telegram.world import BOT_ADMIN_RIGHTS, TelegramWorld

_COMMAND = re.compile(r"^/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{3,32})?")
JoinOutcome = Literal["joined", "requested"]


class ControlError(Exception):
    """A person's action that Telegram's client or server would not allow."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def create_user(
    world: TelegramWorld, *, first_name: str, user_id: int | None = None,
    last_name: str | None = None, username: str | None = None,
    language_code: str | None = None,
) -> UserRecord:
    """Create (or update, when `user_id` exists) a person."""
    if not first_name.strip():
        raise ControlError(400, "first_name must not be empty")
    with world.lock:
        existing = world.users.get(user_id) if user_id is not None else None
        if existing is not None and existing.is_bot:
            raise ControlError(409, f"{user_id} is a bot")
        return world.add_user(
            user_id=user_id if user_id is not None else world.next_user_id(),
            first_name=first_name.strip(), last_name=last_name, username=username,
            language_code=language_code,
        )


def add_started_users(world: TelegramWorld, user_ids: Iterable[int], *,
                      name_prefix: str = "user") -> None:
    """People who have already started the default bot, so it may message them (bench, tests)."""
    with world.lock:
        bot_id = world.default_bot.id
        for user_id in user_ids:
            world.add_user(user_id=user_id, first_name=f"{name_prefix}{user_id}")
            world.private_chat(bot_id, user_id).started = True


def _writing(world: TelegramWorld, *, user_id: int, bot_id: int | None,
             ) -> tuple[BotRecord, UserRecord, PrivateChat]:
    """The person's chat with the bot, as when they write to it (call with the world locked)."""
    bot, person = _bot(world, bot_id), _person(world, user_id)
    chat = world.private_chat(bot.id, person.id)
    if chat.blocked:
        # Like the client's "Restart" button: writing to a blocked bot unblocks it first.
        set_blocked(world, user_id=user_id, blocked=False, bot_id=bot.id)
    chat.started = True
    return bot, person, chat


def send_text(
    world: TelegramWorld, *, user_id: int, text: str, bot_id: int | None = None,
) -> MessageRecord:
    """The person writes to the bot; a leading /command gets its bot_command entity."""
    if not text.strip():
        raise ControlError(400, "text must not be empty")
    with world.lock:
        bot, person, chat = _writing(world, user_id=user_id, bot_id=bot_id)
        entities: list[dict[str, object]] = []
        command = _COMMAND.match(text)
        if command:
            entities.append({"type": "bot_command", "offset": 0, "length": len(command.group())})
        message = world.add_message(
            chat, sender_id=person.id, from_bot=False, text=text, entities=entities,
        )
        world.emit(bot, "message", serialize.message(world, message))
        return message


def send_photo(
    world: TelegramWorld, *, user_id: int, data: bytes, caption: str = "",
    filename: str = "photo.jpg", bot_id: int | None = None,
) -> MessageRecord:
    """The person sends the bot a photo (PNG or JPEG), with an optional caption."""
    image = images.sniff(data)
    if image is None:
        raise ControlError(400, "data must be a PNG or JPEG image")
    with world.lock:
        bot, person, chat = _writing(world, user_id=user_id, bot_id=bot_id)
        stored = images.keep_photo(world, data, image, file_name=filename)
        message = world.add_message(chat, sender_id=person.id, from_bot=False, photo=stored,
                                    caption=caption or None)
        world.emit(bot, "message", serialize.message(world, message))
        return message


def press_button(
    world: TelegramWorld, *, user_id: int, message_id: int, data: str,
    bot_id: int | None = None,
) -> CallbackQueryRecord:
    """The person presses the inline button carrying `data` on one of the bot's messages."""
    with world.lock:
        bot, person = _bot(world, bot_id), _person(world, user_id)
        chat = world.private_chat(bot.id, person.id)
        if chat.blocked:
            raise ControlError(409, "the user has blocked the bot")
        message = next(
            (m for m in chat.messages if m.message_id == message_id and not m.deleted), None,
        )
        if message is None or not message.from_bot:
            raise ControlError(404, f"no bot message {message_id} in this chat")
        if data not in _callback_data(message.reply_markup):
            raise ControlError(404, f"message {message_id} has no button with that data")
        query = CallbackQueryRecord(
            id=str(world.rng.randrange(10**17, 10**18)), bot_id=bot.id, user_id=person.id,
            chat_id=person.id, message_id=message_id, data=data, created_at=world.now(),
        )
        world.callback_queries[query.id] = query
        world.touch()
        world.emit(bot, "callback_query", serialize.callback_query(world, query))
        return query


def pay_invoice(
    world: TelegramWorld, *, user_id: int, message_id: int, bot_id: int | None = None,
) -> PreCheckoutRecord:
    """The person presses Pay on a Stars invoice: the bot gets a pre_checkout_query to answer
    within 10 seconds (methods/payments.py charges on its "ok")."""
    with world.lock:
        bot, person = _bot(world, bot_id), _person(world, user_id)
        chat = world.private_chat(bot.id, person.id)
        if chat.blocked:
            raise ControlError(409, "the user has blocked the bot")
        try:
            message = payments.invoice_of(chat, message_id)
        except KeyError:
            raise ControlError(404, f"no invoice {message_id} in this chat") from None
        if message.payment_state in ("waiting", "paid", "refunded"):
            raise ControlError(409, f"invoice {message_id} is {message.payment_state}")
        return payments.new_pre_checkout(world, chat, message)


def open_invite_link(world: TelegramWorld, *, user_id: int, invite_link: str) -> JoinOutcome:
    """The person opens an invite link: joins, or files a join request for approval links."""
    with world.lock:
        person = _person(world, user_id)
        found = world.find_link(invite_link.strip())
        if found is None:
            raise ControlError(404, "invite link not found")
        channel, link = found
        if link.is_revoked:
            raise ControlError(409, "invite link was revoked")
        if link.expire_date is not None and link.expire_date <= world.now():
            raise ControlError(409, "invite link has expired")
        standing = world.member(channel, person.id).status
        if standing in PARTICIPANT_STATUSES:
            raise ControlError(409, "the user is already a member of the channel")
        if standing == "kicked":
            raise ControlError(409, "the user is banned from the channel")
        if link.creates_join_request:
            if person.id in channel.join_requests:
                raise ControlError(409, "a join request is already pending")
            request = JoinRequestRecord(user_id=person.id, date=world.now(), link_url=link.url)
            channel.join_requests[person.id] = request
            world.touch()
            # Join requests reach administrators allowed to process them (can_invite_users).
            for bot in world.admin_bots(channel):
                if (world.member(channel, bot.id).rights or {}).get("can_invite_users"):
                    world.emit(bot, "chat_join_request",
                               serialize.join_request(world, channel, request))
            return "requested"
        if link.member_limit and world.link_members(channel, link.url) >= link.member_limit:
            raise ControlError(409, "the invite link's member limit has been reached")
        link.joined_count += 1
        world.set_member_status(channel, person.id, "member", actor_id=person.id,
                                via_link=link.url)
        return "joined"


def leave_channel(world: TelegramWorld, *, user_id: int, chat_id: int | None = None) -> None:
    with world.lock:
        person = _person(world, user_id)
        channel = world.channels.get(chat_id if chat_id is not None else world.channel_id)
        if channel is None:
            raise ControlError(404, "channel not found")
        standing = world.member(channel, person.id).status
        if standing == "creator":
            raise ControlError(409, "the owner cannot leave the channel in the sandbox")
        if standing not in PARTICIPANT_STATUSES:
            raise ControlError(409, "the user is not a member of the channel")
        world.set_member_status(channel, person.id, "left", actor_id=person.id)


# What an owner can make of someone by hand in a Telegram client, without any bot involved.
HAND_STATUSES = ("member", "administrator", "left", "kicked")
# A person the owner made an administrator by hand may manage the chat and nothing more.
HAND_ADMIN_RIGHTS = {**{right: False for right in BOT_ADMIN_RIGHTS}, "can_manage_chat": True}


def set_standing_by_hand(world: TelegramWorld, *, user_id: int, status: str,
                         chat_id: int | None = None) -> None:
    """The channel's owner changes someone's standing in a Telegram client, behind the bots'
    backs: adds a member, promotes an administrator, removes or bans someone.

    This is how records drift (telegram.md: bots cannot list members); the bots hear of it
    only through a `chat_member` update, if they asked for those.
    """
    if status not in HAND_STATUSES:
        raise ControlError(400, f"status must be one of {list(HAND_STATUSES)}")
    with world.lock:
        person = _person(world, user_id)
        channel = world.channels.get(chat_id if chat_id is not None else world.channel_id)
        if channel is None:
            raise ControlError(404, "channel not found")
        if world.member(channel, person.id).status == "creator":
            raise ControlError(409, "the owner's standing cannot change")
        world.set_member_status(channel, person.id, cast(MemberStatus, status),
                                actor_id=world.admin_id, rights=dict(HAND_ADMIN_RIGHTS))


def set_blocked(
    world: TelegramWorld, *, user_id: int, blocked: bool, bot_id: int | None = None,
) -> None:
    """Block or unblock the bot; the bot learns it from a `my_chat_member` update."""
    with world.lock:
        bot, person = _bot(world, bot_id), _person(world, user_id)
        chat = world.private_chat(bot.id, person.id)
        if chat.blocked == blocked:
            return
        chat.blocked = blocked
        world.touch()
        member = serialize.user(bot.user)
        kicked: dict[str, object] = {"status": "kicked", "user": member, "until_date": 0}
        active: dict[str, object] = {"status": "member", "user": member}
        world.emit(bot, "my_chat_member", serialize.chat_member_updated(
            world, chat=serialize.private_chat(person), actor_id=person.id,
            old=active if blocked else kicked, new=kicked if blocked else active,
        ))


def _bot(world: TelegramWorld, bot_id: int | None) -> BotRecord:
    try:
        return world.bot_by_id(bot_id)
    except KeyError:
        raise ControlError(404, f"bot {bot_id} not found") from None


def _person(world: TelegramWorld, user_id: int) -> UserRecord:
    person = world.users.get(user_id)
    if person is None or person.is_bot:
        raise ControlError(404, f"user {user_id} not found")
    return person


def _callback_data(markup: dict[str, object] | None) -> set[str]:
    rows = (markup or {}).get("inline_keyboard")
    found: set[str] = set()
    if isinstance(rows, list):
        for row in rows:
            for button in row if isinstance(row, list) else []:
                if isinstance(button, dict) and isinstance(button.get("callback_data"), str):
                    found.add(button["callback_data"])
    return found
