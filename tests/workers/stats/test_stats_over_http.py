"""/stats against the Telegram stand-in over HTTP, with its fault switches on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.sandbox.telegram import images, people
from tests.fixtures.sandboxes import TelegramFaults
from tests.workers.harness import Pipeline, make_pipeline, over_http

if TYPE_CHECKING:
    from infra.sandbox.telegram import TelegramSandbox

ADMIN = 100  # the stand-in's channel owner


@pytest.fixture
def live(db_url: str, engine: Any, session_factory: sessionmaker[Session],
         telegram_sandbox: TelegramSandbox, redis_url: str) -> Iterator[Pipeline]:
    """Workers whose Telegram is the stand-in over HTTP; the admin has started the bot."""
    people.send_text(telegram_sandbox.world, user_id=ADMIN, text="/start")
    ctx = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine,
                        admin_ids=str(ADMIN))
    with over_http(ctx, api_base=telegram_sandbox.base_url, redis_url=redis_url) as pipeline:
        yield pipeline


def test_the_chart_and_figures_reach_the_admin_through_flood_and_outage(
    live: Pipeline, telegram_sandbox: TelegramSandbox, telegram_faults: TelegramFaults,
) -> None:
    """A 502 on the photo and a 429 on the figures: the admin still gets each exactly once."""
    telegram_faults.fail("sendPhoto", "server_error", user_id=ADMIN, times=1)
    telegram_faults.fail("sendMessage", "retry_after", user_id=ADMIN, times=1)

    live.send(task_names.ADMIN_STATS, {"actor_id": ADMIN, "text": "/stats",
                                       "request_key": f"{ADMIN}:9"}, None)
    live.drain()

    world = telegram_sandbox.world
    sent = [m for m in world.private_chat(world.default_bot.id, ADMIN).messages if m.from_bot]
    assert [(m.photo is not None, bool(m.text)) for m in sent] == [(True, False), (False, True)]
    assert sent[1].text is not None and sent[1].text.startswith("Stats as of ")
    listed = httpx.get(f"{telegram_sandbox.base_url}/control/messages",
                       params={"chat_id": ADMIN, "direction": "bot_to_user"}).json()["result"]
    chart = httpx.get(f"{telegram_sandbox.base_url}{listed[0]['photo']['url']}").content
    image = images.sniff(chart)
    assert image is not None and image.mime_type == "image/png" and image.fits_a_photo()
    statuses = [c.status for c in world.calls if c.method in ("sendPhoto", "sendMessage")]
    assert statuses == [500, 200, 429, 200]
