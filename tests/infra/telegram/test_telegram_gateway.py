"""TelegramGateway without a Bot API server: construction, transport failures, secrecy."""

from __future__ import annotations

import socket
from datetime import datetime

import pytest
from pydantic import SecretStr

from infra.telegram import TelegramGateway, TelegramPermanent, TelegramPort, TelegramTransient

SECRET = "123456:TOP-secret-value"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_it_is_a_telegram_port() -> None:
    """The real gateway satisfies the port that workers depend on."""
    gateway = TelegramGateway(token=SecretStr(SECRET), api_base="http://127.0.0.1:1", budget=None)
    assert isinstance(gateway, TelegramPort)


def test_a_malformed_token_is_refused_without_echoing_it() -> None:
    """A token that is not <digits>:<secret> fails at construction, and the error hides it."""
    with pytest.raises(ValueError, match="malformed bot token") as raised:
        TelegramGateway(token=SecretStr("not a token"), api_base="http://127.0.0.1:1", budget=None)
    assert "not a token" not in str(raised.value)


def test_an_unreachable_server_is_transient() -> None:
    """A refused connection is a network error: retried with backoff."""
    base = f"http://127.0.0.1:{closed_port()}"
    gateway = TelegramGateway(token=SecretStr(SECRET), api_base=base, budget=None)
    with gateway, pytest.raises(TelegramTransient) as raised:
        gateway.send_message(chat_id=5, text="hi")
    assert raised.value.retry_after is None
    assert raised.value.method == "sendMessage"


def test_a_malformed_base_is_permanent_and_the_token_is_scrubbed() -> None:
    """An invalid URL fails every time; its message would contain the token, so it is masked."""
    base = "http://127.0.0.1:99999"  # port out of range
    gateway = TelegramGateway(token=SecretStr(SECRET), api_base=base, budget=None)
    with gateway, pytest.raises(TelegramPermanent) as raised:
        gateway.send_message(chat_id=5, text="hi")
    assert "TOP-secret" not in str(raised.value)
    assert "<token>" in raised.value.description
    assert raised.value.__cause__ is None  # the original exception would show the token


def test_closing_an_unused_gateway_is_harmless() -> None:
    """close() before any call, or twice, does nothing: the gateway still calls out afterwards."""
    base = f"http://127.0.0.1:{closed_port()}"
    gateway = TelegramGateway(token=SecretStr(SECRET), api_base=base, budget=None)
    gateway.close()
    gateway.close()
    with gateway, pytest.raises(TelegramTransient) as raised:  # a network error, not a crash
        gateway.send_message(chat_id=5, text="hi")
    assert raised.value.method == "sendMessage"


def test_naive_datetimes_are_refused() -> None:
    """A naive ban end would be read as local time, so the gateway refuses it before sending."""
    gateway = TelegramGateway(token=SecretStr(SECRET), api_base="http://127.0.0.1:1", budget=None)
    with pytest.raises(ValueError, match="aware"):
        gateway.ban(chat_id=-100, user_id=5, until_date=datetime(2030, 1, 1))  # noqa: DTZ001
