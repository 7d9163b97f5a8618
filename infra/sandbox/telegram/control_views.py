"""JSON shapes of the control API: what tests and the page read about the world.

Unlike the Bot API shapes in `serialize`, these show everything (reply keyboards, documents with
download URLs, callback answers, flags such as "blocked"), with ISO 8601 UTC dates.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from infra.sandbox.telegram import serialize
from infra.sandbox.telegram.methods import payments
from infra.sandbox.telegram.records import (
    BotRecord,
    CallbackQueryRecord,
    CallRecord,
    ChannelRecord,
    MessageRecord,
    UserRecord,
)
from infra.sandbox.telegram.world import TelegramWorld

Json = dict[str, object]


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


STANDINGS = {
    "creator": "owner of the channel", "administrator": "admin of the channel",
    "member": "in the channel", "restricted": "restricted in the channel",
    "kicked": "banned from the channel", "left": "left the channel",
}


def person(world: TelegramWorld, record: UserRecord, bot: BotRecord) -> Json:
    chat = world.private_chats.get((bot.id, record.id))
    status = world.member(world.channel, record.id).status
    never = status == "left" and record.id not in world.channel.past_members
    return {
        **serialize.user(record),
        "is_admin": record.id == world.admin_id,
        "started": bool(chat and chat.started),
        "blocked": bool(chat and chat.blocked),
        "channel_status": status,
        # What the page shows: Telegram says "left" also for someone who never joined.
        "channel_standing": "not joined" if never else STANDINGS.get(status, status),
        # The other chats (a bundle's): where this person stands in each they ever joined.
        "other_chats": [
            {"id": chat.id, "title": chat.title,
             "status": world.member(chat, record.id).status}
            for chat in world.channels.values()
            if chat.id != world.channel_id and record.id in chat.past_members
        ],
    }


def message(world: TelegramWorld, record: MessageRecord) -> Json:
    if record.chat_id in world.channels:
        direction = "channel_post"
    else:
        direction = "bot_to_user" if record.from_bot else "user_to_bot"
    document = None
    if record.document is not None:
        document = {
            **serialize.document(record.document),
            "download_url": f"/control/files/{record.document.file_id}",
        }
    photo = None
    if record.photo is not None:
        photo = {
            **serialize.photo(record.photo)[-1],
            "url": f"/control/files/{record.photo.file_id}",
        }
    return {
        "seq": record.seq, "message_id": record.message_id, "chat_id": record.chat_id,
        "direction": direction, "sender_id": record.sender_id, "date": iso(record.date),
        "edit_date": iso(record.edit_date), "text": record.text, "entities": record.entities,
        "caption": record.caption, "caption_entities": record.caption_entities,
        "reply_markup": record.reply_markup, "document": document, "photo": photo,
        "deleted": record.deleted, "invoice": record.invoice,
        "payment_state": payments.payment_state(world, record),
        "successful_payment": record.successful_payment,
    }


def callback_answer(record: CallbackQueryRecord) -> Json:
    return {
        "id": record.id, "message_id": record.message_id, "data": record.data,
        "pressed_at": iso(record.created_at), "answered": record.answered,
        "text": record.answer_text, "show_alert": record.show_alert, "url": record.url,
    }


def private_chat(world: TelegramWorld, record: UserRecord, bot: BotRecord) -> Json:
    chat = world.private_chat(bot.id, record.id)
    answers = [
        callback_answer(q) for q in world.callback_queries.values()
        if q.bot_id == bot.id and q.user_id == record.id
    ]
    return {
        "version": world.version, "user": person(world, record, bot),
        "messages": [message(world, m) for m in chat.messages if not m.deleted],
        "callback_answers": answers,
    }


def channel(world: TelegramWorld, record: ChannelRecord) -> Json:
    members = []
    for user_id in list(record.members):
        member = world.member(record, user_id)
        members.append({
            **serialize.chat_member(world, member), "via_link": member.via_link,
        })
    links = [
        {**serialize.invite_link(world, record, link),
         "current_members": world.link_members(record, link.url),
         "joined_count": link.joined_count}
        for link in record.links.values()
    ]
    requests = [
        {"user": serialize.user(world.users[r.user_id]), "date": iso(r.date),
         "invite_link": r.link_url}
        for r in record.join_requests.values()
    ]
    bot_rights = world.member(record, world.default_bot.id).rights or {}
    return {
        "version": world.version, "id": record.id, "title": record.title, "type": record.type,
        "members": members, "join_requests": requests, "invite_links": links,
        "bot_rights": bot_rights,
    }


def call(record: CallRecord) -> Json:
    return {
        "id": record.id, "at": iso(record.at), "method": record.method, "bot_id": record.bot_id,
        "params": record.params, "status": record.status, "description": record.description,
    }


def state(world: TelegramWorld) -> Json:
    bot = world.default_bot
    limits = world.flood.limits
    return {
        "version": world.version, "bot": serialize.me(bot),
        "webhook_url": bot.webhook.url if bot.webhook else None,
        "pending_updates": bot.updates.pending_count, "admin_id": world.admin_id,
        "channel": serialize.channel_chat(world.channel),
        "flood": {"enabled": world.flood.enabled, **asdict(limits)},
    }
