"""Bot API JSON shapes of the world's records (User, Chat, Message, ChatMember, ChatInviteLink …).

Field order and "only when set" rules follow the official server's serializers (Client.cpp
`JsonUser`, `JsonChatInviteLink`, …), so aiogram parses them into its models unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from infra.sandbox.telegram.records import (
    BotRecord,
    CallbackQueryRecord,
    ChannelRecord,
    FileRecord,
    InviteLinkRecord,
    JoinRequestRecord,
    MemberRecord,
    MessageRecord,
    UserRecord,
)

if TYPE_CHECKING:
    from infra.sandbox.telegram.world import TelegramWorld

Json = dict[str, object]
# ChatFullInfo fields aiogram requires that have no meaning in the sandbox.
_FULL_INFO_DEFAULTS: Json = {
    "accent_color_id": 0,
    "max_reaction_count": 11,
    "accepted_gift_types": {
        "unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
        "premium_subscription": False, "gifts_from_channels": False,
    },
}


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


def user(record: UserRecord) -> Json:
    body: Json = {"id": record.id, "is_bot": record.is_bot, "first_name": record.first_name}
    for key in ("last_name", "username", "language_code"):
        value = getattr(record, key)
        if value:
            body[key] = value
    return body


def me(bot: BotRecord) -> Json:
    """getMe adds the flags only it returns."""
    return {
        **user(bot.user), "can_join_groups": True, "can_read_all_group_messages": False,
        "supports_inline_queries": False, "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def private_chat(record: UserRecord) -> Json:
    body: Json = {"id": record.id, "first_name": record.first_name}
    for key in ("last_name", "username"):
        value = getattr(record, key)
        if value:
            body[key] = value
    body["type"] = "private"
    return body


def channel_chat(channel: ChannelRecord) -> Json:
    return {"id": channel.id, "title": channel.title, "type": channel.type}


def chat_of(world: TelegramWorld, chat_id: int) -> Json:
    if chat_id in world.channels:
        return channel_chat(world.channels[chat_id])
    return private_chat(world.users[chat_id])


def chat_full_info(world: TelegramWorld, chat_id: int) -> Json:
    return {**chat_of(world, chat_id), **_FULL_INFO_DEFAULTS}


def document(record: FileRecord) -> Json:
    return {
        "file_name": record.file_name, "mime_type": record.mime_type,
        "file_id": record.file_id, "file_unique_id": record.file_unique_id,
        "file_size": len(record.data),
    }


def photo(record: FileRecord) -> list[Json]:
    """A Message's `photo`: its PhotoSize array (one size: the stand-in does not resize)."""
    return [{
        "file_id": record.file_id, "file_unique_id": record.file_unique_id,
        "file_size": len(record.data), "width": record.width, "height": record.height,
    }]


def file(record: FileRecord) -> Json:
    return {
        "file_id": record.file_id, "file_unique_id": record.file_unique_id,
        "file_size": len(record.data), "file_path": record.file_path,
    }


def message(world: TelegramWorld, record: MessageRecord) -> Json:
    chat = chat_of(world, record.chat_id)
    body: Json = {"message_id": record.message_id}
    if record.chat_id in world.channels:
        body["sender_chat"] = chat  # channel posts carry the channel, not a user
    else:
        body["from"] = user(world.users[record.sender_id])
    body["chat"] = chat
    body["date"] = ts(record.date)
    if record.edit_date is not None:
        body["edit_date"] = ts(record.edit_date)
    if record.text is not None:
        body["text"] = record.text
    if record.entities:
        body["entities"] = record.entities
    if record.document is not None:
        body["document"] = document(record.document)
    if record.photo is not None:
        body["photo"] = photo(record.photo)
    if record.caption:
        body["caption"] = record.caption
    if record.caption_entities:
        body["caption_entities"] = record.caption_entities
    if record.invoice is not None:
        body["invoice"] = {"title": record.invoice["title"],
                           "description": record.invoice["description"],
                           "start_parameter": "", "currency": record.invoice["currency"],
                           "total_amount": record.invoice["total_amount"]}
    if record.successful_payment is not None:
        body["successful_payment"] = record.successful_payment
    # Only inline keyboards are part of a Message; reply keyboards live in the client.
    if record.reply_markup and "inline_keyboard" in record.reply_markup:
        body["reply_markup"] = record.reply_markup
    return body


def invite_link(
    world: TelegramWorld, channel: ChannelRecord, record: InviteLinkRecord,
) -> Json:
    body: Json = {"invite_link": record.url, "creator": user(world.users[record.creator_id])}
    if record.name:
        body["name"] = record.name
    if record.expire_date is not None:
        body["expire_date"] = ts(record.expire_date)
    if record.member_limit:
        body["member_limit"] = record.member_limit
    pending = sum(1 for r in channel.join_requests.values() if r.link_url == record.url)
    if pending:
        body["pending_join_request_count"] = pending
    body["creates_join_request"] = record.creates_join_request
    body["is_primary"] = False
    body["is_revoked"] = record.is_revoked
    return body


def chat_member(world: TelegramWorld, record: MemberRecord) -> Json:
    body: Json = {"status": record.status, "user": user(world.users[record.user_id])}
    if record.status == "creator":
        body["is_anonymous"] = False
    elif record.status == "administrator":
        body.update(record.rights or {})
    elif record.status == "kicked":
        body["until_date"] = ts(record.until_date) if record.until_date else 0
    return body


def chat_member_updated(
    world: TelegramWorld, *, chat: Json, actor_id: int, old: Json, new: Json,
    invite_link: Json | None = None, via_join_request: bool = False,
) -> Json:
    body: Json = {
        "chat": chat, "from": user(world.users[actor_id]), "date": ts(world.now()),
        "old_chat_member": old, "new_chat_member": new,
    }
    if invite_link is not None:
        body["invite_link"] = invite_link
    if via_join_request:
        body["via_join_request"] = True
    return body


def join_request(
    world: TelegramWorld, channel: ChannelRecord, record: JoinRequestRecord,
) -> Json:
    body: Json = {
        "chat": channel_chat(channel), "from": user(world.users[record.user_id]),
        "user_chat_id": record.user_id, "date": ts(record.date),
    }
    link = channel.links.get(record.link_url) if record.link_url else None
    if link is not None:
        body["invite_link"] = invite_link(world, channel, link)
    return body


def callback_query(world: TelegramWorld, record: CallbackQueryRecord) -> Json:
    chat = world.private_chat(record.bot_id, record.user_id)
    found = next(m for m in chat.messages if m.message_id == record.message_id)
    return {
        "id": record.id, "from": user(world.users[record.user_id]),
        "message": message(world, found), "chat_instance": str(record.bot_id * 7 + record.chat_id),
        "data": record.data,
    }


def webhook_info(bot: BotRecord) -> Json:
    hook = bot.webhook
    body: Json = {
        "url": hook.url if hook else "", "has_custom_certificate": False,
        "pending_update_count": bot.updates.pending_count,
    }
    if hook is None:
        return body
    if hook.ip_address:
        body["ip_address"] = hook.ip_address
    if hook.last_error_date is not None:
        body["last_error_date"] = ts(hook.last_error_date)
        body["last_error_message"] = hook.last_error_message or ""
    body["max_connections"] = hook.max_connections
    allowed = bot.updates.allowed_updates
    if allowed is not None:
        body["allowed_updates"] = allowed
    return body
