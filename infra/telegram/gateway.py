"""`TelegramGateway`: how synchronous code (Celery workers) calls the Bot API through aiogram.

Each process gets one event loop and one `aiogram.Bot` on an `AiohttpSession`, reused for
every call (`loop.run_until_complete`): about 2 ms a call, against about 290 ms for
`asyncio.run` with a fresh Bot each time, and an aiohttp session can never be shared between
loops (telegram.md §4.8).

Fork safety: the constructor only stores configuration; the loop and the session are created on
the first call, in the process making it. So a gateway may be built before a fork (Celery's
prefork parent, multiprocessing) and used in the children. If a gateway that has already made
calls reaches a child through `fork`, the child notices the new pid and builds its own loop and
session; the inherited ones belong to the parent and are left untouched. With the spawn start
method a gateway is not sent across at all: build one in the child (they are cheap).

One gateway serves one thread at a time: a Celery threads pool needs one per thread. Call
`close()` at `worker_process_shutdown`. The token is in every Bot API URL, so it is never
logged, never in a repr, and scrubbed from every failure this module raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import TypeVar

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import Response, TelegramMethod
from aiogram.types import ChatInviteLink, Message, ResultChatMemberUnion
from aiogram.utils.token import TokenValidationError, validate_token
from pydantic import SecretStr

from infra.telegram.errors import CLASSIFIABLE, TelegramFailure, classify
from infra.telegram.port import TelegramPort
from infra.telegram.rate_limit import Lane, SendBudget, budget_chat_id

T = TypeVar("T")

# aiogram parses every answer with `Response[method.__returning__]`, and pydantic keeps
# parametrised generics only weakly: without a strong reference each call rebuilds the model
# class (about 1.7 ms, a sixth of a paid invoice's processing; see bench/). These are the result
# types the workers' methods return.
_RESPONSE_MODELS = tuple(
    Response[result]  # type: ignore[valid-type]
    for result in (Message, ChatInviteLink, bool, ResultChatMemberUnion)
)

# Loops and bots a forked child inherited. Referenced forever so that the child's garbage
# collector never finalizes them: closing them could shut connections the parent still uses.
_INHERITED: list[tuple[asyncio.AbstractEventLoop, Bot]] = []


class TelegramGateway(TelegramPort):
    """The real Bot API behind `TelegramPort`: budgeted, classified, one loop per process."""

    def __init__(
        self,
        *,
        token: SecretStr,
        api_base: str,
        budget: SendBudget | None,
        request_timeout: float = 15.0,
        budget_timeout: float = 10.0,
        bulk_budget_timeout: float = 1.0,
    ) -> None:
        try:
            validate_token(token.get_secret_value())
        except TokenValidationError:
            raise ValueError("malformed bot token: expected <digits>:<secret>") from None
        self._token = token
        self._api = TelegramAPIServer.from_base(api_base)
        self._budget = budget
        self._request_timeout = request_timeout
        # A bulk call that cannot have a token soon gives its worker slot back (its task
        # retries later) rather than sleeping in it while payers' tasks wait for a slot.
        self._budget_timeouts = {Lane.INTERACTIVE: budget_timeout, Lane.BULK: bulk_budget_timeout}
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bot: Bot | None = None

    def call(
        self, method: TelegramMethod[T], *, chat_id_for_budget: int | None = None,
        lane: Lane = Lane.INTERACTIVE,
    ) -> T:
        """Wait for the send budget, run `method`, return its result or raise a TelegramFailure.

        Sending methods also take a token from their chat's bucket; `chat_id_for_budget` names
        that chat when the method does not (or makes any method count against a chat).
        The budget may raise `BudgetTimeout` (a `TelegramTransient`) or a `redis.RedisError`.
        """
        if self._budget is not None:
            chat = budget_chat_id(method, chat_id_for_budget)
            self._budget.acquire(chat, timeout=self._budget_timeouts[lane], lane=lane)
        loop, bot = self._runtime()
        request = loop.create_task(bot(method))
        try:
            return loop.run_until_complete(request)
        except CLASSIFIABLE as exc:
            failure = self._scrub(classify(exc))
            leaks = self._token.get_secret_value() in str(exc)
            raise failure from (None if leaks else exc)
        finally:
            if not request.done():
                # Interrupted from outside (Celery's soft time limit is a signal): cancel now,
                # or the orphaned request would resume during the next call on this loop.
                request.cancel()
                with contextlib.suppress(asyncio.CancelledError, *CLASSIFIABLE):
                    loop.run_until_complete(request)

    def close(self) -> None:
        """Close this process's session and loop; a later call would open new ones."""
        loop, bot, owned = self._loop, self._bot, self._pid == os.getpid()
        self._pid, self._loop, self._bot = None, None, None
        if loop is None or bot is None:
            return
        if not owned:
            _INHERITED.append((loop, bot))
            return
        try:
            loop.run_until_complete(bot.session.close())
        finally:
            loop.close()

    def _runtime(self) -> tuple[asyncio.AbstractEventLoop, Bot]:
        if self._pid != os.getpid() or self._loop is None or self._bot is None:
            if self._loop is not None and self._bot is not None:
                _INHERITED.append((self._loop, self._bot))
            self._loop = asyncio.new_event_loop()
            session = AiohttpSession(api=self._api, timeout=self._request_timeout)
            self._bot = Bot(token=self._token.get_secret_value(), session=session)
            self._pid = os.getpid()
        return self._loop, self._bot

    def _scrub(self, failure: TelegramFailure) -> TelegramFailure:
        secret = self._token.get_secret_value()
        if secret in failure.description:
            failure.description = failure.description.replace(secret, "<token>")
            failure.args = (failure.description,)
        return failure
