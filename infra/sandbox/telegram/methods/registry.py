"""The Bot API method table (case-insensitive names → handlers) and what a handler receives.

Plain handlers run under the world lock; long handlers (getUpdates) are coroutines that take the
lock only for their short synchronous steps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from infra.sandbox.telegram.errors import method_not_found
from infra.sandbox.telegram.params import Params
from infra.sandbox.telegram.records import BotRecord
from infra.sandbox.telegram.world import TelegramWorld


@dataclass(frozen=True, kw_only=True)
class MethodCall:
    """One authenticated call: the world, the calling bot and its parameters."""

    world: TelegramWorld
    bot: BotRecord
    params: Params
    closing: Callable[[], bool]  # true while the server shuts down: long polls end early


@dataclass(frozen=True)
class Described:
    """A result with the `description` the official server adds (e.g. "Webhook was set")."""

    result: object
    description: str


PlainHandler = Callable[[MethodCall], object]
LongHandler = Callable[[MethodCall], Awaitable[object]]

_PLAIN: dict[str, tuple[str, PlainHandler]] = {}
_LONG: dict[str, tuple[str, LongHandler]] = {}


def method(name: str) -> Callable[[PlainHandler], PlainHandler]:
    def register(handler: PlainHandler) -> PlainHandler:
        _PLAIN[name.lower()] = (name, handler)
        return handler
    return register


def long_method(name: str) -> Callable[[LongHandler], LongHandler]:
    def register(handler: LongHandler) -> LongHandler:
        _LONG[name.lower()] = (name, handler)
        return handler
    return register


def canonical_name(requested: str) -> str | None:
    """The official spelling of a method, None for a method the stand-in does not know."""
    entry = _PLAIN.get(requested.lower()) or _LONG.get(requested.lower())
    return entry[0] if entry else None


async def invoke(name: str, call: MethodCall) -> object:
    key = name.lower()
    if key in _LONG:
        return await _LONG[key][1](call)
    if key in _PLAIN:
        with call.world.lock:
            return _PLAIN[key][1](call)
    raise method_not_found()
