"""Fault injection of the Telegram stand-in (infra/sandbox/telegram/faults.py)."""

from __future__ import annotations

import asyncio
import random
import time

import httpx
import pytest
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
    TelegramServerError,
)
from tg_sandbox_support import bot_on, subscriber

from infra.sandbox.telegram import TelegramSandbox
from infra.sandbox.telegram.errors import CATALOGUE
from infra.sandbox.telegram.faults import FaultInjector, FaultRule
from tests.fixtures.sandboxes import TelegramFaults


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
    assert httpx.post(control, json={"error": "boom", "error_probability": 1}).status_code == 400
    assert httpx.post(control, json={"error_probability": 1}).status_code == 400
    assert httpx.post(control, json={"retry_after_probability": 1}).status_code == 200
    assert httpx.delete(control).json() == {"ok": True, "result": []}


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_catalogue_error_can_be_answered_by_any_method(name: str) -> None:
    """Each catalogue refusal is served with its real status and description, on any method."""
    faults = FaultInjector(rng=random.Random(0))
    faults.set_rule(FaultRule(method="*", fail_next=1, fail_next_with=name))
    error = faults.decide("getMe").error
    expected = CATALOGUE[name]()
    assert error is not None
    assert (error.status, error.description) == (expected.status, expected.description)
    assert error.status in {400, 401, 403}
    assert faults.decide("getMe").error is None


def test_a_used_up_rule_gives_way_to_a_wider_one() -> None:
    """Once a user's fail_next is spent, the method's wider rule applies to them again."""
    faults = FaultInjector(rng=random.Random(0))
    faults.set_rule(FaultRule(method="banChatMember", user_id=5, fail_next=1))
    faults.set_rule(FaultRule(method="banChatMember", fail_next=1,
                              fail_next_with="server_error"))
    statuses = [faults.decide("banChatMember", user_id=5).error for _ in range(3)]
    assert [e.status if e else None for e in statuses] == [429, 500, None]


def test_a_rule_for_one_user_leaves_the_others_alone() -> None:
    """A rule narrowed to a user fails only calls about that user, and wins over a wider rule."""
    faults = FaultInjector(rng=random.Random(0))
    faults.set_rule(FaultRule(method="getChatMember", user_id=5, error="member_not_found",
                              error_probability=1.0))
    faults.set_rule(FaultRule(method="*", chat_id=-100, latency_seconds=0.25))
    about_five = faults.decide("getchatmember", user_id=5, chat_id=-100)
    assert about_five.error is not None and "member not found" in about_five.error.description
    assert about_five.latency_seconds == 0.0  # the user's own rule is the one applied
    about_six = faults.decide("getChatMember", user_id=6, chat_id=-100)
    assert about_six.error is None and about_six.latency_seconds == 0.25
    faults.clear("getChatMember")
    assert [r.key for r in faults.rules()] == [("*", 0, -100)]


def test_switches_reach_aiogram_for_one_user(
    telegram_sandbox: TelegramSandbox, telegram_faults: TelegramFaults,
) -> None:
    """Over HTTP: one user's getChatMember, sendMessage and any 429 behave as switched."""
    channel = telegram_sandbox.world.channel_id
    subscriber(telegram_sandbox, 5)
    subscriber(telegram_sandbox, 6, "Bob")
    telegram_faults.fail("getChatMember", "participant_id_invalid", user_id=5)
    telegram_faults.fail("sendMessage", "chat_not_found", user_id=6)
    telegram_faults.fail("getChatMemberCount", "retry_after", times=1, retry_after=3)
    telegram_faults.fail("getChat", "group_upgraded", times=1)
    telegram_faults.fail("banChatMember", "user_deactivated", times=1)

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            with pytest.raises(TelegramBadRequest, match="PARTICIPANT_ID_INVALID"):
                await bot.get_chat_member(channel, 5)
            assert (await bot.get_chat_member(channel, 6)).status == "left"
            with pytest.raises(TelegramBadRequest, match="chat not found"):
                await bot.send_message(6, "hi")
            assert (await bot.send_message(5, "hi")).text == "hi"
            with pytest.raises(TelegramRetryAfter) as flood:
                await bot.get_chat_member_count(channel)
            assert flood.value.retry_after == 3
            with pytest.raises(TelegramMigrateToChat):
                await bot.get_chat(channel)
            with pytest.raises(TelegramForbiddenError, match="user is deactivated"):
                await bot.ban_chat_member(channel, 6)
            with pytest.raises(TelegramBadRequest, match="PARTICIPANT_ID_INVALID"):
                await bot.get_chat_member(channel, 5)  # "always" stays on until cleared
            telegram_faults.clear()
            assert (await bot.get_chat_member(channel, 5)).status == "left"

    asyncio.run(scenario())
