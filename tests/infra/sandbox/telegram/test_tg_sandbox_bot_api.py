"""The Bot API's HTTP surface on the stand-in (infra/sandbox/telegram/bot_api.py): envelopes,
statuses, encodings and the call log, seen through real clients."""

from __future__ import annotations

import asyncio
import io
import json

import httpx
import pytest
from aiogram.exceptions import TelegramNotFound, TelegramUnauthorizedError
from aiogram.methods.base import TelegramMethod
from aiogram.types import BufferedInputFile
from tg_sandbox_support import bot_on, subscriber

from infra.sandbox.telegram import TelegramSandbox


def test_unknown_token_is_unauthorized(telegram_sandbox: TelegramSandbox) -> None:
    """A token the world does not know gets 401 with the official description."""
    response = httpx.post(f"{telegram_sandbox.base_url}/bot42:nope/getMe")
    assert response.status_code == 401
    assert response.json() == {
        "ok": False, "error_code": 401, "description": "Unauthorized: invalid token specified",
    }

    async def scenario() -> None:
        async with bot_on(telegram_sandbox, token="42:nope") as bot:
            with pytest.raises(TelegramUnauthorizedError):
                await bot.get_me()

    asyncio.run(scenario())


def test_unknown_method_is_not_found(telegram_sandbox: TelegramSandbox) -> None:
    """An unknown method gets 404 "Not Found: method not found", which aiogram raises as such."""
    response = httpx.post(f"{telegram_sandbox.base_url}/bot{telegram_sandbox.token}/fly")
    assert (response.status_code, response.json()["description"]) == (
        404, "Not Found: method not found",
    )

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            with pytest.raises(TelegramNotFound):
                await bot(FlyToTheMoon())

    asyncio.run(scenario())


def test_method_names_are_case_insensitive_and_get_works(telegram_sandbox: TelegramSandbox) -> None:
    """GET /GETME works like POST /getMe and returns the bot with its username."""
    response = httpx.get(f"{telegram_sandbox.base_url}/bot{telegram_sandbox.token}/GETME")
    assert response.status_code == 200
    result = response.json()["result"]
    assert (result["username"], result["is_bot"]) == ("sandbox_paywall_bot", True)


@pytest.mark.parametrize("encoding", ["query", "form", "json"])
def test_every_encoding_carries_parameters(
    telegram_sandbox: TelegramSandbox, encoding: str,
) -> None:
    """Query string, urlencoded form and JSON bodies are all read (JSON may nest objects)."""
    subscriber(telegram_sandbox, 5)
    url = f"{telegram_sandbox.base_url}/bot{telegram_sandbox.token}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    fields = {"chat_id": "5", "text": "hello", "reply_markup": json.dumps(markup)}
    if encoding == "query":
        response = httpx.post(url, params=fields)
    elif encoding == "form":
        response = httpx.post(url, data=fields)
    else:
        response = httpx.post(url, json={"chat_id": 5, "text": "hello", "reply_markup": markup})
    assert response.status_code == 200, response.text
    assert response.json()["result"]["reply_markup"] == markup


def test_malformed_json_body_is_a_bad_request(telegram_sandbox: TelegramSandbox) -> None:
    """A JSON body that does not parse is refused with 400, not a server error."""
    response = httpx.post(
        f"{telegram_sandbox.base_url}/bot{telegram_sandbox.token}/sendMessage",
        content=b"{oops", headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["description"] == "Bad Request: can't parse JSON object"


def test_multipart_uploads_resolve_attach_and_download_back(
    telegram_sandbox: TelegramSandbox,
) -> None:
    """sendDocument via aiogram (multipart + attach://) stores the file; getFile downloads it."""
    subscriber(telegram_sandbox, 5)

    async def scenario() -> bytes:
        async with bot_on(telegram_sandbox) as bot:
            sent = await bot.send_document(
                5, BufferedInputFile(b"id;days\n5;30\n", filename="export.csv"), caption="CSV",
            )
            assert sent.document is not None
            assert (sent.document.file_name, sent.document.mime_type) == ("export.csv", "text/csv")
            buffer = await bot.download(sent.document.file_id, destination=io.BytesIO())
            assert isinstance(buffer, io.BytesIO)
            return buffer.getvalue()

    assert asyncio.run(scenario()) == b"id;days\n5;30\n"
    upload = next(c for c in telegram_sandbox.world.calls if c.method == "sendDocument")
    (part,) = set(upload.params) - {"chat_id", "document", "caption"}
    assert upload.params["document"] == f"attach://{part}"


def test_success_envelope_carries_the_description(telegram_sandbox: TelegramSandbox) -> None:
    """setWebhook answers {"ok": true, "result": true, "description": "Webhook was set"}."""
    url = f"{telegram_sandbox.base_url}/bot{telegram_sandbox.token}/setWebhook"
    first = httpx.post(url, data={"url": "http://127.0.0.1:9/hook"}).json()
    again = httpx.post(url, data={"url": "http://127.0.0.1:9/hook"}).json()
    assert first == {"ok": True, "result": True, "description": "Webhook was set"}
    assert again["description"] == "Webhook is already set"


def test_every_call_is_logged(telegram_sandbox: TelegramSandbox) -> None:
    """The call log keeps method (official spelling), params, status and description."""
    base = f"{telegram_sandbox.base_url}/bot{telegram_sandbox.token}"
    httpx.post(f"{base}/getme")
    httpx.post(f"{base}/sendMessage", data={"chat_id": "777", "text": "x"})
    calls = telegram_sandbox.world.calls
    assert [(c.method, c.status) for c in calls] == [("getMe", 200), ("sendMessage", 400)]
    assert calls[1].params == {"chat_id": "777", "text": "x"}
    assert calls[1].description == "Bad Request: chat not found"


class FlyToTheMoon(TelegramMethod[bool]):
    """A method Telegram does not have."""

    __returning__ = bool
    __api_method__ = "flyToTheMoon"
