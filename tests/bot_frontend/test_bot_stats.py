"""/stats through the real dispatcher: the date is checked in the bot, the report is a task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram.methods import SendMessage, SendPhoto
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from tests.bot_frontend.conftest import ADMIN
from tests.bot_frontend.harness import BotHarness
from tests.workers.harness import make_pipeline
from workers.context import use_context

pytestmark = pytest.mark.anyio
STRANGER = 702


def command(text: str, user: int = ADMIN) -> dict[str, Any]:
    return {"actor_id": user, "text": text, "request_key": f"{user}:1"}


async def test_stats_reaches_the_admin_as_a_chart_and_figures(
        harness: BotHarness, db_url: str, engine: Engine,
        session_factory: sessionmaker[Session]) -> None:
    """/stats queues one task; the worker running it sends the photo and figures to the admin."""
    await harness.send(ADMIN, "/stats")
    assert harness.tasks == [(task_names.ADMIN_STATS, [command("/stats"), None])]
    assert harness.last_reply() == texts.ADMIN_QUEUED

    worker = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine,
                           admin_ids=str(ADMIN))
    with use_context(worker):
        for name, args in harness.tasks:
            worker.send(name, *args)
        worker.drain()
    photo, figures = worker.telegram.calls
    assert isinstance(photo, SendPhoto) and photo.chat_id == ADMIN
    assert isinstance(figures, SendMessage) and figures.chat_id == ADMIN
    assert figures.text.startswith("Stats as of ")


async def test_a_past_day_is_passed_on(harness: BotHarness) -> None:
    """/stats YYYY-MM-DD sends the day as written."""
    await harness.send(ADMIN, "/stats 2026-01-31")
    assert harness.tasks == [(task_names.ADMIN_STATS, [command("/stats 2026-01-31"),
                                                       "2026-01-31"])]


def _tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).date().isoformat()


@pytest.mark.parametrize(("text", "reply"), [
    ("/stats yesterday", texts.stats_not_a_date(word="yesterday")),
    ("/stats 30.11.2026", texts.stats_not_a_date(word="30.11.2026")),
    ("/stats 2026-02-30", texts.stats_invalid_date(word="2026-02-30",
                                                   error="day is out of range for month")),
    ("/stats 2026-13-01", texts.stats_invalid_date(word="2026-13-01",
                                                   error="month must be in 1..12")),
    ("/stats 2026-11-30 2026-12-01", texts.USAGE_STATS),
])
async def test_a_bad_date_gets_a_precise_message_and_no_task(harness: BotHarness, text: str,
                                                             reply: str) -> None:
    """Each way a date can be wrong has its own message; nothing is queued."""
    await harness.send(ADMIN, text)
    assert harness.replies() == [reply]
    assert harness.tasks == []


async def test_a_day_after_today_is_refused(harness: BotHarness) -> None:
    """The history cannot speak for tomorrow: the bot says so and queues nothing."""
    tomorrow = _tomorrow()
    await harness.send(ADMIN, f"/stats {tomorrow}")
    today = datetime.now(UTC).date().isoformat()
    assert harness.replies() == [texts.stats_future_date(word=tomorrow, today=today)]
    assert harness.tasks == []


async def test_a_non_admin_is_refused_and_audited(harness: BotHarness) -> None:
    """A stranger's /stats gets "admins only"; the only task is the refusal's audit row."""
    await harness.send(STRANGER, "/stats")
    assert harness.replies() == [texts.ADMIN_REFUSED]
    assert harness.tasks == [(task_names.ADMIN_AUDIT,
                              [command("/stats", STRANGER), STRANGER, "admin_refused",
                               {"command": "stats", "role": "none", "needs": "manager"}])]
