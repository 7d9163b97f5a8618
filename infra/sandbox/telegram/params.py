"""Reading Bot API parameters the way the official server does.

Owns: merging the query string with the body (urlencoded, JSON or multipart), resolving
`attach://<part>` references to uploaded parts, and the lenient coercions of Client.cpp —
`to_bool` and integers that are parsed from their leading digits and clamped, never rejected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import BodyPartReader, hdrs, web

from infra.sandbox.telegram.errors import BotApiError, bad_request

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # the Bot API's documented upload limit
_LEADING_INTEGER = re.compile(r"-?\d*")
_WHOLE_INTEGER = re.compile(r"-?\d+")
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True, kw_only=True)
class UploadedFile:
    """One file part of a multipart request."""

    part_name: str
    filename: str
    content_type: str | None
    data: bytes


class Params:
    """The parameters of one call, with the official server's coercion rules."""

    def __init__(
        self, values: Mapping[str, object] | None = None,
        files: Mapping[str, UploadedFile] | None = None,
    ) -> None:
        self._values: dict[str, object] = dict(values or {})
        self._files: dict[str, UploadedFile] = dict(files or {})

    @classmethod
    async def from_request(cls, request: web.Request) -> Params:
        values: dict[str, object] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.content_type == "application/json":
            raw = await request.read()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise bad_request("can't parse JSON object") from None
                if not isinstance(body, dict):
                    raise bad_request("can't parse JSON object")
                values.update(body)
        elif request.content_type == "multipart/form-data":
            await _read_multipart(request, values, files)
        elif request.content_type == "application/x-www-form-urlencoded":
            values.update((await request.post()).items())
        return cls(values, files)

    def text(self, name: str) -> str:
        """The value as the server sees it: a string, "" when absent."""
        value = self._values.get(name)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return value
        if isinstance(value, int | float):
            return str(value)
        return json.dumps(value)

    def is_set(self, name: str) -> bool:
        return self.text(name) != ""

    def boolean(self, name: str) -> bool:
        """Client.cpp `to_bool`: true, yes or 1 in any case; anything else is false."""
        return self.text(name).lower() in {"true", "yes", "1"}

    def integer(self, name: str, *, default: int = 0, minimum: int, maximum: int) -> int:
        """Client.cpp `get_integer_arg`: leading digits only, then clamped to the range."""
        text = self.text(name)
        if not text:
            return default
        digits = _LEADING_INTEGER.match(text)
        leading = digits.group() if digits else ""
        value = int(leading) if leading not in {"", "-"} else 0
        return max(minimum, min(maximum, value))

    def int64(self, name: str) -> int | None:
        """A strictly parsed 64-bit id (`to_integer_safe`), None when it is not one."""
        text = self.text(name).strip()
        if not _WHOLE_INTEGER.fullmatch(text):
            return None
        value = int(text)
        return value if -_INT64_MAX <= value <= _INT64_MAX else None

    def json_value(self, name: str, *, what: str) -> object | None:
        """A JSON-serialized parameter (reply_markup, allowed_updates …); None when absent."""
        value = self._values.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            return value  # a JSON body carries nested objects as they are
        try:
            parsed: object = json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {what} JSON object") from None
        return parsed

    def input_file(self, name: str) -> UploadedFile | str | None:
        """An upload (directly or through `attach://<part>`), else the string (file_id/URL)."""
        if name in self._files:
            return self._files[name]
        text = self.text(name)
        if text.startswith("attach://"):
            part = self._files.get(text.removeprefix("attach://"))
            if part is None:
                raise bad_request(f"file {text} not found in the request")  # [I] wording
            return part
        return text or None

    def for_log(self) -> dict[str, object]:
        """Values as received, with uploads summarized instead of their bytes."""
        logged: dict[str, object] = dict(self._values)
        for part_name, upload in self._files.items():
            logged[part_name] = {
                "filename": upload.filename, "content_type": upload.content_type,
                "size": len(upload.data),
            }
        return logged


async def _read_multipart(
    request: web.Request, values: dict[str, object], files: dict[str, UploadedFile],
) -> None:
    reader = await request.multipart()
    total = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue  # nested multiparts are not part of the Bot API wire format
        data = await part.read(decode=True)
        total += len(data)
        if total > MAX_UPLOAD_BYTES:
            raise BotApiError(status=413, description="Request Entity Too Large")
        if part.filename is not None:
            files[part.name] = UploadedFile(
                part_name=part.name, filename=part.filename,
                content_type=part.headers.get(hdrs.CONTENT_TYPE), data=bytes(data),
            )
        else:
            values[part.name] = bytes(data).decode("utf-8", errors="replace")
