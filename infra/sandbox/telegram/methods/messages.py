"""Bot API methods about messages: send, edit, delete, documents, photos, callback answers,
commands."""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable
from typing import Literal, cast

from infra.sandbox.telegram import errors, images, serialize
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
    return _send_file(call, kind="document", stored=_document)


@method("sendPhoto")
def send_photo(call: MethodCall) -> object:
    return _send_file(call, kind="photo", stored=_photo)


def _send_file(call: MethodCall, *, kind: Literal["document", "photo"],
               stored: Callable[[MethodCall], FileRecord]) -> object:
    """A bot's message carrying a file (`kind`: document or photo), with an optional caption."""
    target = lookup.chat(call)
    lookup.check_can_write(call, target)
    file = stored(call)
    caption, caption_entities = _formatted(call.params, "caption", "caption_entities")
    if utf16_len(caption) > CAPTION_LIMIT:
        raise bad_request("message caption is too long")
    markup = _reply_markup(call.params)
    _admit(call, lookup.chat_id_of(target))
    sent = call.world.add_message(
        target, sender_id=call.bot.id, from_bot=True, caption=caption or None,
        caption_entities=caption_entities, reply_markup=markup,
        document=file if kind == "document" else None, photo=file if kind == "photo" else None,
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
    call.bot.commands[_commands_key(call)] = cast(Entities, commands)
    return True


@method("getMyCommands")
def get_my_commands(call: MethodCall) -> object:
    return call.bot.commands.get(_commands_key(call), [])


@method("deleteMyCommands")
def delete_my_commands(call: MethodCall) -> object:
    call.bot.commands.pop(_commands_key(call), None)
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


def reply_markup_of(params: Params) -> dict[str, object] | None:
    """An inline keyboard under a message that takes no other kind (an invoice's)."""
    return _reply_markup(params, inline_only=True)


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


def _given_file(call: MethodCall, name: str) -> FileRecord | UploadedFile:
    """The file parameter `name`: a stored file re-sent by its file_id, or a non-empty upload."""
    given = call.params.input_file(name)
    world = call.world
    if given is None:
        raise bad_request(f"there is no {name} in the request")
    if isinstance(given, str):
        if given in world.files:
            return world.files[given]  # re-sending by file_id
        if given.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")  # the sandbox has no internet
        raise bad_request("wrong file identifier/HTTP URL specified")
    if not given.data:
        raise bad_request("file must be non-empty")
    return given


def _document(call: MethodCall) -> FileRecord:
    given = _given_file(call, "document")
    return given if isinstance(given, FileRecord) else _store_upload(call, given)


def _photo(call: MethodCall) -> FileRecord:
    named = call.params.input_file("photo")
    if isinstance(named, str) and named in call.world.files \
            and call.world.files[named].width is None:
        raise bad_request("can't use file of type Document as Photo")
    given = _given_file(call, "photo")
    if isinstance(given, FileRecord):
        return given
    if len(given.data) > images.MAX_PHOTO_BYTES:
        raise bad_request("PHOTO_SAVE_FILE_INVALID")  # [I] wording for a photo over 10 MB
    image = images.sniff(given.data)
    if image is None:
        raise bad_request("IMAGE_PROCESS_FAILED")
    if not image.fits_a_photo():
        raise bad_request("PHOTO_INVALID_DIMENSIONS")
    return images.keep_photo(call.world, given.data, image)


def _store_upload(call: MethodCall, upload: UploadedFile) -> FileRecord:
    world = call.world
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


def _commands_key(call: MethodCall) -> tuple[str, str]:
    """The stored menu a scope names; a chat scope must name a chat the bot can see, as on
    the official server ("chat not found" for a person who never met the bot)."""
    params = call.params
    scope = params.json_value("scope", what="bot command scope") or {"type": "default"}
    if isinstance(scope, dict) and "chat_id" in scope:
        chat_id = scope["chat_id"]
        person = call.world.users.get(chat_id) if isinstance(chat_id, int) else None
        known = chat_id in call.world.channels or (
            isinstance(chat_id, int) and chat_id > 0 and person is not None
            and not person.is_bot)
        if not known:
            raise bad_request(errors.CHAT_NOT_FOUND)
    return json.dumps(scope, sort_keys=True), params.text("language_code")
