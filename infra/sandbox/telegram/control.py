"""The control API under `/control/`: JSON over HTTP for tests and for the page.

Acts as people (write, press, join, leave, block), reads what the bot did (messages, files, the
channel, the call log) and steers the world (faults, flood limits, the bot's rights); the reset
lives in `world_reset`.
Answers `{"ok": true, "result": …}` or `{"ok": false, "error": "…"}` with a 4xx status.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import fields, replace
from typing import Any, TypeVar, cast

from aiohttp import web

from infra.sandbox.telegram import control_views as views
from infra.sandbox.telegram import people
from infra.sandbox.telegram.bot_api import WORLD
from infra.sandbox.telegram.faults import FaultRule
from infra.sandbox.telegram.flood import FloodLimits
from infra.sandbox.telegram.people import ControlError
from infra.sandbox.telegram.records import BotRecord
from infra.sandbox.telegram.world import BOT_ADMIN_RIGHTS, TelegramWorld

Json = dict[str, object]
Action = Callable[[web.Request, TelegramWorld, Json], object]
_Settings = TypeVar("_Settings", FaultRule, FloodLimits)


def add_routes(app: web.Application) -> None:
    routes = [
        ("GET", "/control/state", state),
        ("GET", "/control/users", list_users), ("POST", "/control/users", create_user),
        ("POST", "/control/users/{user_id}/messages", send_text),
        ("POST", "/control/users/{user_id}/callbacks", press_button),
        ("POST", "/control/users/{user_id}/pay", pay_invoice),
        ("POST", "/control/stars", set_stars),
        ("POST", "/control/users/{user_id}/photos", send_photo),
        ("POST", "/control/users/{user_id}/join", join),
        ("POST", "/control/users/{user_id}/leave", leave),
        ("POST", "/control/users/{user_id}/standing", standing),
        ("POST", "/control/users/{user_id}/block", block),
        ("POST", "/control/users/{user_id}/unblock", unblock),
        ("GET", "/control/users/{user_id}/chat", private_chat),
        ("GET", "/control/messages", list_messages), ("GET", "/control/files/{file_id}", file),
        ("GET", "/control/channel", channel), ("POST", "/control/channel/bot-rights", bot_rights),
        ("GET", "/control/calls", list_calls),
        ("GET", "/control/faults", list_faults), ("POST", "/control/faults", set_fault),
        ("DELETE", "/control/faults", clear_faults),
        ("GET", "/control/flood", flood), ("POST", "/control/flood", set_flood),
    ]
    for verb, path, action in routes:
        app.router.add_route(verb, path, _endpoint(action))


def state(request: web.Request, world: TelegramWorld, body: Json) -> object:
    return views.state(world)


def list_users(request: web.Request, world: TelegramWorld, body: Json) -> object:
    bot = world.default_bot
    return [views.person(world, u, bot) for u in world.users.values() if not u.is_bot]


def create_user(request: web.Request, world: TelegramWorld, body: Json) -> object:
    user = people.create_user(
        world, first_name=_text(body, "first_name"), user_id=_optional_int(body, "id"),
        last_name=_optional_text(body, "last_name"), username=_optional_text(body, "username"),
        language_code=_optional_text(body, "language_code"),
    )
    return views.person(world, user, world.default_bot)


def send_text(request: web.Request, world: TelegramWorld, body: Json) -> object:
    sent = people.send_text(
        world, user_id=_path_int(request, "user_id"), text=_text(body, "text"),
        bot_id=_optional_int(body, "bot_id"),
    )
    return views.message(world, sent)


def send_photo(request: web.Request, world: TelegramWorld, body: Json) -> object:
    try:
        data = base64.b64decode(_text(body, "data"), validate=True)
    except binascii.Error:
        raise ControlError(400, "data must be base64") from None
    sent = people.send_photo(
        world, user_id=_path_int(request, "user_id"), data=data,
        caption=_optional_text(body, "caption") or "",
        filename=_optional_text(body, "filename") or "photo.jpg",
        bot_id=_optional_int(body, "bot_id"),
    )
    return views.message(world, sent)


def press_button(request: web.Request, world: TelegramWorld, body: Json) -> object:
    query = people.press_button(
        world, user_id=_path_int(request, "user_id"), message_id=_int(body, "message_id"),
        data=_text(body, "data"), bot_id=_optional_int(body, "bot_id"),
    )
    return views.callback_answer(query)


def pay_invoice(request: web.Request, world: TelegramWorld, body: Json) -> object:
    query = people.pay_invoice(world, user_id=_path_int(request, "user_id"),
                               message_id=_int(body, "message_id"),
                               bot_id=_optional_int(body, "bot_id"))
    return {"pre_checkout_query_id": query.id, "message_id": query.message_id}


def set_stars(request: web.Request, world: TelegramWorld, body: Json) -> object:
    """{"duplicate_payments": true} delivers every successful_payment twice, as Telegram may."""
    value = body.get("duplicate_payments")
    if not isinstance(value, bool):
        raise ControlError(400, "duplicate_payments must be true or false")
    world.duplicate_payments = value
    return {"duplicate_payments": value}


def join(request: web.Request, world: TelegramWorld, body: Json) -> object:
    user_id = _path_int(request, "user_id")
    outcome = people.open_invite_link(
        world, user_id=user_id, invite_link=_text(body, "invite_link"),
    )
    return {"outcome": outcome, "channel_status": world.member(world.channel, user_id).status}


def leave(request: web.Request, world: TelegramWorld, body: Json) -> object:
    user_id = _path_int(request, "user_id")
    people.leave_channel(world, user_id=user_id, chat_id=_optional_int(body, "chat_id"))
    return {"channel_status": world.member(world.channel, user_id).status}


def standing(request: web.Request, world: TelegramWorld, body: Json) -> object:
    """{"status": member|administrator|left|kicked, "chat_id"?}: the owner's change by hand."""
    user_id, chat_id = _path_int(request, "user_id"), _optional_int(body, "chat_id")
    people.set_standing_by_hand(world, user_id=user_id, status=_text(body, "status"),
                                chat_id=chat_id)
    where = world.channels[chat_id if chat_id is not None else world.channel_id]
    return {"channel_status": world.member(where, user_id).status}


def block(request: web.Request, world: TelegramWorld, body: Json) -> object:
    return _set_blocked(request, world, body, blocked=True)


def unblock(request: web.Request, world: TelegramWorld, body: Json) -> object:
    return _set_blocked(request, world, body, blocked=False)


def private_chat(request: web.Request, world: TelegramWorld, body: Json) -> object:
    user_id = _path_int(request, "user_id")
    user = world.users.get(user_id)
    if user is None or user.is_bot:
        raise ControlError(404, f"user {user_id} not found")
    return views.private_chat(world, user, _bot(world, request.query.get("bot_id")))


def list_messages(request: web.Request, world: TelegramWorld, body: Json) -> object:
    """Every message, filtered by ?chat_id= (a user id or the channel), ?direction=, ?after_seq=."""
    query = request.query
    chat_id = _query_int(request, "chat_id")
    after = _query_int(request, "after_seq") or 0
    chats = [c.messages for c in world.private_chats.values()]
    chats += [c.messages for c in world.channels.values()]
    found = [
        views.message(world, m) for messages in chats for m in messages
        if m.seq > after and (chat_id is None or m.chat_id == chat_id)
    ]
    if "direction" in query:
        found = [m for m in found if m["direction"] == query["direction"]]
    return sorted(found, key=lambda m: cast(int, m["seq"]))


def file(request: web.Request, world: TelegramWorld, body: Json) -> object:
    stored = world.files.get(request.match_info["file_id"])
    if stored is None:
        raise ControlError(404, "file not found")
    return web.Response(
        body=stored.data, content_type=stored.mime_type,
        headers={"Content-Disposition": f'attachment; filename="{stored.file_name}"'},
    )


def channel(request: web.Request, world: TelegramWorld, body: Json) -> object:
    chat_id = _query_int(request, "chat_id")
    found = world.channels.get(chat_id if chat_id is not None else world.channel_id)
    if found is None:
        raise ControlError(404, "channel not found")
    return views.channel(world, found)


def bot_rights(request: web.Request, world: TelegramWorld, body: Json) -> object:
    """Grant or take administrator rights of the default bot in the channel."""
    unknown = set(body) - set(BOT_ADMIN_RIGHTS)
    if unknown or not all(isinstance(v, bool) for v in body.values()):
        raise ControlError(400, f"expected booleans among {sorted(BOT_ADMIN_RIGHTS)}")
    member = world.channel.members[world.default_bot.id]
    member.rights = {**(member.rights or BOT_ADMIN_RIGHTS), **cast(dict[str, bool], body)}
    world.touch()
    return member.rights


def list_calls(request: web.Request, world: TelegramWorld, body: Json) -> object:
    """The call log, oldest first; ?method= (any case), ?after_id=, ?limit=."""
    method = request.query.get("method", "").lower()
    after = _query_int(request, "after_id") or 0
    found = [
        views.call(c) for c in world.calls
        if c.id > after and (not method or c.method.lower() == method)
    ]
    limit = _query_int(request, "limit")
    return found[-limit:] if limit else found


def list_faults(request: web.Request, world: TelegramWorld, body: Json) -> object:
    return [rule.as_json() for rule in world.faults.rules()]


def set_fault(request: web.Request, world: TelegramWorld, body: Json) -> object:
    """Replace the rule of one method ("method", default "*") and target (user_id, chat_id).

    See FaultRule for the fields: any method can be made to answer 429, 5xx or any refusal of
    the catalogue, for everyone or for one user or chat. DELETE /control/faults clears them.
    """
    rule = _dataclass_from(body, FaultRule())
    try:
        return world.faults.set_rule(rule).as_json()
    except ValueError as error:
        raise ControlError(400, str(error)) from None


def clear_faults(request: web.Request, world: TelegramWorld, body: Json) -> object:
    world.faults.clear(request.query.get("method"))
    return [rule.as_json() for rule in world.faults.rules()]


def flood(request: web.Request, world: TelegramWorld, body: Json) -> object:
    return views.state(world)["flood"]


def set_flood(request: web.Request, world: TelegramWorld, body: Json) -> object:
    """{"enabled": bool} plus, optionally, any FloodLimits field."""
    enabled = body.pop("enabled", world.flood.enabled)
    if not isinstance(enabled, bool):
        raise ControlError(400, "enabled must be a boolean")
    world.flood.configure(enabled=enabled, limits=_dataclass_from(body, world.flood.limits))
    return views.state(world)["flood"]


def _set_blocked(
    request: web.Request, world: TelegramWorld, body: Json, *, blocked: bool,
) -> object:
    user_id = _path_int(request, "user_id")
    bot_id = _optional_int(body, "bot_id")
    people.set_blocked(world, user_id=user_id, blocked=blocked, bot_id=bot_id)
    user = world.users[user_id]
    return views.person(world, user, world.bot_by_id(bot_id))


def _endpoint(action: Action) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        world = request.app[WORLD]
        try:
            body = await _body(request)
            with world.lock:
                result = action(request, world, body)
        except ControlError as error:
            return web.json_response({"ok": False, "error": error.message}, status=error.status)
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response({"ok": True, "result": result})
    return handle


async def _body(request: web.Request) -> Json:
    if not request.body_exists:
        return {}
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise ControlError(400, "the body must be JSON") from None
    if not isinstance(body, dict):
        raise ControlError(400, "the body must be a JSON object")
    return body


def _dataclass_from(body: Json, base: _Settings) -> _Settings:
    """`base` with the fields `body` names, each checked against the type of its default."""
    unknown = sorted(set(body) - {f.name for f in fields(base)})
    if unknown:
        raise ControlError(400, f"unknown fields {unknown}")
    changes: dict[str, Any] = {}
    for name, value in body.items():
        current = getattr(base, name)
        if isinstance(current, str) and isinstance(value, str):
            changes[name] = value
        elif isinstance(current, float) and _is_number(value):
            changes[name] = float(cast(float, value))
        elif isinstance(current, int) and _is_number(value) and isinstance(value, int):
            changes[name] = value
        else:
            raise ControlError(400, f"{name} must be a {type(current).__name__}")
    return replace(base, **changes)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bot(world: TelegramWorld, raw: str | None) -> BotRecord:
    try:
        return world.bot_by_id(int(raw) if raw else None)
    except (KeyError, ValueError):
        raise ControlError(404, f"bot {raw} not found") from None


def _text(body: Json, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ControlError(400, f"{name} (a string) is required")
    return value


def _optional_text(body: Json, name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ControlError(400, f"{name} must be a string")
    return value


def _int(body: Json, name: str) -> int:
    value = _optional_int(body, name)
    if value is None:
        raise ControlError(400, f"{name} (an integer) is required")
    return value


def _optional_int(body: Json, name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ControlError(400, f"{name} must be an integer")
    try:
        return int(value)
    except ValueError:
        raise ControlError(400, f"{name} must be an integer") from None


def _path_int(request: web.Request, name: str) -> int:
    value = _optional_int(dict(request.match_info), name)
    assert value is not None  # the route always has it
    return value


def _query_int(request: web.Request, name: str) -> int | None:
    return _optional_int(dict(request.query), name)
