"""Bot API failures as the official server words them (reference telegram.md §0 and §3).

Every refusal the stand-in gives goes through here, so a description is spelled in one place and
the HTTP status always equals `error_code` (aiogram maps exceptions from the status).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus

_PREFIX_BY_STATUS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
}
_UPPER_SNAKE = re.compile(r"^[A-Z0-9_]+$")


class BotApiError(Exception):
    """A failed Bot API call: HTTP status, description, optional response parameters."""

    def __init__(
        self, *, status: int, description: str, retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def body(self) -> dict[str, object]:
        """The JSON envelope; `parameters` only when non-empty, like the official server."""
        body: dict[str, object] = {
            "ok": False, "error_code": self.status, "description": self.description,
        }
        parameters: dict[str, int] = {}
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        if parameters:
            body["parameters"] = parameters
        return body


def api_error(status: int, message: str) -> BotApiError:
    """Build a description the way Client.cpp `fail_query_with_error` does: prefix, then message.

    UPPER_SNAKE TDLib constants stay verbatim; other messages get a lower-cased first letter.
    """
    if not _UPPER_SNAKE.match(message):
        message = message[:1].lower() + message[1:]
    prefix = _PREFIX_BY_STATUS.get(status, "Internal Server Error")
    return BotApiError(status=status, description=f"{prefix}: {message}")


def bad_request(message: str) -> BotApiError:
    return api_error(400, message)


def forbidden(message: str) -> BotApiError:
    return api_error(403, message)


def conflict(message: str) -> BotApiError:
    return api_error(409, message)


def too_many_requests(retry_after: int) -> BotApiError:
    return BotApiError(
        status=429, description=f"Too Many Requests: retry after {retry_after}",
        retry_after=retry_after,
    )


def server_error(status: int = 500) -> BotApiError:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Internal Server Error"
    return BotApiError(status=status, description=f"{phrase}: sandbox fault injection")


def invalid_token() -> BotApiError:
    return api_error(401, "invalid token specified")


def method_not_found() -> BotApiError:
    return api_error(404, "method not found")


# The messages below are the ones the brief and the reference name; [I] marks unverified wording.
CHAT_NOT_FOUND = "chat not found"
CHAT_ID_EMPTY = "chat_id is empty"
USER_NOT_FOUND = "user not found"
USER_ID_INVALID = "USER_ID_INVALID"
INVALID_USER_ID = "Invalid user_id specified"
HIDE_REQUESTER_MISSING = "HIDE_REQUESTER_MISSING"
USER_ALREADY_PARTICIPANT = "USER_ALREADY_PARTICIPANT"
INVITE_HASH_EXPIRED = "INVITE_HASH_EXPIRED"  # [I] MTProto's answer for an unknown/revoked link
MEMBER_LIMIT_WITH_JOIN_REQUEST = (
    "Member limit can't be specified for links requiring administrator approval"
)
NO_INVITE_RIGHTS = "not enough rights to manage chat invite link"
NO_RESTRICT_RIGHTS = "not enough rights to restrict/unrestrict chat member"
USER_IS_ADMIN = "user is an administrator of the chat"
CANT_REMOVE_OWNER = "can't remove chat owner"
SUPERGROUPS_AND_CHANNELS_ONLY = "method is available for supergroup and channel chats only"
BOT_BLOCKED = "bot was blocked by the user"
CANT_INITIATE = "bot can't initiate conversation with a user"
USER_DEACTIVATED = "user is deactivated"
MEMBER_NOT_FOUND = "member not found"
PARTICIPANT_ID_INVALID = "PARTICIPANT_ID_INVALID"
USER_NOT_PARTICIPANT = "USER_NOT_PARTICIPANT"  # [I] MTProto's answer for a non-member
BOT_NOT_MEMBER = "bot is not a member of the channel chat"
BOT_KICKED = "bot was kicked from the channel chat"
GROUP_UPGRADED = "group chat was upgraded to a supergroup chat"
UPGRADED_TO_CHAT_ID = -1001557912345  # the reference's example of migrate_to_chat_id
MESSAGE_TEXT_EMPTY = "message text is empty"
MESSAGE_TOO_LONG = "message is too long"
MESSAGE_TO_EDIT_NOT_FOUND = "message to edit not found"
MESSAGE_CANT_BE_EDITED = "message can't be edited"
MESSAGE_TO_DELETE_NOT_FOUND = "message to delete not found"
MESSAGE_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
WEBHOOK_ACTIVE = (
    "can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
    "webhook first"
)
TERMINATED_BY_OTHER_POLL = (
    "terminated by other getUpdates request; make sure that only one bot instance is running"
)


# The refusals a fault rule can answer any method with, by name (reference telegram.md §1, §3,
# and the block on errors of safe-looking calls). 429 and 5xx are kinds of their own (faults.py).
CATALOGUE: dict[str, Callable[[], BotApiError]] = {
    "bot_blocked": lambda: forbidden(BOT_BLOCKED),
    "cant_initiate": lambda: forbidden(CANT_INITIATE),
    "user_deactivated": lambda: forbidden(USER_DEACTIVATED),
    "chat_not_found": lambda: bad_request(CHAT_NOT_FOUND),
    "user_not_found": lambda: bad_request(USER_NOT_FOUND),
    "member_not_found": lambda: bad_request(MEMBER_NOT_FOUND),
    "participant_id_invalid": lambda: bad_request(PARTICIPANT_ID_INVALID),
    "user_id_invalid": lambda: bad_request(USER_ID_INVALID),
    "invalid_user_id": lambda: bad_request(INVALID_USER_ID),
    "user_not_participant": lambda: bad_request(USER_NOT_PARTICIPANT),
    "hide_requester_missing": lambda: bad_request(HIDE_REQUESTER_MISSING),
    "user_already_participant": lambda: bad_request(USER_ALREADY_PARTICIPANT),
    "user_is_admin": lambda: bad_request(USER_IS_ADMIN),
    "cant_remove_owner": lambda: bad_request(CANT_REMOVE_OWNER),
    "no_restrict_rights": lambda: bad_request(NO_RESTRICT_RIGHTS),
    "no_invite_rights": lambda: bad_request(NO_INVITE_RIGHTS),
    "member_limit_with_join_request": lambda: bad_request(MEMBER_LIMIT_WITH_JOIN_REQUEST),
    "bot_not_member": lambda: forbidden(BOT_NOT_MEMBER),
    "bot_kicked": lambda: forbidden(BOT_KICKED),
    "group_upgraded": lambda: BotApiError(
        status=400, description=f"Bad Request: {GROUP_UPGRADED}",
        migrate_to_chat_id=UPGRADED_TO_CHAT_ID,
    ),
    "invalid_token": invalid_token,
}
