"""Resolving the chat and user a call names, with the official server's refusals.

Shared by every method, so "chat not found", "Invalid user_id specified", rights checks and the
private-chat rules (blocked, never started) read the same everywhere.
"""

from __future__ import annotations

from infra.sandbox.telegram import errors
from infra.sandbox.telegram.errors import bad_request, forbidden
from infra.sandbox.telegram.methods.registry import MethodCall
from infra.sandbox.telegram.records import ChannelRecord, PrivateChat, UserRecord

Chat = ChannelRecord | PrivateChat


def chat(call: MethodCall, name: str = "chat_id") -> Chat:
    """The channel, or the private chat with a known user, that `chat_id` names."""
    text = call.params.text(name).strip()
    if not text:
        raise bad_request(errors.CHAT_ID_EMPTY)
    chat_id = call.params.int64(name)
    world = call.world
    if chat_id is None:  # "@username": the sandbox has no public chats
        raise bad_request(errors.CHAT_NOT_FOUND)
    if chat_id in world.channels:
        return world.channels[chat_id]
    person = world.users.get(chat_id)
    if chat_id > 0 and person is not None and not person.is_bot:
        return world.private_chat(call.bot.id, chat_id)
    raise bad_request(errors.CHAT_NOT_FOUND)


def channel(call: MethodCall) -> ChannelRecord:
    found = chat(call)
    if isinstance(found, PrivateChat):
        raise bad_request(errors.SUPERGROUPS_AND_CHANNELS_ONLY)
    return found


def user(call: MethodCall, *, unknown: str = errors.USER_ID_INVALID) -> UserRecord:
    """The user `user_id` names; `unknown` is the refusal for an id nobody has."""
    user_id = call.params.int64("user_id")
    if user_id is None or user_id <= 0:
        raise bad_request(errors.INVALID_USER_ID)
    found = call.world.users.get(user_id)
    if found is None:
        raise bad_request(unknown)
    return found


def require_right(call: MethodCall, where: ChannelRecord, right: str, refusal: str) -> None:
    """The calling bot must be an administrator of `where` holding `right`."""
    member = call.world.member(where, call.bot.id)
    if member.status != "administrator" or not (member.rights or {}).get(right):
        raise bad_request(refusal)


def check_can_write(call: MethodCall, target: Chat) -> None:
    """Private chats: the user must have started the bot and not blocked it."""
    if isinstance(target, ChannelRecord):
        require_right(call, target, "can_post_messages", "not enough rights to send messages")
        return
    if target.blocked:
        raise forbidden(errors.BOT_BLOCKED)
    if not target.started and not _recent_join_request(call, target.user_id):
        raise forbidden(errors.CANT_INITIATE)


def chat_id_of(target: Chat) -> int:
    return target.user_id if isinstance(target, PrivateChat) else target.id


def _recent_join_request(call: MethodCall, user_id: int) -> bool:
    """ChatJoinRequest.user_chat_id: the bot may write first while a request is pending."""
    world = call.world
    for where in world.channels.values():
        request = where.join_requests.get(user_id)
        if request is not None and world.now() - request.date < world.join_request_dm_window:
            return True
    return False
