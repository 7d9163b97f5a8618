"""Classification of aiogram's exceptions into our failure tree (infra/telegram/errors.py)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import (
    ClientDecodeError,
    RestartingTelegram,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import (
    ApproveChatJoinRequest,
    BanChatMember,
    EditMessageText,
    GetChatMember,
    SendMessage,
    TelegramMethod,
)

from infra.telegram import (
    TelegramAlreadyDone,
    TelegramBlocked,
    TelegramFailure,
    TelegramPermanent,
    TelegramTransient,
    TelegramUnknownUser,
    classify,
)

SEND = SendMessage(chat_id=5, text="hi")
APPROVE = ApproveChatJoinRequest(chat_id=-1001000000001, user_id=7)
EDIT = EditMessageText(chat_id=5, message_id=1, text="same")
MEMBER = GetChatMember(chat_id=-1001000000001, user_id=7)
BAN = BanChatMember(chat_id=-1001000000001, user_id=7)
TO_CHANNEL = SendMessage(chat_id=-1001000000001, text="hi")


def forbidden(text: str) -> TelegramForbiddenError:
    return TelegramForbiddenError(method=SEND, message=f"Forbidden: {text}")


def bad_request(text: str, method: TelegramMethod[Any] = APPROVE) -> TelegramBadRequest:
    return TelegramBadRequest(method=method, message=f"Bad Request: {text}")


EXPECTED: dict[type[TelegramFailure], dict[str, BaseException]] = {
    TelegramTransient: {
        "429": TelegramRetryAfter(method=SEND, message="Too Many Requests", retry_after=7),
        "5xx": TelegramServerError(method=SEND, message="Internal Server Error"),
        "restarting": RestartingTelegram(method=SEND, message="restart"),
        "network": TelegramNetworkError(method=SEND, message="Request timeout error"),
        "bare timeout": TimeoutError(),
        "aiohttp": aiohttp.ClientConnectionError("reset"),
        "connection": ConnectionResetError(),
        "undecodable": ClientDecodeError("Failed to decode object", ValueError("x"), "<html>"),
    },
    TelegramBlocked: {
        "blocked": forbidden("bot was blocked by the user"),
        "deactivated": forbidden("user is deactivated"),
        "never started": forbidden("bot can't initiate conversation with a user"),
        "never started, old wording": TelegramUnauthorizedError(
            method=SEND, message="Unauthorized: bot can't initiate conversation with a user"
        ),
        "DM to a user the bot never saw": bad_request("chat not found", SEND),
    },
    TelegramAlreadyDone: {
        "request gone": bad_request("HIDE_REQUESTER_MISSING"),
        "already in": bad_request("USER_ALREADY_PARTICIPANT"),
        "edit applied": bad_request("message is not modified: specified new content", EDIT),
    },
    TelegramUnknownUser: {
        "request gone": bad_request("USER_ID_INVALID"),
        "member not found": bad_request("member not found", MEMBER),
        "user not found": bad_request("user not found", MEMBER),
        "participant invalid": bad_request("PARTICIPANT_ID_INVALID", MEMBER),
        "not in the chat": bad_request("USER_NOT_PARTICIPANT", BAN),
    },
    TelegramPermanent: {
        "channel not found": bad_request("chat not found", TO_CHANNEL),
        "member lookup in an unknown channel": bad_request("chat not found", MEMBER),
        "bot kicked": forbidden("bot was kicked from the channel chat"),
        "bad token": TelegramUnauthorizedError(method=SEND, message="Unauthorized"),
        "404": TelegramNotFound(method=SEND, message="Not Found: method not found"),
        "409": TelegramConflictError(method=SEND, message="Conflict: terminated by other poll"),
        "413": TelegramEntityTooLarge(method=SEND, message="Request Entity Too Large"),
        "migrated": TelegramMigrateToChat(method=SEND, message="upgraded", migrate_to_chat_id=-1),
        "not ours": ValueError("boom"),
    },
}


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        pytest.param(exc, expected, id=f"{expected.__name__}: {name}")
        for expected, cases in EXPECTED.items()
        for name, exc in cases.items()
    ],
)
def test_every_exception_lands_in_its_class(exc: BaseException, expected: type) -> None:
    """Each aiogram (or transport) exception is classified into exactly the expected class."""
    assert type(classify(exc)) is expected


def test_retry_after_is_carried_over() -> None:
    """A 429 becomes a transient failure whose retry_after is Telegram's, with the method name."""
    failure = classify(TelegramRetryAfter(method=SEND, message="Too Many Requests", retry_after=7))
    assert isinstance(failure, TelegramTransient)
    assert failure.retry_after == 7.0
    assert failure.method == "sendMessage"


def test_backoff_failures_carry_no_retry_after() -> None:
    """A 5xx leaves retry_after unset so the caller backs off instead."""
    failure = classify(TelegramServerError(method=SEND, message="Bad Gateway"))
    assert isinstance(failure, TelegramTransient)
    assert failure.retry_after is None


def test_blocked_names_the_user_from_the_chat_id() -> None:
    """A blocked DM names the user, since a private chat's id is its user's id."""
    failure = classify(
        TelegramForbiddenError(method=SEND, message="Forbidden: bot was blocked by the user")
    )
    assert isinstance(failure, TelegramBlocked)
    assert failure.user_id == 5
    assert failure.description == "Forbidden: bot was blocked by the user"


def test_blocked_prefers_user_id_over_a_channel_chat_id() -> None:
    """For a method addressed to the channel, the user is the method's user_id."""
    failure = classify(
        TelegramForbiddenError(method=APPROVE, message="Forbidden: user is deactivated")
    )
    assert isinstance(failure, TelegramBlocked)
    assert failure.user_id == 7


RESPONSES = [
    (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3},
        },
        TelegramTransient,
    ),
    (
        500,
        {"ok": False, "error_code": 500, "description": "Internal Server Error"},
        TelegramTransient,
    ),
    (
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
        TelegramBlocked,
    ),
    (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: HIDE_REQUESTER_MISSING"},
        TelegramAlreadyDone,
    ),
    (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
        TelegramBlocked,
    ),
    (401, {"ok": False, "error_code": 401, "description": "Unauthorized"}, TelegramPermanent),
]


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    RESPONSES,
    ids=[f"{status}-{cls.__name__}" for status, _, cls in RESPONSES],
)
def test_wire_responses_classify_through_aiogram(
    status: int, body: dict[str, object], expected: type
) -> None:
    """A Bot API error body, mapped by aiogram's own check_response, lands in the expected class."""
    session = AiohttpSession()
    bot = Bot("42:TEST", session=session)
    with pytest.raises(TelegramAPIError) as raised:
        session.check_response(bot=bot, method=SEND, status_code=status, content=json.dumps(body))
    assert type(classify(raised.value)) is expected
