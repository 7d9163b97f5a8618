"""Bot API methods about the channel: invite links, join requests, bans, members, chat info."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from infra.sandbox.telegram import errors, serialize
from infra.sandbox.telegram.errors import bad_request
from infra.sandbox.telegram.methods import lookup
from infra.sandbox.telegram.methods.registry import MethodCall, method
from infra.sandbox.telegram.records import (
    PARTICIPANT_STATUSES,
    ChannelRecord,
    InviteLinkRecord,
    PrivateChat,
)

MEMBER_LIMIT_MAX = 100_000  # Client.cpp clamps, it does not refuse
_INT32_MAX = 2**31 - 1


@method("createChatInviteLink")
def create_chat_invite_link(call: MethodCall) -> object:
    where = _channel_where_bot_can(call, "can_invite_users")
    link = InviteLinkRecord(
        url=f"https://t.me/+{call.world.random_id(16)}", creator_id=call.bot.id,
        created_at=call.world.now(),
    )
    _apply_link_settings(call, link)
    where.links[link.url] = link
    call.world.touch()
    return serialize.invite_link(call.world, where, link)


@method("editChatInviteLink")
def edit_chat_invite_link(call: MethodCall) -> object:
    where = _channel_where_bot_can(call, "can_invite_users")
    link = _own_link(call, where)
    if link.is_revoked:
        raise bad_request(errors.INVITE_HASH_EXPIRED)
    # Full-state semantics (reference §1): every omitted field is reset, not preserved.
    _apply_link_settings(call, link)
    call.world.touch()
    return serialize.invite_link(call.world, where, link)


@method("revokeChatInviteLink")
def revoke_chat_invite_link(call: MethodCall) -> object:
    where = _channel_where_bot_can(call, "can_invite_users")
    link = _own_link(call, where)
    link.is_revoked = True
    call.world.touch()
    return serialize.invite_link(call.world, where, link)


@method("approveChatJoinRequest")
def approve_chat_join_request(call: MethodCall) -> object:
    where = _channel_where_bot_can(call, "can_invite_users")
    person = lookup.user(call)
    request = where.join_requests.pop(person.id, None)
    if request is None:
        raise bad_request(errors.HIDE_REQUESTER_MISSING)
    call.world.touch()
    if call.world.member(where, person.id).status in PARTICIPANT_STATUSES:
        raise bad_request(errors.USER_ALREADY_PARTICIPANT)
    link = where.links.get(request.link_url) if request.link_url else None
    if link is not None:
        link.joined_count += 1
    call.world.set_member_status(
        where, person.id, "member", actor_id=call.bot.id, via_link=request.link_url,
        via_join_request=True,
    )
    return True


@method("declineChatJoinRequest")
def decline_chat_join_request(call: MethodCall) -> object:
    where = _channel_where_bot_can(call, "can_invite_users")
    person = lookup.user(call)
    if where.join_requests.pop(person.id, None) is None:
        raise bad_request(errors.HIDE_REQUESTER_MISSING)
    call.world.touch()
    return True


@method("banChatMember")
def ban_chat_member(call: MethodCall) -> object:
    where = _channel_where_bot_can(call, "can_restrict_members")
    person = lookup.user(call)
    _refuse_for_admins(call, where, person.id)
    until = _ban_until(call)
    current = call.world.member(where, person.id)
    where.join_requests.pop(person.id, None)
    if current.status != "kicked" or current.until_date != until:
        call.world.set_member_status(where, person.id, "kicked", actor_id=call.bot.id,
                                     until_date=until)
    return True


@method("unbanChatMember")
def unban_chat_member(call: MethodCall) -> object:
    where = _channel_where_bot_can(call, "can_restrict_members")
    person = lookup.user(call)
    status = call.world.member(where, person.id).status
    if call.params.boolean("only_if_banned") and status != "kicked":
        return True  # the server checks the status first and does nothing
    _refuse_for_admins(call, where, person.id)
    # Without only_if_banned the user ends up "not a member but free to rejoin": a kick.
    if status != "left":
        call.world.set_member_status(where, person.id, "left", actor_id=call.bot.id)
    return True


@method("getChatMember")
def get_chat_member(call: MethodCall) -> object:
    target = lookup.chat(call)
    person = lookup.user(call, unknown=errors.USER_NOT_FOUND)
    if isinstance(target, PrivateChat):
        if person.id not in {target.user_id, call.bot.id}:
            raise bad_request(errors.USER_NOT_FOUND)
        return {"status": "member", "user": serialize.user(person)}
    return serialize.chat_member(call.world, call.world.member(target, person.id))


@method("getChatAdministrators")
def get_chat_administrators(call: MethodCall) -> object:
    where = lookup.channel(call)
    return [
        serialize.chat_member(call.world, call.world.member(where, user_id))
        for user_id, member in where.members.items()
        if member.status in {"creator", "administrator"}
    ]


@method("getChatMemberCount")
def get_chat_member_count(call: MethodCall) -> object:
    target = lookup.chat(call)
    if isinstance(target, PrivateChat):
        return 2
    return sum(
        1 for user_id in target.members
        if call.world.member(target, user_id).status in PARTICIPANT_STATUSES
    )


@method("getChat")
def get_chat(call: MethodCall) -> object:
    return serialize.chat_full_info(call.world, lookup.chat_id_of(lookup.chat(call)))


_REFUSALS = {
    "can_invite_users": errors.NO_INVITE_RIGHTS,
    "can_restrict_members": errors.NO_RESTRICT_RIGHTS,
}


def _channel_where_bot_can(call: MethodCall, right: str) -> ChannelRecord:
    """The channel `chat_id` names, provided the calling bot holds `right` there."""
    where = lookup.channel(call)
    lookup.require_right(call, where, right, _REFUSALS[right])
    return where


def _apply_link_settings(call: MethodCall, link: InviteLinkRecord) -> None:
    params = call.params
    member_limit = params.integer("member_limit", minimum=0, maximum=MEMBER_LIMIT_MAX)
    creates_join_request = params.boolean("creates_join_request")
    if member_limit and creates_join_request:
        raise bad_request(errors.MEMBER_LIMIT_WITH_JOIN_REQUEST)
    expire = params.integer("expire_date", minimum=0, maximum=_INT32_MAX)
    link.name = params.text("name")
    link.expire_date = datetime.fromtimestamp(expire, UTC) if expire else None
    link.member_limit = member_limit
    link.creates_join_request = creates_join_request


def _own_link(call: MethodCall, where: ChannelRecord) -> InviteLinkRecord:
    link = where.links.get(call.params.text("invite_link").strip())
    if link is None or link.creator_id != call.bot.id:
        raise bad_request(errors.INVITE_HASH_EXPIRED)
    return link


def _refuse_for_admins(call: MethodCall, where: ChannelRecord, user_id: int) -> None:
    status = call.world.member(where, user_id).status
    if status == "creator":
        raise bad_request(errors.CANT_REMOVE_OWNER)
    if status == "administrator":
        raise bad_request(errors.USER_IS_ADMIN)


def _ban_until(call: MethodCall) -> datetime | None:
    """until_date under 30 s or over 366 days from now means forever (None)."""
    seconds = call.params.integer("until_date", minimum=0, maximum=_INT32_MAX)
    if not seconds:
        return None
    until = datetime.fromtimestamp(seconds, UTC)
    now = call.world.now()
    if until - now < timedelta(seconds=30) or until - now > timedelta(days=366):
        return None
    return until
