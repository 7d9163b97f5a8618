"""Message methods of the stand-in (infra/sandbox/telegram/methods/messages.py), via aiogram."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from pydantic import BaseModel
from tg_sandbox_support import bot_on, subscriber

from infra.sandbox.telegram import TelegramSandbox, people


def _plain(model: BaseModel | None) -> object:
    """aiogram models compare with their bot context too; compare their data instead."""
    return model.model_dump(exclude_none=True) if model is not None else None


PAY = InlineKeyboardMarkup(
    inline_keyboard=[[InlineKeyboardButton(text="Pay", callback_data="pay")]],
)


def test_a_user_who_never_started_the_bot_cannot_be_written_to(
    telegram_sandbox: TelegramSandbox,
) -> None:
    """403 "bot can't initiate conversation with a user" until the user presses START."""
    subscriber(telegram_sandbox, 5, started=False)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            with pytest.raises(TelegramForbiddenError, match="bot can't initiate conversation"):
                await bot.send_message(5, "hello")

    asyncio.run(scenario())


def test_a_user_who_blocked_the_bot_cannot_be_written_to(
    telegram_sandbox: TelegramSandbox,
) -> None:
    """403 "bot was blocked by the user" once the user blocks the bot."""
    subscriber(telegram_sandbox, 5)
    people.set_blocked(telegram_sandbox.world, user_id=5, blocked=True)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
                await bot.send_message(5, "hello")

    asyncio.run(scenario())


def test_unknown_chats_are_not_found(telegram_sandbox: TelegramSandbox) -> None:
    """An id nobody has, or a public @username, is "Bad Request: chat not found"."""
    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            for chat_id in (424242, "@somewhere", -100999):
                with pytest.raises(TelegramBadRequest, match="chat not found"):
                    await bot.send_message(chat_id, "hello")

    asyncio.run(scenario())


def test_keyboards_are_kept_with_the_message(telegram_sandbox: TelegramSandbox) -> None:
    """Inline keyboards come back in the result; reply keyboards are kept for the page only."""
    subscriber(telegram_sandbox, 5)
    reply = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="My plan")]], resize_keyboard=True)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            inline = await bot.send_message(5, "Choose", reply_markup=PAY)
            assert _plain(inline.reply_markup) == _plain(PAY)
            plain = await bot.send_message(5, "Menu", reply_markup=reply)
            assert plain.reply_markup is None

    asyncio.run(scenario())
    chat = telegram_sandbox.world.private_chat(telegram_sandbox.world.default_bot.id, 5)
    markups = [m.reply_markup for m in chat.messages if m.from_bot]
    assert markups[0] == {"inline_keyboard": [[{"text": "Pay", "callback_data": "pay"}]]}
    assert markups[1] == {"keyboard": [[{"text": "My plan"}]], "resize_keyboard": True}


def test_html_parse_mode_yields_entities(telegram_sandbox: TelegramSandbox) -> None:
    """parse_mode=HTML is stored as text + entities, and bad markup is a 400."""
    subscriber(telegram_sandbox, 5)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            sent = await bot.send_message(5, "<b>Paid</b> until 1 May", parse_mode="HTML")
            assert sent.text == "Paid until 1 May"
            assert sent.entities is not None and sent.entities[0].type == "bold"
            with pytest.raises(TelegramBadRequest, match="can't parse entities"):
                await bot.send_message(5, "<b>open", parse_mode="HTML")

    asyncio.run(scenario())


def test_message_text_limits(telegram_sandbox: TelegramSandbox) -> None:
    """Empty text and text over 4096 characters are refused like on Telegram."""
    subscriber(telegram_sandbox, 5)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            with pytest.raises(TelegramBadRequest, match="message text is empty"):
                await bot.send_message(5, "   ")
            with pytest.raises(TelegramBadRequest, match="message is too long"):
                await bot.send_message(5, "x" * 4097)

    asyncio.run(scenario())


def test_editing_text_and_markup(telegram_sandbox: TelegramSandbox) -> None:
    """Edits change the message; an identical edit is "message is not modified"."""
    subscriber(telegram_sandbox, 5)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            sent = await bot.send_message(5, "Choose", reply_markup=PAY)
            edited = await bot.edit_message_text("Paid", chat_id=5, message_id=sent.message_id,
                                                 reply_markup=PAY)
            assert isinstance(edited, type(sent))
            assert (edited.text, edited.edit_date is not None) == ("Paid", True)
            assert _plain(edited.reply_markup) == _plain(PAY)
            with pytest.raises(TelegramBadRequest, match="message is not modified"):
                await bot.edit_message_text("Paid", chat_id=5, message_id=sent.message_id,
                                            reply_markup=PAY)
            cleared = await bot.edit_message_reply_markup(chat_id=5, message_id=sent.message_id)
            assert isinstance(cleared, type(sent)) and cleared.reply_markup is None
            with pytest.raises(TelegramBadRequest, match="message to edit not found"):
                await bot.edit_message_text("x", chat_id=5, message_id=999)
            with pytest.raises(TelegramBadRequest, match="message can't be edited"):
                await bot.edit_message_text("x", chat_id=5, message_id=1)  # the user's /start

    asyncio.run(scenario())


def test_callback_queries_are_answered_once(telegram_sandbox: TelegramSandbox) -> None:
    """answerCallbackQuery records the answer; a second answer is "query is too old"."""
    subscriber(telegram_sandbox, 5)
    world = telegram_sandbox.world

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            sent = await bot.send_message(5, "Choose", reply_markup=PAY)
            query = people.press_button(world, user_id=5, message_id=sent.message_id, data="pay")
            assert await bot.answer_callback_query(query.id, text="Opening…", show_alert=True)
            with pytest.raises(TelegramBadRequest, match="query is too old"):
                await bot.answer_callback_query(query.id)
            assert (query.answer_text, query.show_alert) == ("Opening…", True)

    asyncio.run(scenario())


def test_documents_keep_bytes_name_and_mime(telegram_sandbox: TelegramSandbox) -> None:
    """sendDocument with BufferedInputFile keeps the file; the control API serves it back."""
    subscriber(telegram_sandbox, 5)

    async def scenario() -> str:
        async with bot_on(telegram_sandbox) as bot:
            sent = await bot.send_document(
                5, BufferedInputFile(b"user_id,days\n5,30\n", filename="export.csv"),
                caption="<i>Export</i>", parse_mode="HTML",
            )
            assert sent.caption == "Export" and sent.document is not None
            again = await bot.send_document(5, sent.document.file_id)  # re-send by file_id
            assert again.document is not None
            assert again.document.file_id == sent.document.file_id
            return str(sent.document.file_id)

    file_id = asyncio.run(scenario())
    response = httpx.get(f"{telegram_sandbox.base_url}/control/files/{file_id}")
    assert response.content == b"user_id,days\n5,30\n"
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="export.csv"' in response.headers["content-disposition"]


def test_a_pending_join_request_opens_a_short_dm_window(telegram_sandbox: TelegramSandbox) -> None:
    """ChatJoinRequest.user_chat_id: the bot may write first while the request is pending."""
    subscriber(telegram_sandbox, 7, started=False)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            link = await bot.create_chat_invite_link(telegram_sandbox.world.channel_id,
                                                     creates_join_request=True)
            people.open_invite_link(telegram_sandbox.world, user_id=7, invite_link=link.invite_link)
            sent = await bot.send_message(7, "Pay first, then you are in")
            assert sent.chat.id == 7

    asyncio.run(scenario())


def test_commands_are_stored_per_scope_and_language(telegram_sandbox: TelegramSandbox) -> None:
    """setMyCommands / getMyCommands / deleteMyCommands round-trip per scope and language."""
    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            commands = [BotCommand(command="start", description="Start"),
                        BotCommand(command="myplan", description="My plan")]
            assert await bot.set_my_commands(commands)
            assert [_plain(c) for c in await bot.get_my_commands()] == [_plain(c) for c in commands]
            assert await bot.get_my_commands(language_code="ru") == []
            assert await bot.delete_my_commands()
            assert await bot.get_my_commands() == []

    asyncio.run(scenario())


def test_a_chat_menu_needs_a_chat_the_bot_knows(telegram_sandbox: TelegramSandbox) -> None:
    """setMyCommands for one private chat: stored for a person the bot knows; "chat not found"
    for an id nobody has, as the official server answers."""
    subscriber(telegram_sandbox, 6)
    commands = [BotCommand(command="history", description="/history")]

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            assert await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id=6))
            assert [c.command for c in await bot.get_my_commands(
                scope=BotCommandScopeChat(chat_id=6))] == ["history"]
            assert await bot.get_my_commands() == []
            with pytest.raises(TelegramBadRequest, match="chat not found"):
                await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id=66_666))
            with pytest.raises(TelegramBadRequest, match="chat not found"):
                await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id=66_666))

    asyncio.run(scenario())


def test_delete_message_and_chat_action(telegram_sandbox: TelegramSandbox) -> None:
    """deleteMessage hides a message (twice is "not found"); sendChatAction just says ok."""
    subscriber(telegram_sandbox, 5)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            sent = await bot.send_message(5, "oops")
            assert await bot.send_chat_action(5, "typing")
            assert await bot.delete_message(5, sent.message_id)
            with pytest.raises(TelegramBadRequest, match="message to delete not found"):
                await bot.delete_message(5, sent.message_id)

    asyncio.run(scenario())
