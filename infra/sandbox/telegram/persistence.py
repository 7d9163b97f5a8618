"""The stand-in's world on disk: people, chats, the channel, files, update ids and id counters.

`make run` keeps it under var/ beside the database, so a restart continues the same story on
both sides: the subscriber the database knows is still on the page, with their chat, and no id
is handed out twice (the counters are saved, and the runner passes the highest id the database
knows). Saved as one JSON file, replaced atomically; what is not saved (faults, flood buckets,
the call log, webhook settings, command menus) is configuration a restart sets again.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from infra.sandbox.telegram.records import (
    CallbackQueryRecord,
    ChannelRecord,
    FileRecord,
    InviteLinkRecord,
    JoinRequestRecord,
    MemberRecord,
    MessageRecord,
    PreCheckoutRecord,
    PrivateChat,
    StarChargeRecord,
    UserRecord,
)
from infra.sandbox.telegram.world import TelegramWorld

FORMAT = 1
SAVE_EVERY_SECONDS = 0.5
Json = dict[str, Any]
_Record = TypeVar("_Record")


class WorldFileError(Exception):
    """The saved world cannot be read; the message says which file and why."""


def snapshot(world: TelegramWorld) -> Json:
    """Everything worth keeping, as JSON-ready data (take it under the world's lock)."""
    with world.lock:
        return {
            "format": FORMAT,
            "version": world.version,
            "message_seq": world.message_seq,
            "highest_user_id": world.highest_user_id,
            "users": [_plain(u) for u in world.users.values() if not u.is_bot],
            "files": [{**_plain(f), "data": base64.b64encode(f.data).decode()}
                      for f in world.files.values()],
            "private_chats": [
                {**_plain(chat, skip={"messages"}),
                 "messages": [_message(m) for m in chat.messages]}
                for chat in world.private_chats.values()
            ],
            "channels": [
                {**_plain(channel, skip={"members", "links", "join_requests", "messages"}),
                 "members": [_plain(m) for m in channel.members.values()],
                 "links": [_plain(link) for link in channel.links.values()],
                 "join_requests": [_plain(r) for r in channel.join_requests.values()],
                 "messages": [_message(m) for m in channel.messages]}
                for channel in world.channels.values()
            ],
            "callback_queries": [_plain(q) for q in world.callback_queries.values()],
            "pre_checkouts": [_plain(q) for q in world.pre_checkouts.values()],
            "star_charges": [_plain(c) for c in world.star_charges.values()],
            "updates": {token: bot.updates.export() for token, bot in world.bots.items()},
        }


def restore(world: TelegramWorld, data: Json) -> None:
    """Put a snapshot back; the configured bot, channel and admin stay as configured."""
    if data.get("format") != FORMAT:
        raise ValueError(f"unknown format {data.get('format')!r}")
    with world.lock:
        for raw in data["users"]:
            user = _record(UserRecord, raw)
            world.users[user.id] = user
        world.files = {}
        for raw in data["files"]:
            stored = _record(FileRecord, {**raw, "data": base64.b64decode(raw["data"])})
            world.files[stored.file_id] = stored
        for raw in data["private_chats"]:
            chat = _record(PrivateChat, raw, messages=[_load_message(world, m)
                                                      for m in raw["messages"]])
            world.private_chats[(chat.bot_id, chat.user_id)] = chat
        for raw in data["channels"]:
            channel = _record(
                ChannelRecord, raw,
                members={m["user_id"]: _record(MemberRecord, m) for m in raw["members"]},
                links={link["url"]: _record(InviteLinkRecord, link) for link in raw["links"]},
                join_requests={r["user_id"]: _record(JoinRequestRecord, r)
                               for r in raw["join_requests"]},
                messages=[_load_message(world, m) for m in raw["messages"]],
            )
            world.channels[channel.id] = channel
        world.callback_queries = {
            q["id"]: _record(CallbackQueryRecord, q) for q in data["callback_queries"]
        }
        # Files saved before Stars payments existed have neither list.
        world.pre_checkouts = {q["id"]: _record(PreCheckoutRecord, q)
                               for q in data.get("pre_checkouts", [])}
        world.star_charges = {c["charge_id"]: _record(StarChargeRecord, c)
                              for c in data.get("star_charges", [])}
        for token, state in data["updates"].items():
            if token in world.bots:
                world.bots[token].updates.restore(state)
        world.message_seq = max(world.message_seq, int(data["message_seq"]))
        world.note_user_id(int(data["highest_user_id"]))
        world.version = max(world.version, int(data["version"])) + 1


class WorldFile:
    """One world's file: loaded at start, saved after changes and at shutdown."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load_into(self, world: TelegramWorld) -> bool:
        """Restore the saved world if there is one; False for a first start."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return False
        try:
            restore(world, json.loads(text))
        except (ValueError, KeyError, TypeError) as error:
            raise WorldFileError(
                f"{self.path}: the saved sandbox world cannot be read ({error}); move the file "
                "away to start with an empty world") from error
        return True

    def save(self, world: TelegramWorld) -> int:
        """Write the world atomically; return the version written."""
        data = snapshot(world)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        os.replace(partial, self.path)
        return int(data["version"])

    def keeper(self, world: TelegramWorld) -> Callable[[web.Application],
                                                       AsyncIterator[None]]:
        """An aiohttp cleanup context that saves shortly after each change and at shutdown."""

        async def keep(_app: web.Application) -> AsyncIterator[None]:
            saved = self.save(world)
            task = asyncio.create_task(self._save_changes(world, saved))
            yield
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self.save(world)

        return keep

    async def _save_changes(self, world: TelegramWorld, saved: int) -> None:
        while True:
            await asyncio.sleep(SAVE_EVERY_SECONDS)
            if world.version != saved:
                saved = self.save(world)


def _encode(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _plain(record: object, *, skip: frozenset[str] | set[str] = frozenset()) -> Json:
    return {f.name: _encode(getattr(record, f.name))
            for f in fields(record) if f.name not in skip}  # type: ignore[arg-type]


def _message(message: MessageRecord) -> Json:
    plain = _plain(message, skip={"document", "photo"})
    plain["document"] = message.document.file_id if message.document else None
    plain["photo"] = message.photo.file_id if message.photo else None
    return plain


def _record(cls: type[_Record], raw: Json, **given: object) -> _Record:
    """`cls` from saved fields: dates parsed by their annotation, `given` taken as is."""
    values: dict[str, object] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in given:
            values[f.name] = given[f.name]
        elif f.name in raw:
            value = raw[f.name]
            if "datetime" in str(f.type) and isinstance(value, str):
                value = datetime.fromisoformat(value)
            elif str(f.type).startswith("set[") and isinstance(value, list):
                value = set(value)
            values[f.name] = value
    return cls(**values)


def _load_message(world: TelegramWorld, raw: Json) -> MessageRecord:
    document = world.files.get(raw["document"]) if raw.get("document") else None
    photo = world.files.get(raw["photo"]) if raw.get("photo") else None
    return _record(MessageRecord, raw, document=document, photo=photo)
