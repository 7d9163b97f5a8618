"""What the pay page does for the shop beyond CryptoCloud: a way back to the chat, and a nudge.

CryptoCloud sends no postback for a part payment; the shop learns of it at its next poll (up to
a minute under `make run`). In the sandbox a person should not wait for that, so `make run`
gives the stand-in a command (`python -m infra.ops run poll`) that runs right after a part
payment. `--chat-url` puts a "Back to the chat" link on every pay page.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from infra.sandbox.cryptocloud.invoices import Invoice, InvoiceStatus

CHAT_URL = web.AppKey("chat_url", str)
ON_PARTIAL: web.AppKey[tuple[str, ...]] = web.AppKey("on_partial")
_RUNNING: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("on_partial_running")
NUDGE_TIMEOUT_SECONDS = 60


def configure(app: web.Application, *, chat_url: str | None,
              on_partial: tuple[str, ...] | None) -> None:
    app[CHAT_URL] = chat_url or ""
    app[ON_PARTIAL] = on_partial or ()
    app[_RUNNING] = set()
    app.on_shutdown.append(_finish_nudges)


def after_payment(app: web.Application, invoice: Invoice) -> None:
    """A part payment starts the configured command in the background (the payer's page
    answers at once; the bot's message about the remainder follows)."""
    if invoice.status is InvoiceStatus.PARTIAL and app[ON_PARTIAL]:
        task = asyncio.get_running_loop().create_task(_run(app[ON_PARTIAL]))
        app[_RUNNING].add(task)
        task.add_done_callback(app[_RUNNING].discard)


async def _run(command: tuple[str, ...]) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.wait_for(process.wait(), NUDGE_TIMEOUT_SECONDS)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def _finish_nudges(app: web.Application) -> None:
    tasks = app[_RUNNING]
    running = list(tasks)
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
