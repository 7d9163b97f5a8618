"""The stand-in's drift control: the owner changes someone's standing by hand (no bot involved),
and getChatMember, parsed by aiogram, reports it in Telegram's own shapes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from aiogram.types import ChatMemberAdministrator, ChatMemberBanned, ChatMemberLeft
from tg_sandbox_support import bot_on

from infra.sandbox.telegram import TelegramSandbox
from infra.settings import SANDBOX_ADMIN_ID, SANDBOX_CHANNEL_ID
from infra.telegram import member_status

ANN = 5


@pytest.fixture
def control(telegram_sandbox: TelegramSandbox) -> Iterator[httpx.Client]:
    """An HTTP client on the stand-in's base URL, with Ann created."""
    with httpx.Client(base_url=telegram_sandbox.base_url, timeout=5) as client:
        assert client.post("/control/users", json={"id": ANN, "first_name": "Ann"}).is_success
        yield client


def standing(control: httpx.Client, user_id: int, status: str) -> httpx.Response:
    return control.post(f"/control/users/{user_id}/standing", json={"status": status})


def test_standings_set_by_hand_are_what_get_chat_member_reports(
    control: httpx.Client, telegram_sandbox: TelegramSandbox,
) -> None:
    """Added, promoted, banned, dropped: each reads back through aiogram as Telegram shapes it."""
    seen: list[object] = []

    async def ask() -> None:
        async with bot_on(telegram_sandbox) as bot:
            seen.append(await bot.get_chat_member(SANDBOX_CHANNEL_ID, ANN))

    for status in ("member", "administrator", "kicked", "left"):
        answer = standing(control, ANN, status)
        assert answer.json()["result"] == {"channel_status": status}
        asyncio.run(ask())
    assert [member_status(m) for m in seen] == [  # type: ignore[arg-type]
        "member", "administrator", "kicked", "left"]
    assert isinstance(seen[1], ChatMemberAdministrator) and seen[1].can_manage_chat
    assert not seen[1].can_restrict_members
    assert isinstance(seen[2], ChatMemberBanned) and isinstance(seen[3], ChatMemberLeft)


def test_the_owner_and_nonsense_are_refused(control: httpx.Client) -> None:
    """The owner's own standing, an unknown status, someone unknown, an unknown channel."""
    assert standing(control, SANDBOX_ADMIN_ID, "left").status_code == 409
    assert standing(control, ANN, "restricted").status_code == 400
    assert standing(control, 404, "member").status_code == 404
    missing = control.post(f"/control/users/{ANN}/standing",
                           json={"status": "member", "chat_id": -1009})
    assert missing.status_code == 404
