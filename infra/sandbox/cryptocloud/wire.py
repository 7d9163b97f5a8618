"""Wire primitives: timestamps, dd.mm.yyyy dates, JSON encoding and the response envelope.

Money stays Decimal up to `plain()`, the one boundary where it becomes a JSON number.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
DATE_FORMAT = "%d.%m.%Y"


def timestamp(moment: datetime | None) -> str | None:
    """UTC `YYYY-MM-DD HH:MM:SS.ffffff`, as every CryptoCloud date field is written."""
    return None if moment is None else moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_day(text: str) -> date:
    """`dd.mm.yyyy` → date; ValueError otherwise (also for 1-digit days, like the docs' format)."""
    if len(text) != 10:
        raise ValueError(text)
    return datetime.strptime(text, DATE_FORMAT).replace(tzinfo=UTC).date()


def plain(value: Any) -> Any:
    """Replace Decimals by floats, recursively: the JSON numbers the documented examples show."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(plain(value))


def loads(text: str | bytes) -> Any:
    """Parse request JSON keeping numbers exact (Decimal) and refusing NaN/Infinity."""
    return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def success(result: Any, *, status: int = 200, **extra: Any) -> web.Response:
    return web.json_response(
        {"status": "success", "result": result, **extra}, status=status, dumps=dumps
    )


def failure(errors: dict[str, str], *, status: int = 400) -> web.Response:
    return web.json_response({"status": "error", "result": errors}, status=status, dumps=dumps)


def detail(message: str, *, status: int) -> web.Response:
    """The framework-level error shape (`{"detail": ...}`) the real API uses for bad tokens."""
    return web.json_response({"detail": message}, status=status, dumps=dumps)
