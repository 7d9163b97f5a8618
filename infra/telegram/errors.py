"""Our failure tree for Bot API calls, and `classify`, which maps aiogram's exceptions onto it.

Callers decide from the class alone (reference telegram.md §3, §4.2, §4.9; STYLE habit 5):

- `TelegramTransient`: try again later — flood control (after `retry_after`), 5xx, network
  errors and timeouts (after a backoff, see `retry_countdown`).
- `TelegramBlocked`: the user cannot be messaged (blocked the bot, deleted the account, never
  pressed Start). Record it on the user; retrying cannot help.
- `TelegramAlreadyDone`: the effect we asked for already happened (a join request approved or
  declined by an earlier attempt); a retried task treats it as success.
- `TelegramUnknownUser`: Telegram does not know this user in this chat (a deleted account,
  someone who left or never talked to the bot; a join request that is gone). Real users get
  these from calls that look safe, such as getChatMember (§3): to "is this user a member?" it
  means no. A `TelegramPermanent`, so code that only records refusals still records it.
- `TelegramPermanent`: any other refusal (bad request, missing rights, bad token): record it,
  never retry.

"chat not found" for a private chat (a positive chat id) means the user is unreachable, like a
blocked bot (§3); for the channel it is a configuration error and stays permanent.

Telegram's descriptions are free text; the strings matched here are the official server's
(telegram.md §3) and matched case-insensitively, without the "Forbidden:" style prefix.
"""

from __future__ import annotations

from typing import TypeGuard

import aiohttp
from aiogram.exceptions import (
    AiogramError,
    ClientDecodeError,
    TelegramAPIError,
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

# Descriptions meaning "this user cannot be messaged"; 401 on old servers for the last one.
_BLOCKED = (
    "bot was blocked by the user",
    "user is deactivated",
    "bot can't initiate conversation with a user",
)
# Descriptions meaning "what you asked for is already the case" (telegram.md §1, §4.8).
_ALREADY_DONE = (
    "hide_requester_missing",  # join request already approved/declined, or withdrawn
    "user_already_participant",  # approving someone who is already in the channel
    "message is not modified",  # an edit that an earlier attempt already applied
    "charge_already_refunded",  # refundStarPayment of a charge an earlier attempt refunded
)

# Descriptions meaning "no such user here" (telegram.md §1 and §3, errors of safe-looking calls).
_UNKNOWN_USER = (
    "member not found",  # getChatMember: deleted accounts, users never in the chat
    "user not found",  # getChatMember: a user who never talked to the bot
    "participant_id_invalid",  # getChatMember, seen intermittently for existing users
    "user_id_invalid",  # approve/decline of a request that is gone; unknown users
    "user_not_participant",  # acting on someone who is not in the chat
)
_CHAT_NOT_FOUND = "chat not found"

# What the gateway turns into our tree; anything else is a bug and propagates unchanged.
CLASSIFIABLE: tuple[type[BaseException], ...] = (
    AiogramError,
    TimeoutError,  # asyncio.TimeoutError is the same class since Python 3.11
    aiohttp.ClientError,
    ConnectionError,
)


class TelegramFailure(Exception):
    """A Bot API call failed; `method` is the API method name, e.g. "sendMessage"."""

    def __init__(self, description: str, *, method: str | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.method = method


class TelegramTransient(TelegramFailure):
    """Retry later: after `retry_after` seconds when Telegram said so, else after a backoff."""

    def __init__(
        self, *, retry_after: float | None = None, description: str = "", method: str | None = None
    ) -> None:
        super().__init__(description or "transient failure", method=method)
        self.retry_after = retry_after


class TelegramBlocked(TelegramFailure):
    """The user blocked the bot, was deleted, or never started it; `user_id` when known."""

    def __init__(
        self, *, user_id: int | None, description: str = "", method: str | None = None
    ) -> None:
        super().__init__(description or "user cannot be messaged", method=method)
        self.user_id = user_id


class TelegramAlreadyDone(TelegramFailure):
    """The requested effect already holds; an idempotent retry counts it as success."""


class TelegramPermanent(TelegramFailure):
    """Any other refusal: record it, do not retry."""


class TelegramUnknownUser(TelegramPermanent):
    """Telegram does not know the user in this chat: not a member, or the request is gone."""


def classify(exc: BaseException) -> TelegramFailure:
    """Map an exception raised by an aiogram call (or its transport) onto our failure tree."""
    method = _method_name(exc)
    if isinstance(exc, TelegramRetryAfter):
        return TelegramTransient(
            retry_after=float(exc.retry_after), description=exc.message, method=method
        )
    if _hopeless_transport(exc):
        return TelegramPermanent(exc.message, method=method)
    # An unparsable body (ClientDecodeError) is what a proxy's HTML error page looks like.
    if isinstance(exc, TelegramServerError | TelegramNetworkError | ClientDecodeError):
        return TelegramTransient(description=exc.message, method=method)
    if isinstance(exc, TelegramAPIError):
        return _classify_refusal(exc, method)
    if isinstance(exc, TimeoutError | aiohttp.ClientError | ConnectionError):
        return TelegramTransient(description=f"{type(exc).__name__}: {exc}", method=method)
    return TelegramPermanent(f"{type(exc).__name__}: {exc}", method=method)


def _hopeless_transport(exc: BaseException) -> TypeGuard[TelegramNetworkError]:
    # aiogram files these under network errors, but the same request fails the same way again:
    # a 413 (the file is too large) and a malformed api_base (a configuration error).
    if isinstance(exc, TelegramEntityTooLarge):
        return True
    return isinstance(exc, TelegramNetworkError) and isinstance(exc.__cause__, aiohttp.InvalidURL)


def _classify_refusal(exc: TelegramAPIError, method: str | None) -> TelegramFailure:
    text = exc.message.lower()
    if any(marker in text for marker in _BLOCKED) or (
            _CHAT_NOT_FOUND in text and _private_chat(exc)):
        return TelegramBlocked(user_id=_user_id(exc), description=exc.message, method=method)
    if any(marker in text for marker in _ALREADY_DONE):
        return TelegramAlreadyDone(exc.message, method=method)
    if any(marker in text for marker in _UNKNOWN_USER):
        return TelegramUnknownUser(exc.message, method=method)
    return TelegramPermanent(exc.message, method=method)


def _private_chat(exc: TelegramAPIError) -> bool:
    # A private chat's id is its user's id (positive); groups and channels are negative.
    chat_id = getattr(exc.method, "chat_id", None)
    return isinstance(chat_id, int) and chat_id > 0


def _method_name(exc: BaseException) -> str | None:
    method = getattr(exc, "method", None)
    name = getattr(method, "__api_method__", None)
    return name if isinstance(name, str) else None


def _user_id(exc: TelegramAPIError) -> int | None:
    # A private chat's id is its user's id, so sendMessage's chat_id names the user too.
    for field in ("user_id", "chat_id"):
        value = getattr(exc.method, field, None)
        if isinstance(value, int) and value > 0:
            return value
    return None
