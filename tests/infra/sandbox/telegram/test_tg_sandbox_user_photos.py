"""sendPhoto on the stand-in, via aiogram: uploads, re-sends by file_id, and Telegram's refusals
for each wrong kind of photo; and a person sending the bot a photo through the control API."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from tg_sandbox_support import bot_on, subscriber

from infra.sandbox.telegram import TelegramSandbox, people
from tests.fixtures.images import png

LINK = InlineKeyboardMarkup(inline_keyboard=[[
    InlineKeyboardButton(text="Open", url="https://example.com/sale")]])


def test_an_uploaded_photo_arrives_with_its_caption_and_buttons(
        telegram_sandbox: TelegramSandbox) -> None:
    """Upload → a photo message (size read from the image); re-sent by its file_id."""
    subscriber(telegram_sandbox, 5)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            sent = await bot.send_photo(5, BufferedInputFile(png(40, 30), filename="sale.png"),
                                        caption="Sale!", reply_markup=LINK)
            assert sent.photo is not None and sent.caption == "Sale!"
            assert (sent.photo[-1].width, sent.photo[-1].height) == (40, 30)
            again = await bot.send_photo(5, sent.photo[-1].file_id)
            assert again.photo is not None
            assert again.photo[-1].file_id == sent.photo[-1].file_id

    asyncio.run(scenario())
    chat = telegram_sandbox.world.private_chat(telegram_sandbox.world.default_bot.id, 5)
    photos = [m for m in chat.messages if m.photo is not None]
    assert len(photos) == 2 and photos[0].reply_markup is not None


@pytest.mark.parametrize(("photo", "refusal"), [
    (None, "there is no photo in the request"),
    ("https://example.com/cat.jpg", "failed to get HTTP URL content"),
    ("not-a-file-id", "wrong file identifier/HTTP URL specified"),
    (b"this is no image", "IMAGE_PROCESS_FAILED"),
    (png(400, 10), "PHOTO_INVALID_DIMENSIONS"),  # a ratio over 20
])
def test_what_telegram_refuses_the_stand_in_refuses(telegram_sandbox: TelegramSandbox,
                                                    photo: object, refusal: str) -> None:
    """No photo, a URL (no internet here), an unknown file_id, not an image, bad dimensions."""
    subscriber(telegram_sandbox, 5)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            given: object = (BufferedInputFile(photo, filename="x.png")
                             if isinstance(photo, bytes) else photo)
            with pytest.raises(TelegramBadRequest, match=refusal):
                await bot.send_photo(5, given or "")

    asyncio.run(scenario())


def test_a_document_is_not_a_photo_and_captions_are_shorter(
        telegram_sandbox: TelegramSandbox) -> None:
    """A document's file_id as a photo, or a caption over 1024: refused as Telegram does."""
    subscriber(telegram_sandbox, 5)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            document = await bot.send_document(5, BufferedInputFile(b"a,b\n", filename="x.csv"))
            assert document.document is not None
            with pytest.raises(TelegramBadRequest, match="can't use file of type Document"):
                await bot.send_photo(5, document.document.file_id)
            upload = BufferedInputFile(png(10, 10), filename="p.png")
            with pytest.raises(TelegramBadRequest, match="message caption is too long"):
                await bot.send_photo(5, upload, caption="x" * 1025)

    asyncio.run(scenario())


def test_a_photo_to_someone_who_blocked_the_bot_is_refused(
        telegram_sandbox: TelegramSandbox) -> None:
    """403 "bot was blocked by the user", as for any message."""
    subscriber(telegram_sandbox, 5)
    people.set_blocked(telegram_sandbox.world, user_id=5, blocked=True)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
                await bot.send_photo(5, BufferedInputFile(png(10, 10), filename="p.png"))

    asyncio.run(scenario())


def test_a_person_sends_the_bot_a_photo(telegram_sandbox: TelegramSandbox) -> None:
    """The control API's photo: the bot's update carries the photo sizes and the caption, and
    the bot can send it on by that file_id; something that is no image is refused."""
    subscriber(telegram_sandbox, 5)
    with httpx.Client(base_url=telegram_sandbox.base_url, timeout=5.0) as control:
        answer = control.post("/control/users/5/photos", json={
            "data": base64.b64encode(png(64, 48)).decode(), "caption": "Sale"})
        assert answer.status_code == 200, answer.text
        refused = control.post("/control/users/5/photos", json={
            "data": base64.b64encode(b"plain text").decode()})
        assert refused.status_code == 400
        shown = answer.json()["result"]
        assert control.get(shown["photo"]["url"]).content == png(64, 48)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            [update] = await bot.get_updates()
            assert update.message is not None and update.message.photo is not None
            assert update.message.caption == "Sale"
            file_id = update.message.photo[-1].file_id
            sent = await bot.send_photo(5, file_id)
            assert sent.photo is not None

    asyncio.run(scenario())
