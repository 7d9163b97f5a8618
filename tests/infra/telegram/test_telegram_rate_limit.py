"""The shared send budget: Redis token buckets updated by one Lua script (rate_limit.py).

These run on the real Redis server: fakeredis needs the optional `lupa` package to evaluate Lua,
and that is not among the dev requirements. Loopback Redis answers in well under a millisecond,
so the timings below keep wide margins.
"""

from __future__ import annotations

import time

import pytest
import redis
from aiogram.methods import (
    ApproveChatJoinRequest,
    CopyMessage,
    EditMessageText,
    GetChatMember,
    SendDocument,
    SendMessage,
)
from aiogram.types import BufferedInputFile

from infra.telegram import BudgetTimeout, SendBudget, TelegramTransient
from infra.telegram.rate_limit import budget_chat_id

pytestmark = pytest.mark.redis


def test_burst_is_granted_then_refused_with_the_refill_wait(redis_client: redis.Redis) -> None:
    """A full bucket grants `burst` sends at once, then quotes the time until the next token."""
    budget = SendBudget(redis_client, per_second=1, burst=3)
    assert [budget.try_acquire(None) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = budget.try_acquire(None)
    assert 0.8 < wait <= 1.0


def test_tokens_come_back_at_the_configured_rate(redis_client: redis.Redis) -> None:
    """After the quoted wait the next send is granted."""
    budget = SendBudget(redis_client, per_second=20, burst=1)
    assert budget.try_acquire(None) == 0.0
    wait = budget.try_acquire(None)
    assert 0 < wait <= 0.05
    time.sleep(wait)
    assert budget.try_acquire(None) == 0.0


def test_each_chat_has_its_own_one_per_second_bucket(redis_client: redis.Redis) -> None:
    """A second send to the same chat waits about a second; other chats are unaffected."""
    budget = SendBudget(redis_client, per_second=100, per_chat_per_second=1.0, chat_margin=0)
    assert budget.try_acquire(5) == 0.0
    assert 0.8 < budget.try_acquire(5) <= 1.0
    assert budget.try_acquire(6) == 0.0
    assert budget.try_acquire(None) == 0.0


def test_a_chats_sends_are_spaced_a_margin_more_than_its_rate(redis_client: redis.Redis) -> None:
    """Grants to one chat are (1 + chat_margin)/rate apart, so deliveries are never closer."""
    budget = SendBudget(redis_client, per_second=100, per_chat_per_second=1.0,
                        chat_margin=0.25, key_prefix="margin")
    assert budget.try_acquire(5) == 0.0
    assert 1.05 < budget.try_acquire(5) <= 1.25


def test_a_refusal_takes_no_token_from_either_bucket(redis_client: redis.Redis) -> None:
    """When the chat's bucket refuses, the global token stays for another chat."""
    budget = SendBudget(redis_client, per_second=1, burst=2)
    assert budget.try_acquire(5) == 0.0
    assert budget.try_acquire(5) > 0  # chat 5 is empty; the global bucket still holds one
    assert budget.try_acquire(6) == 0.0
    assert budget.try_acquire(7) > 0  # now the global bucket is empty


def test_global_bucket_limits_across_chats(redis_client: redis.Redis) -> None:
    """Sends to distinct chats still stop at the global burst."""
    budget = SendBudget(redis_client, per_second=2, burst=4)
    granted = [budget.try_acquire(chat) == 0.0 for chat in range(10)]
    assert granted == [True] * 4 + [False] * 6


def test_default_burst_is_a_fifth_of_a_second(redis_client: redis.Redis) -> None:
    """Without an explicit burst, the bucket holds 200 ms worth of sends (at least one)."""
    assert SendBudget(redis_client, per_second=25).burst == 5
    assert SendBudget(redis_client, per_second=2).burst == 1


def test_buckets_expire_once_they_would_be_full(redis_client: redis.Redis) -> None:
    """Keys live only as long as their bucket is below capacity, plus a second of slack."""
    budget = SendBudget(redis_client, per_second=10, burst=10, key_prefix="t")
    budget.try_acquire(42)
    ttls = [redis_client.pttl("t:global"), redis_client.pttl("t:chat:42")]
    assert 0 < ttls[0] <= 1100  # type: ignore[operator]  # redis-py types every reply as maybe-async
    assert 0 < ttls[1] <= 2100  # type: ignore[operator]  # a second + the chat margin + slack


def test_acquire_sleeps_until_granted(redis_client: redis.Redis) -> None:
    """acquire blocks for the quoted wait instead of failing."""
    budget = SendBudget(redis_client, per_second=10, burst=1)
    started = time.monotonic()
    for _ in range(3):
        budget.acquire(None, timeout=5)
    assert time.monotonic() - started >= 0.15


def test_acquire_gives_up_at_once_when_the_wait_exceeds_the_timeout(
    redis_client: redis.Redis,
) -> None:
    """A wait longer than the timeout raises BudgetTimeout immediately, quoting the wait."""
    budget = SendBudget(redis_client, per_second=100)
    budget.acquire(5, timeout=1)
    started = time.monotonic()
    with pytest.raises(BudgetTimeout) as raised:
        budget.acquire(5, timeout=0.3)
    assert time.monotonic() - started < 0.2
    assert isinstance(raised.value, TelegramTransient)
    assert raised.value.retry_after is not None
    assert 0.9 < raised.value.retry_after <= 1.1  # a second plus the delivery margin


def test_bad_configuration_is_refused(redis_client: redis.Redis) -> None:
    """Rates must be positive and a burst at least one token."""
    with pytest.raises(ValueError, match="positive"):
        SendBudget(redis_client, per_second=0)
    with pytest.raises(ValueError, match="burst"):
        SendBudget(redis_client, per_second=1, burst=0)


def test_only_message_methods_draw_on_their_chat() -> None:
    """Sending, editing, copying methods count against their chat; the rest only globally."""
    document = BufferedInputFile(b"x", filename="x.csv")
    assert budget_chat_id(SendMessage(chat_id=5, text="hi")) == 5
    assert budget_chat_id(SendDocument(chat_id=6, document=document)) == 6
    assert budget_chat_id(EditMessageText(chat_id=7, message_id=1, text="x")) == 7
    assert budget_chat_id(CopyMessage(chat_id=8, from_chat_id=1, message_id=1)) == 8
    assert budget_chat_id(ApproveChatJoinRequest(chat_id=-100, user_id=5)) is None
    assert budget_chat_id(GetChatMember(chat_id=-100, user_id=5)) is None


def test_an_explicit_chat_wins() -> None:
    """chat_id_for_budget overrides the method's own chat, for any method."""
    assert budget_chat_id(SendMessage(chat_id=5, text="hi"), 9) == 9
    assert budget_chat_id(GetChatMember(chat_id=-100, user_id=5), 5) == 5
