"""/audit through the dispatcher: each form sends its task, anything else gets the usage."""

from __future__ import annotations

from typing import Any

import pytest

from infra import task_names, texts
from tests.bot_frontend.conftest import ADMIN
from tests.bot_frontend.harness import BotHarness

pytestmark = pytest.mark.anyio


def command(text: str) -> dict[str, Any]:
    return {"actor_id": ADMIN, "text": text, "request_key": f"{ADMIN}:1"}


async def test_audit_starts_a_run(harness: BotHarness) -> None:
    """/audit sends audits.start with the admin's command and says it is queued."""
    await harness.send(ADMIN, "/audit")
    assert harness.tasks == [(task_names.AUDIT_START, [command("/audit")])]
    assert harness.last_reply() == texts.ADMIN_QUEUED


@pytest.mark.parametrize(("text", "confirm"), [("/audit fix", False),
                                               ("/audit  fix   confirm", True)])
async def test_audit_fix_sends_the_fix(harness: BotHarness, text: str, confirm: bool) -> None:
    """/audit fix asks for the fix behind the breaker; with confirm, past it."""
    await harness.send(ADMIN, text)
    assert harness.tasks == [(task_names.AUDIT_FIX, [command(text), confirm])]


@pytest.mark.parametrize("text", ["/audit now", "/audit fix now", "/audit confirm",
                                  "/audit fix confirm please"])
async def test_audit_with_other_words_gets_the_usage(harness: BotHarness, text: str) -> None:
    """Anything but the three forms is answered with the usage, and nothing is sent."""
    await harness.send(ADMIN, text)
    assert harness.tasks == []
    assert harness.last_reply() == texts.USAGE_AUDIT
