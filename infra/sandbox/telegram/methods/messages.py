"""Bot API methods about messages: send, edit, delete, documents, callback answers, commands."""

from __future__ import annotations

import json
import mimetypes
from typing import cast

from infra.sandbox.telegram import errors, serialize
from infra.sandbox.telegram.errors import bad_request, forbidden, too_many_requests
from infra.sandbox.telegram.formatting import (
    PARSE_MODES,
    EntityParseError,
    parse_html,
    utf16_len,
)
from infra.sandbox.telegram.methods import lookup
from infra.sandbox.telegram.methods.registry import MethodCall, method
from infra.sandbox.telegram.params import Params, UploadedFile
from infra.sandbox.telegram.records import FileRecord, MessageRecord, PrivateChat

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64  # bytes
_MARKUP_KINDS = ("inline_keyboard", "keyboard", "remove_keyboard", "force_reply")
_BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)

Entities = list[dict[str, object]]


@method("sendMessage")
def send_message(call: MethodCall) -> object:
    target = lookup.chat(call)
    lookup.check_can_write(call, target)
    text, entities = _formatted(call.params, "text", "entities")
    if not text.strip():
        raise bad_request(errors.MESSAGE_TEXT_EMPTY)
    if utf16_len(text) > TEXT_LIMIT:
        raise bad_request(errors.MESSAGE_TOO_LONG)
    markup = _reply_markup(call.params)
    _admit(call, lookup.chat_id_of(target))
    sent = call.world.add_message(
        target, sender_id=call.bot.id, from_bot=True, text=text, entities=entities,
        reply_markup=markup,
    )
    return serialize.message(call.world, sent)


@method("sendDocument")
def send_document(call: MethodCall) -> object:
    target = lookup.chat(call)
    lookup.check_can_write(call, target)
    stored = _document(call)
    caption, caption_entities = _formatted(call.params, "caption", "caption_entities")
    if utf16_len(caption) > CAPTION_LIMIT:
        raise bad_request("message caption is too long")
    markup = _reply_markup(call.params)
    _admit(call, lookup.chat_id_of(target))
    sent = call.world.add_message(
        target, sender_id=call.bot.id, from_bot=True, document=stored,
        caption=caption or None, caption_entities=caption_entities, reply_markup=markup,
    )
    return serialize.message(call.world, sent)


@method("sendPhoto")
def send_photo(call: MethodCall) -> object:
    """A photo by upload or by the file_id of a photo Telegram has (not a document's, not a
    URL: the stand-in has no internet), with Telegram's refusals for each wrong kind."""
    target = lookup.chat(call)
    lookup.check_can_write(call, target)
    stored = _photo(call)
    caption, caption_entities = _formatted(call.params, "caption", "caption_entities")
    if utf16_len(caption) > CAPTION_LIMIT:
        raise bad_request("message caption is too long")
    markup = _reply_markup(call.params)
    _admit(call, lookup.chat_id_of(target))
    sent = call.world.add_message(
        target, sender_id=call.bot.id, from_bot=True, photo=stored,
        caption=caption or None, caption_entities=caption_entities, reply_markup=markup,
    )
    return serialize.message(call.world, sent)


@method("editMessageText")
def edit_message_text(call: MethodCall) -> object:
    found = _own_message(call)
    text, entities = _formatted(call.params, "text", "entities")
    if not text.strip():
        raise bad_request(errors.MESSAGE_TEXT_EMPTY)
    if utf16_len(text) > TEXT_LIMIT:
        raise bad_request(errors.MESSAGE_TOO_LONG)
    # Omitting reply_markup removes the inline keyboard, as on Telegram.
    markup = _reply_markup(call.params, inline_only=True)
    if (found.text, found.entities, found.reply_markup) == (text, entities, markup):
        raise bad_request(errors.MESSAGE_NOT_MODIFIED)
    found.text, found.entities, found.reply_markup = text, entities, markup
    found.edit_date = call.world.now()
    call.world.touch()
    return serialize.message(call.world, found)


@method("editMessageReplyMarkup")
def edit_message_reply_markup(call: MethodCall) -> object:
    found = _own_message(call)
    markup = _reply_markup(call.params, inline_only=True)
    if found.reply_markup == markup:
        raise bad_request(errors.MESSAGE_NOT_MODIFIED)
    found.reply_markup = markup
    found.edit_date = call.world.now()
    call.world.touch()
    return serialize.message(call.world, found)


@method("deleteMessage")
def delete_message(call: MethodCall) -> object:
    target = lookup.chat(call)
    message_id = call.params.int64("message_id")
    found = next(
        (m for m in target.messages if m.message_id == message_id and not m.deleted), None,
    )
    if found is None:
        raise bad_request(errors.MESSAGE_TO_DELETE_NOT_FOUND)
    found.deleted = True
    call.world.touch()
    return True


@method("sendChatAction")
def send_chat_action(call: MethodCall) -> object:
    target = lookup.chat(call)
    lookup.check_can_write(call, target)
    if not call.params.is_set("action"):
        raise bad_request("parameter \"action\" is required")
    return True


@method("answerCallbackQuery")
def answer_callback_query(call: MethodCall) -> object:
    query = call.world.callback_queries.get(call.params.text("callback_query_id"))
    if query is None or query.answered or query.bot_id != call.bot.id:
        raise bad_request(errors.QUERY_TOO_OLD)
    query.answered = True
    query.answer_text = call.params.text("text") or None
    query.show_alert = call.params.boolean("show_alert")
    query.url = call.params.text("url") or None
    call.world.touch()
    return True


@method("getFile")
def get_file(call: MethodCall) -> object:
    stored = call.world.files.get(call.params.text("file_id"))
    if stored is None:
        raise bad_request("invalid file_id")
    return serialize.file(stored)


@method("setMyCommands")
def set_my_commands(call: MethodCall) -> object:
    commands = call.params.json_value("commands", what="commands")
    if not isinstance(commands, list) or not all(_is_command(c) for c in commands):
        raise bad_request("can't parse commands JSON object")
    call.bot.commands[_commands_key(call.params)] = cast(Entities, commands)
    return True


@method("getMyCommands")
def get_my_commands(call: MethodCall) -> object:
    return call.bot.commands.get(_commands_key(call.params), [])


@method("deleteMyCommands")
def delete_my_commands(call: MethodCall) -> object:
    call.bot.commands.pop(_commands_key(call.params), None)
    return True


def _admit(call: MethodCall, chat_id: int) -> None:
    retry_after = call.world.flood.admit(bot_id=call.bot.id, chat_id=chat_id)
    if retry_after is not None:
        raise too_many_requests(retry_after)


def _formatted(params: Params, text_name: str, entities_name: str) -> tuple[str, Entities]:
    text = params.text(text_name)
    mode = params.text("parse_mode").lower()
    if mode and mode not in PARSE_MODES:
        raise bad_request(f"unsupported parse_mode \"{params.text('parse_mode')}\"")
    if mode == "html":
        try:
            return parse_html(text)
        except EntityParseError as error:
            raise bad_request(f"can't parse entities: {error}") from None
    entities = params.json_value(entities_name, what="message entities")
    if entities is not None and not isinstance(entities, list):
        raise bad_request("can't parse message entities JSON object")
    return text, cast(Entities, entities or [])


def _reply_markup(params: Params, *, inline_only: bool = False) -> dict[str, object] | None:
    markup = params.json_value("reply_markup", what="reply keyboard markup")
    if markup is None:
        return None
    kinds = [k for k in _MARKUP_KINDS if isinstance(markup, dict) and k in markup]
    if not isinstance(markup, dict) or not kinds or (inline_only and kinds[0] != "inline_keyboard"):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is not None:
        _check_inline_keyboard(rows)
    return cast(dict[str, object], markup)


def _check_inline_keyboard(rows: object) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request("can't parse inline keyboard JSON object")
    for button in (button for row in rows for button in row):
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            raise bad_request("can't parse inline keyboard button: Text must be a string")
        if not any(action in button for action in _BUTTON_ACTIONS):
            raise bad_request(
                "can't parse inline keyboard button: Text buttons are unallowed in the inline "
                "keyboard"
            )
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_LIMIT:
            raise bad_request("BUTTON_DATA_INVALID")


def _own_message(call: MethodCall) -> MessageRecord:
    """The bot's message that chat_id + message_id name (inline messages are not modelled)."""
    if call.params.is_set("inline_message_id"):
        raise bad_request("inline messages are not supported by the sandbox")
    target = lookup.chat(call)
    if isinstance(target, PrivateChat) and target.blocked:
        raise forbidden(errors.BOT_BLOCKED)
    message_id = call.params.int64("message_id")
    found = next(
        (m for m in target.messages if m.message_id == message_id and not m.deleted), None,
    )
    if found is None:
        raise bad_request(errors.MESSAGE_TO_EDIT_NOT_FOUND)
    if not found.from_bot:
        raise bad_request(errors.MESSAGE_CANT_BE_EDITED)
    return found


def _document(call: MethodCall) -> FileRecord:
    given = call.params.input_file("document")
    world = call.world
    if given is None:
        raise bad_request("there is no document in the request")
    if isinstance(given, str):
        if given in world.files:
            return world.files[given]  # re-sending by file_id
        if given.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")  # the sandbox has no internet
        raise bad_request("wrong file identifier/HTTP URL specified")
    return _store_upload(call, given)


PHOTO_SIZE_LIMIT = 10 * 1024 * 1024  # Telegram's limit for a photo sent by upload
PHOTO_MAX_SIDES = 10_000  # width + height
PHOTO_MAX_RATIO = 20


def _photo(call: MethodCall) -> FileRecord:
    given = call.params.input_file("photo")
    world = call.world
    if given is None:
        raise bad_request("there is no photo in the request")
    if isinstance(given, str):
        if given in world.files:
            known = world.files[given]
            if known.width is None:
                raise bad_request("can't use file of type Document as Photo")
            return known  # re-sending by file_id
        if given.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")  # the sandbox has no internet
        raise bad_request("wrong file identifier/HTTP URL specified")
    if not given.data:
        raise bad_request("file must be non-empty")
    if len(given.data) > PHOTO_SIZE_LIMIT:
        raise bad_request("PHOTO_INVALID_DIMENSIONS")
    size = image_size(given.data)
    if size is None:
        raise bad_request("IMAGE_PROCESS_FAILED")
    width, height = size
    if (width + height > PHOTO_MAX_SIDES or min(width, height) == 0
            or max(width, height) > PHOTO_MAX_RATIO * min(width, height)):
        raise bad_request("PHOTO_INVALID_DIMENSIONS")
    stored = FileRecord(
        file_id=f"AgACAgIAAx{world.random_id(40)}", file_unique_id=f"AQAD{world.random_id(12)}",
        file_name=given.filename or "photo.jpg", mime_type="image/jpeg", data=given.data,
        file_path=f"photos/file_{len(world.files) + 1}.jpg", width=width, height=height,
    )
    world.files[stored.file_id] = stored
    return stored


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, GIF or JPEG image; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    index = 2
    while index + 9 < len(data):
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        length = int.from_bytes(data[index + 2:index + 4], "big")
        # SOF0..SOF15 but DHT (C4), JPG (C8) and DAC (CC) carry the frame's size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[index + 5:index + 7], "big")
            width = int.from_bytes(data[index + 7:index + 9], "big")
            return width, height
        index += 2 + length
    return None


def _store_upload(call: MethodCall, upload: UploadedFile) -> FileRecord:
    world = call.world
    if not upload.data:
        raise bad_request("file must be non-empty")
    guessed, _ = mimetypes.guess_type(upload.filename)
    number = len(world.files) + 1
    suffix = upload.filename.rsplit(".", 1)[-1] if "." in upload.filename else "bin"
    stored = FileRecord(
        file_id=f"BQACAgIAAx{world.random_id(40)}", file_unique_id=f"AgAD{world.random_id(12)}",
        file_name=upload.filename,
        mime_type=guessed or upload.content_type or "application/octet-stream",
        data=upload.data, file_path=f"documents/file_{number}.{suffix}",
    )
    world.files[stored.file_id] = stored
    return stored


def _is_command(value: object) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("command"), str) and 1 <= len(value["command"]) <= 32
        and isinstance(value.get("description"), str) and 1 <= len(value["description"]) <= 256
    )


def _commands_key(params: Params) -> tuple[str, str]:
    scope = params.json_value("scope", what="bot command scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), params.text("language_code")
