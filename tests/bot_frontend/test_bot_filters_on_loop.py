"""Every filter and handler of the bot runs on the event loop, none through a thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiogram import Router
from aiogram.dispatcher.event.handler import CallableObject

from tests.bot_frontend.harness import BotHarness

pytestmark = pytest.mark.anyio


def _routers(router: Router) -> Iterator[Router]:
    yield router
    for sub in router.sub_routers:
        yield from _routers(sub)


def _callables(router: Router) -> Iterator[tuple[str, CallableObject]]:
    for event, observer in router.observers.items():
        for handler in observer.handlers:
            yield f"{router.name}.{event} {handler.callback.__name__}", handler
            for check in handler.filters or ():
                yield f"{router.name}.{event} {handler.callback.__name__} filter {check}", check


async def test_no_filter_or_handler_is_run_in_a_thread(harness: BotHarness) -> None:
    """aiogram runs a plain callable (a bare magic filter like `F.text`) via asyncio.to_thread:
    a thread hop for every update that reaches it. The bot's filters are awaitable Filters
    (`MagicData(F.event...)`) and its handlers coroutines, so none pays that hop."""
    in_threads = [where for router in _routers(harness.dp)
                  for where, callable_ in _callables(router) if not callable_.awaitable]
    assert in_threads == []
