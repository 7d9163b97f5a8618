"""sendPhoto on the stand-in: uploads kept with their size, Telegram's refusals, the page's view."""

from __future__ import annotations

import asyncio
import struct
import zlib

import httpx
import pytest
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile
from test_tg_sandbox_page import CHROMIUM_ARGS, _chromium
from tg_sandbox_support import bot_on, subscriber

from infra.sandbox.telegram import TelegramSandbox, TelegramWorld, images, people
from infra.sandbox.telegram.persistence import restore, snapshot
from infra.sandbox.telegram.records import FileRecord


def png(width: int, height: int) -> bytes:
    """A real (grey, 8-bit) PNG of the given size."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0,
                                                             0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def jpeg_header(width: int, height: int) -> bytes:
    """The start of a baseline JPEG: SOI, an APP0 segment, then the frame header (SOF0)."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0


def test_a_photo_is_kept_with_its_size_caption_and_bytes(
        telegram_sandbox: TelegramSandbox) -> None:
    """sendPhoto returns a PhotoSize array; the control API lists the photo and serves it."""
    subscriber(telegram_sandbox, 5)
    data = png(40, 30)

    async def scenario() -> str:
        async with bot_on(telegram_sandbox) as bot:
            sent = await bot.send_photo(5, BufferedInputFile(data, filename="stats.png"),
                                        caption="Active subscribers")
            assert sent.caption == "Active subscribers" and sent.photo is not None
            (size,) = sent.photo
            assert (size.width, size.height, size.file_size) == (40, 30, len(data))
            again = await bot.send_photo(5, size.file_id)  # re-send by file_id
            assert again.photo is not None and again.photo[-1].file_id == size.file_id
            return str(size.file_id)

    file_id = asyncio.run(scenario())
    listed = httpx.get(f"{telegram_sandbox.base_url}/control/messages",
                       params={"chat_id": 5, "direction": "bot_to_user"}).json()["result"]
    assert listed[0]["photo"]["url"] == f"/control/files/{file_id}"
    assert listed[0]["caption"] == "Active subscribers"
    served = httpx.get(f"{telegram_sandbox.base_url}{listed[0]['photo']['url']}")
    assert served.content == data
    assert served.headers["content-type"] == "image/png"


@pytest.mark.parametrize(("data", "error"), [
    (b"user_id,days\n5,30\n", "IMAGE_PROCESS_FAILED"),
    (png(200, 5), "PHOTO_INVALID_DIMENSIONS"),  # sides 40:1
    (jpeg_header(6000, 4500), "PHOTO_INVALID_DIMENSIONS"),  # sides add up to over 10000
    (b"", "file must be non-empty"),
])
def test_what_telegram_cannot_show_as_a_photo_is_refused(
        telegram_sandbox: TelegramSandbox, data: bytes, error: str) -> None:
    """Not an image, or outside the documented limits: a 400 with Telegram's words."""
    subscriber(telegram_sandbox, 5)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            with pytest.raises(TelegramBadRequest, match=error):
                await bot.send_photo(5, BufferedInputFile(data, filename="x.png"))

    asyncio.run(scenario())
    assert telegram_sandbox.world.private_chat(telegram_sandbox.world.default_bot.id,
                                               5).messages[1:] == []


def test_image_headers_are_read_without_decoding() -> None:
    """PNG and JPEG sizes come from their headers; other bytes are no image."""
    assert images.sniff(png(3, 2)) == images.Image(mime_type="image/png", extension="png",
                                                  width=3, height=2)
    assert images.sniff(jpeg_header(640, 480)) == images.Image(
        mime_type="image/jpeg", extension="jpg", width=640, height=480)
    assert images.sniff(b"GIF89a....") is None
    assert images.sniff(b"\xff\xd8\xff\xda\x00\x02") is None  # scan before any frame


def test_a_photo_survives_a_restart_of_the_stand_in() -> None:
    """The saved world keeps the photo message, its size and its bytes."""
    world = TelegramWorld()
    ann = people.create_user(world, first_name="Ann")
    stored = FileRecord(file_id="p1", file_unique_id="u1", file_name="file_1.png",
                        mime_type="image/png", data=png(4, 3), file_path="photos/file_1.png",
                        width=4, height=3)
    world.files[stored.file_id] = stored
    world.add_message(world.private_chat(world.default_bot.id, ann.id),
                      sender_id=world.default_bot.id, from_bot=True, photo=stored, caption="c")
    copy = TelegramWorld()
    restore(copy, snapshot(world))
    (message,) = copy.private_chat(copy.default_bot.id, ann.id).messages
    assert message.photo is not None
    assert (message.photo.width, message.photo.height, message.photo.data) == (4, 3, png(4, 3))


@pytest.mark.browser
def test_the_page_shows_a_photo_in_the_chat(telegram_sandbox: TelegramSandbox) -> None:
    """The admin opens the page: the bot's photo is drawn in the chat, with its caption."""
    executable = _chromium()
    from playwright.sync_api import expect, sync_playwright

    subscriber(telegram_sandbox, 100)  # the sandbox's admin: the page opens on them

    async def send() -> None:
        async with bot_on(telegram_sandbox) as bot:
            await bot.send_photo(100, BufferedInputFile(png(120, 80), filename="stats.png"),
                                 caption="Active subscribers")

    asyncio.run(send())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 760})
            page.goto(telegram_sandbox.base_url + "/")
            photo = page.locator('[data-direction="bot_to_user"] [data-testid="photo"] img')
            expect(photo).to_be_visible(timeout=5000)
            page.wait_for_function(
                "document.querySelector('[data-testid=photo] img').naturalWidth === 120")
            expect(page.locator('[data-direction="bot_to_user"]')).to_contain_text(
                "Active subscribers")
        finally:
            browser.close()
