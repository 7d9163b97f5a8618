"""The send budget every worker process shares: token buckets kept in Redis.

Telegram allows about 30 messages/s per bot and about 1/s per chat (telegram.md §3); beyond
that it answers 429. Every worker process takes a token here before each call, so the limits
hold for the whole fleet, not per process.

One Lua script updates the global bucket and the chat's bucket atomically: it grants only when
both have a token and then takes one from each, or takes nothing and returns how long to wait.
It reads the clock with Redis TIME, so the workers' clocks never enter the arithmetic.

A bucket is a hash {tokens, s, us}: the level at the Redis time (s, us). A key expires once its
bucket would be full again, which is the same as a missing key, so idle chats cost nothing.

Two lanes share the global bucket. Interactive calls (a payer's invite, receipt, join request)
take any token. Bulk calls (reminders, expiry notices, broadcasts) take one only when that
leaves `bulk_reserve` tokens for interactive calls, and never while an interactive call is
waiting: a refused interactive call raises a flag for the time it was told to wait, so a bulk
wave already in flight can neither drain the bucket nor win the race for the next token. With
no interactive demand the reserve refills in a fifth of a second and bulk runs at the full rate.
"""

from __future__ import annotations

import math
import time
from enum import StrEnum
from typing import Any

import redis
from aiogram.methods import TelegramMethod

from infra.telegram.errors import TelegramTransient

# Methods that put a message into a chat, and so count against that chat's bucket too.
_MESSAGE_METHODS = frozenset(
    {
        "sendMessage",
        "sendDocument",
        "sendPhoto",
        "sendVideo",
        "sendAnimation",
        "sendAudio",
        "sendVoice",
        "sendVideoNote",
        "sendMediaGroup",
        "sendSticker",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendPoll",
        "sendDice",
        "sendInvoice",
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
    }
)

_BUCKETS = """
-- KEYS[1] global bucket, KEYS[2] the interactive-waiting flag, KEYS[3] the chat's bucket (optional)
-- ARGV: global rate/s, global capacity, chat rate/s, chat capacity,
--       tokens to leave in the global bucket (0: interactive lane), 1 for the bulk lane else 0
-- Returns 0 when granted, else the wait in whole microseconds (rounded up).
local now = redis.call('TIME')
local rate, capacity = tonumber(ARGV[1]), tonumber(ARGV[2])
local bulk = ARGV[6] == '1'
-- The level the global bucket must hold: bulk leaves the reserve (never more than it can hold).
local needed = math.min(capacity, 1 + tonumber(ARGV[5]))
local buckets = {{KEYS[1], rate, capacity, needed}}
if #KEYS > 2 then
  buckets[2] = {KEYS[3], tonumber(ARGV[3]), tonumber(ARGV[4]), 1}
end

local wait, global_wait = 0, 0
for index, bucket in ipairs(buckets) do
  local key, bucket_rate, bucket_capacity, level = bucket[1], bucket[2], bucket[3], bucket[4]
  local state = redis.call('HMGET', key, 'tokens', 's', 'us')
  local tokens = bucket_capacity
  if state[1] then
    -- seconds and microseconds apart: two small integers keep full precision
    local elapsed = (tonumber(now[1]) - tonumber(state[2]))
      + (tonumber(now[2]) - tonumber(state[3])) / 1000000
    tokens = math.min(bucket_capacity, tonumber(state[1]) + math.max(0, elapsed) * bucket_rate)
  end
  bucket[5] = tokens
  if tokens < level then
    local this_wait = (level - tokens) / bucket_rate
    wait = math.max(wait, this_wait)
    if index == 1 then
      global_wait = this_wait
    end
  end
end
if bulk then
  local flag = redis.call('PTTL', KEYS[2])
  if flag > 0 then
    wait = math.max(wait, flag / 1000)
  end
elseif global_wait > 0 then
  -- Bulk stands aside until this caller has come back for its token (plus one token's time).
  local hold = math.ceil((global_wait + 1 / rate) * 1000)
  if redis.call('PTTL', KEYS[2]) < hold then
    redis.call('SET', KEYS[2], '1', 'PX', hold)
  end
end
if wait > 0 then
  return math.ceil(wait * 1000000)
end

for _, bucket in ipairs(buckets) do
  local key, bucket_rate, bucket_capacity, tokens = bucket[1], bucket[2], bucket[3], bucket[5] - 1
  redis.call('HSET', key, 'tokens', tostring(tokens), 's', now[1], 'us', now[2])
  redis.call('PEXPIRE', key, math.ceil((bucket_capacity - tokens) / bucket_rate * 1000) + 1000)
end
return 0
"""


class Lane(StrEnum):
    """Who a call is for: a person waiting on it now, or one of many in a wave."""

    INTERACTIVE = "interactive"
    BULK = "bulk"


class BudgetTimeout(TelegramTransient):
    """No token within the caller's timeout; `retry_after` is the last wait the budget quoted."""


class SendBudget:
    """Global and per-chat token buckets shared through Redis by every worker process.

    `burst` is the global bucket's capacity; by default 200 ms worth of sends, so any one-second
    window sees at most 1.2 × `per_second`. A chat's bucket holds one token: Telegram tolerates
    short bursts to one chat, but 1/s is all its FAQ promises. A grant is not yet a delivery:
    the request reaches Telegram milliseconds later, more on a busy machine, so a chat's grants
    are spaced a `chat_margin` share more than 1/`per_chat_per_second` (a tenth: 1.1 s at 1/s);
    otherwise two messages granted a second apart could arrive closer than that.
    `bulk_reserve` is what the bulk lane leaves in the global bucket for interactive calls: by
    default all but one token, so a payer who arrives during a wave is served from the burst.
    """

    def __init__(
        self,
        redis_client: redis.Redis,
        *,
        per_second: float,
        per_chat_per_second: float = 1.0,
        burst: int | None = None,
        bulk_reserve: int | None = None,
        chat_margin: float = 0.1,
        key_prefix: str = "tg:budget",
    ) -> None:
        if per_second <= 0 or per_chat_per_second <= 0:
            raise ValueError("rates must be positive")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1")
        if bulk_reserve is not None and bulk_reserve < 0:
            raise ValueError("bulk_reserve must not be negative")
        if chat_margin < 0:
            raise ValueError("chat_margin must not be negative")
        self.per_second = per_second
        self.per_chat_per_second = per_chat_per_second
        # The rate the chat's bucket refills at: one token per (1/rate + margin) seconds.
        self._chat_refill = per_chat_per_second / (1 + chat_margin)
        self.burst = burst if burst is not None else max(1, math.ceil(per_second / 5))
        self.bulk_reserve = bulk_reserve if bulk_reserve is not None else self.burst - 1
        self._prefix = key_prefix
        self._script = redis_client.register_script(_BUCKETS)

    def try_acquire(
        self, chat_id: int | str | None = None, *, lane: Lane = Lane.INTERACTIVE
    ) -> float:
        """Take a token (and one of `chat_id`'s, if given): 0.0 when granted, else the wait in s."""
        keys = [f"{self._prefix}:global", f"{self._prefix}:interactive_waiting"]
        if chat_id is not None:
            keys.append(f"{self._prefix}:chat:{chat_id}")
        bulk = lane is Lane.BULK
        micros = self._script(
            keys=keys,
            args=[self.per_second, self.burst, self._chat_refill, 1,
                  self.bulk_reserve if bulk else 0, int(bulk)],
        )
        return int(micros) / 1_000_000

    def acquire(
        self, chat_id: int | str | None = None, *, timeout: float,
        lane: Lane = Lane.INTERACTIVE,
    ) -> None:
        """Block until a token is granted; raise BudgetTimeout when that would exceed `timeout`."""
        deadline = time.monotonic() + timeout
        while (wait := self.try_acquire(chat_id, lane=lane)) > 0:
            # Sleeping past the deadline just to fail then helps nobody: fail now, say when.
            if time.monotonic() + wait > deadline:
                raise BudgetTimeout(
                    retry_after=wait, description=f"send budget exhausted for {timeout:g} s"
                )
            time.sleep(wait)


def budget_chat_id(
    method: TelegramMethod[Any], chat_id_for_budget: int | str | None = None
) -> int | str | None:
    """The chat whose bucket `method` draws on, or None when it only counts globally.

    Message-sending and message-editing methods count against their own `chat_id`; an explicit
    `chat_id_for_budget` wins over that and makes any method count against that chat.
    """
    if chat_id_for_budget is not None:
        return chat_id_for_budget
    name = method.__api_method__
    if name not in _MESSAGE_METHODS and not name.startswith("editMessage"):
        return None
    chat_id = getattr(method, "chat_id", None)
    return chat_id if isinstance(chat_id, int | str) else None
