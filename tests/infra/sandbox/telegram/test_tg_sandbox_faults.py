"""Fault injection of the Telegram stand-in (infra/sandbox/telegram/faults.py)."""

from __future__ import annotations

import asyncio
import random
import time

import httpx
import pytest
from aiogram.exceptions import TelegramRetryAfter, TelegramServerError
from tg_sandbox_support import bot_on, subscriber

from infra.sandbox.telegram import TelegramSandbox
from infra.sandbox.telegram.faults import FaultInjector, FaultRule


def test_fail_next_fails_exactly_that_many_calls() -> None:
    """`fail_next` is deterministic: N failures, then normal service."""
    faults = FaultInjector(rng=random.Random(0))
    faults.set_rule(FaultRule(method="sendMessage", fail_next=2, retry_after=7))
    errors = [faults.decide("sendmessage").error for _ in range(3)]
    assert [e.status if e else None for e in errors] == [429, 429, None]
    assert errors[0] is not None and errors[0].retry_after == 7


def test_server_errors_use_the_configured_status() -> None:
    """A server-error fault answers with the chosen 5xx status."""
    faults = FaultInjector(rng=random.Random(0))
    faults.set_rule(FaultRule(server_error_probability=1.0, server_error_status=502))
    error = faults.decide("getMe").error
    assert error is not None
    assert (error.status, error.description) == (502, "Bad Gateway: sandbox fault injection")


def test_method_rule_wins_over_wildcard() -> None:
    """A method's own rule replaces the "*" rule for that method only."""
    faults = FaultInjector(rng=random.Random(0))
    faults.set_rule(FaultRule(method="*", retry_after_probability=1.0))
    faults.set_rule(FaultRule(method="getMe", latency_seconds=0.5))
    assert faults.decide("getMe").error is None
    assert faults.decide("getMe").latency_seconds == 0.5
    assert faults.decide("sendMessage").error is not None


def test_probabilities_are_reproducible_with_a_seed() -> None:
    """Random faults come from the world's seeded generator, so a seed replays a run."""
    def pattern(seed: int) -> list[bool]:
        faults = FaultInjector(rng=random.Random(seed))
        faults.set_rule(FaultRule(retry_after_probability=0.5))
        return [faults.decide("sendMessage").error is not None for _ in range(20)]

    assert pattern(3) == pattern(3)
    assert any(pattern(3)) and not all(pattern(3))


def test_clear_removes_rules() -> None:
    """Clearing one method or everything restores normal service."""
    faults = FaultInjector(rng=random.Random(0))
    faults.set_rule(FaultRule(method="a", fail_next=1))
    faults.set_rule(FaultRule(method="b", fail_next=1))
    faults.clear("A")
    assert [r.method for r in faults.rules()] == ["b"]
    faults.clear()
    assert faults.rules() == []


def test_injected_faults_reach_aiogram(telegram_sandbox: TelegramSandbox) -> None:
    """A fail_next rule gives TelegramRetryAfter / TelegramServerError, then normal service."""
    subscriber(telegram_sandbox, 5)
    control = f"{telegram_sandbox.base_url}/control/faults"
    httpx.post(control, json={"method": "sendMessage", "fail_next": 1, "retry_after": 7})
    httpx.post(control, json={"method": "getMe", "fail_next": 1,
                              "fail_next_with": "server_error", "server_error_status": 503})

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            with pytest.raises(TelegramRetryAfter) as caught:
                await bot.send_message(5, "hi")
            assert caught.value.retry_after == 7
            assert (await bot.send_message(5, "hi")).text == "hi"
            with pytest.raises(TelegramServerError):
                await bot.get_me()
            assert (await bot.get_me()).username == "sandbox_paywall_bot"

    asyncio.run(scenario())
    messages = [c for c in telegram_sandbox.world.calls if c.method == "sendMessage"]
    assert [c.status for c in messages] == [429, 200]


def test_latency_is_added_before_answering(telegram_sandbox: TelegramSandbox) -> None:
    """latency_seconds delays the answer of that method."""
    httpx.post(f"{telegram_sandbox.base_url}/control/faults",
               json={"method": "getMe", "latency_seconds": 0.3})
    started = time.monotonic()
    httpx.post(f"{telegram_sandbox.base_url}/bot{telegram_sandbox.token}/getMe")
    assert time.monotonic() - started >= 0.3


def test_fault_rules_are_validated(telegram_sandbox: TelegramSandbox) -> None:
    """Unknown fields or wrong types are a 400 from the control API, not a silent no-op."""
    control = f"{telegram_sandbox.base_url}/control/faults"
    assert httpx.post(control, json={"fial_next": 1}).status_code == 400
    assert httpx.post(control, json={"fail_next": "x"}).status_code == 400
    assert httpx.post(control, json={"fail_next_with": "boom"}).status_code == 400
    assert httpx.post(control, json={"retry_after_probability": 1}).status_code == 200
    assert httpx.delete(control).json() == {"ok": True, "result": []}
