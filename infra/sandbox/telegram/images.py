"""What sendPhoto checks of an uploaded image: its format and dimensions, read from its header.

The Bot API's documented limits (sendPhoto): at most 10 MB, width + height at most 10000, the
ratio of the sides at most 20. The stand-in reads PNG and JPEG headers (what bots send); any
other bytes are refused as Telegram refuses what it cannot decode. It never decodes pixels and
never resizes, so a photo has one size here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from infra.sandbox.telegram.records import FileRecord

if TYPE_CHECKING:
    from infra.sandbox.telegram.world import TelegramWorld

MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_SIDES_SUM = 10_000
MAX_RATIO = 20

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carry the dimensions; C4 (Huffman), C8 and CC (arithmetic
# coding tables) share the range but are not frames.
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length: TEM, RST0-7.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


@dataclass(frozen=True, kw_only=True)
class Image:
    """An image's format and size in pixels."""

    mime_type: str
    extension: str
    width: int
    height: int

    def fits_a_photo(self) -> bool:
        if self.width < 1 or self.height < 1:
            return False
        longer, shorter = max(self.width, self.height), min(self.width, self.height)
        return self.width + self.height <= MAX_SIDES_SUM and longer <= MAX_RATIO * shorter


def sniff(data: bytes) -> Image | None:
    """The image `data` holds (PNG or JPEG), or None if its header is not one."""
    if data.startswith(_PNG_SIGNATURE) and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return Image(mime_type="image/png", extension="png", width=width, height=height)
    if data.startswith(b"\xff\xd8"):
        return _jpeg(data)
    return None


def _jpeg(data: bytes) -> Image | None:
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill bytes before a marker
            at += 1
            continue
        if marker in _JPEG_STANDALONE:
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2:at + 4])
        if marker in _JPEG_FRAMES:
            if at + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return Image(mime_type="image/jpeg", extension="jpg", width=width, height=height)
        if marker == 0xDA or length < 2:  # scan data before any frame: not a valid JPEG
            return None
        at += 2 + length
    return None


def keep_photo(world: TelegramWorld, data: bytes, image: Image, *,
               file_name: str | None = None) -> FileRecord:
    """`data` stored in the world as a photo Telegram holds (one size: nothing is resized)."""
    number = len(world.files) + 1
    stored = FileRecord(
        file_id=f"AgACAgIAAx{world.random_id(40)}", file_unique_id=f"AQAD{world.random_id(12)}",
        file_name=file_name or f"file_{number}.{image.extension}", mime_type=image.mime_type,
        data=data, file_path=f"photos/file_{number}.{image.extension}",
        width=image.width, height=image.height,
    )
    world.files[stored.file_id] = stored
    return stored
