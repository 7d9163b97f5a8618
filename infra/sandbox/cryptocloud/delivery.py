"""Sends postbacks from the server's event loop and records every attempt.

Delay, duplicates, retries with exponential backoff and drop follow the config snapshot taken
when the postback was triggered. Triggers may come from any thread; sends happen on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import aiohttp

from infra.sandbox.cryptocloud.config import SandboxConfig
from infra.sandbox.cryptocloud.postback import PostbackBody
from infra.sandbox.cryptocloud.wire import timestamp

Outcome = Literal["delivered", "rejected", "error", "dropped", "no_url", "not_running"]


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One recorded send (or a decision not to send) of one postback."""

    postback_id: int
    invoice_uuid: str
    url: str | None
    content_type: str | None
    body: str | None
    copy: int
    attempt: int
    status_code: int | None
    outcome: Outcome
    error: str | None
    sent_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "postback_id": self.postback_id,
            "invoice_uuid": self.invoice_uuid,
            "url": self.url,
            "content_type": self.content_type,
            "body": self.body,
            "copy": self.copy,
            "attempt": self.attempt,
            "status_code": self.status_code,
            "outcome": self.outcome,
            "error": self.error,
            "sent_at": timestamp(self.sent_at),
        }


@dataclass(frozen=True, kw_only=True)
class PostbackHooks:
    """What the dispatcher needs from the world, without importing it."""

    render: Callable[[str, SandboxConfig], PostbackBody]  # invoice uuid → a fresh body
    record: Callable[[Delivery], None]
    now: Callable[[], datetime]


class PostbackDispatcher:
    """Schedules postback deliveries on the loop it is bound to (the running app's loop)."""

    def __init__(self, *, hooks: PostbackHooks) -> None:
        self._hooks = hooks
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending = 0

    @property
    def pending(self) -> int:
        """Postbacks triggered but not finished (including their delays and retries)."""
        return self._pending

    def bind(self, session: aiohttp.ClientSession) -> None:
        """Called on the loop at app start-up."""
        self._loop, self._session = asyncio.get_running_loop(), session

    async def unbind(self) -> None:
        """Called on the loop at shutdown: cancel what is still waiting."""
        with self._lock:
            self._loop, self._session = None, None
        self._cancel_all()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def cancel_pending(self) -> None:
        """Abandon postbacks still waiting or retrying (a world reset); safe from any thread."""
        with self._lock:
            loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing to cancel
                loop.call_soon_threadsafe(self._cancel_all)

    def _cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def submit(self, invoice_uuid: str, config: SandboxConfig) -> int:
        """Trigger one postback for the invoice; safe to call from any thread."""
        postback_id = next(self._ids)
        with self._lock:
            loop = self._loop
            if loop is not None:
                self._pending += 1
        try:
            if loop is None:
                raise RuntimeError("not serving")
            loop.call_soon_threadsafe(self._spawn, postback_id, invoice_uuid, config)
        except RuntimeError:  # no loop, or it closed meanwhile: say so instead of losing it
            self._record(postback_id, invoice_uuid, config, outcome="not_running")
            if loop is not None:
                self._done()
        return postback_id

    def _spawn(self, postback_id: int, invoice_uuid: str, config: SandboxConfig) -> None:
        if self._session is None:  # shut down between submit() and now
            self._record(postback_id, invoice_uuid, config, outcome="not_running")
            self._done()
            return
        task = asyncio.get_running_loop().create_task(
            self._deliver(postback_id, invoice_uuid, config)
        )
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._done()

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1

    async def _deliver(self, postback_id: int, invoice_uuid: str, config: SandboxConfig) -> None:
        if config.delay_seconds:
            await asyncio.sleep(config.delay_seconds)
        if config.drop or config.notify_url is None:
            outcome: Outcome = "dropped" if config.drop else "no_url"
            self._record(postback_id, invoice_uuid, config, outcome=outcome)
            return
        for copy in range(1, config.duplicates + 1):
            for attempt in range(1, config.retries + 2):
                if await self._send_once(postback_id, invoice_uuid, config, copy, attempt):
                    break
                if attempt <= config.retries:
                    await asyncio.sleep(config.retry_backoff_seconds * 2 ** (attempt - 1))

    async def _send_once(
        self, postback_id: int, invoice_uuid: str, config: SandboxConfig, copy: int, attempt: int
    ) -> bool:
        """One HTTP POST; True when the receiver answered 2xx."""
        url, session = config.notify_url, self._session
        assert url is not None and session is not None
        status, error = None, None
        try:
            body = self._hooks.render(invoice_uuid, config)
        except Exception as exc:  # recorded, so a broken render shows up in /control/postbacks
            self._record(
                postback_id, invoice_uuid, config, outcome="error", copy=copy, attempt=attempt,
                error=f"could not build the postback: {type(exc).__name__}: {exc}",
            )  # fmt: skip
            return False
        try:
            async with session.post(
                url,
                data=body.body.encode(),
                headers={"Content-Type": body.content_type},
                timeout=aiohttp.ClientTimeout(total=config.timeout_seconds),
                allow_redirects=False,
            ) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        outcome: Outcome = "delivered" if ok else ("rejected" if status is not None else "error")
        self._record(
            postback_id, invoice_uuid, config, outcome=outcome, body=body, copy=copy,
            attempt=attempt, status_code=status, error=error,
        )  # fmt: skip
        return ok

    def _record(
        self,
        postback_id: int,
        invoice_uuid: str,
        config: SandboxConfig,
        *,
        outcome: Outcome,
        body: PostbackBody | None = None,
        copy: int = 1,
        attempt: int = 1,
        status_code: int | None = None,
        error: str | None = None,
    ) -> None:
        self._hooks.record(
            Delivery(
                postback_id=postback_id,
                invoice_uuid=invoice_uuid,
                url=config.notify_url,
                content_type=body.content_type if body else None,
                body=body.body if body else None,
                copy=copy,
                attempt=attempt,
                status_code=status_code,
                outcome=outcome,
                error=error,
                sent_at=self._hooks.now(),
            )
        )
