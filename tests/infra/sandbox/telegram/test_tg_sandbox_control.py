"""The control API of the stand-in (control.py, control_views.py, people.py) over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from tg_sandbox_support import bot_on

from infra.sandbox.telegram import TelegramSandbox
from infra.settings import SANDBOX_ADMIN_ID, SANDBOX_CHANNEL_ID


@pytest.fixture
def control(telegram_sandbox: TelegramSandbox) -> Iterator[httpx.Client]:
    """An HTTP client on the stand-in's base URL."""
    with httpx.Client(base_url=telegram_sandbox.base_url, timeout=5) as client:
        yield client


def result(response: httpx.Response) -> object:
    body = response.json()
    assert body["ok"], body
    return body["result"]


def error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert not body["ok"], body
    return response.status_code, body["error"]


def test_users_are_created_updated_and_listed(control: httpx.Client) -> None:
    """New users get fresh ids; posting an existing id updates it; the admin is listed."""
    ann = result(control.post("/control/users", json={"first_name": "Ann"}))
    assert isinstance(ann, dict) and ann["id"] > 1_000_000 and ann["started"] is False
    result(control.post("/control/users", json={"id": ann["id"], "first_name": "Anna",
                                                "username": "anna"}))
    users = result(control.get("/control/users"))
    assert isinstance(users, list)
    assert {(u["id"], u["first_name"], u["is_admin"]) for u in users} == {
        (SANDBOX_ADMIN_ID, "Admin", True), (ann["id"], "Anna", False),
    }
    assert error(control.post("/control/users", json={"first_name": " "}))[0] == 400
    assert error(control.post("/control/users", json={"id": "x", "first_name": "A"}))[0] == 400


def test_a_command_becomes_a_message_update(
    control: httpx.Client, telegram_sandbox: TelegramSandbox,
) -> None:
    """"/start ref_42" reaches getUpdates as a message with a bot_command entity."""
    result(control.post("/control/users", json={"id": 5, "first_name": "Ann"}))
    sent = result(control.post("/control/users/5/messages", json={"text": "/start ref_42"}))
    assert isinstance(sent, dict) and sent["direction"] == "user_to_bot"

    async def scenario() -> None:
        async with bot_on(telegram_sandbox) as bot:
            (update,) = await bot.get_updates()
            assert update.message is not None and update.message.text == "/start ref_42"
            assert update.message.entities is not None
            entity = update.message.entities[0]
            assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 6)
            assert update.message.from_user is not None and update.message.from_user.id == 5

    asyncio.run(scenario())
    assert error(control.post("/control/users/404/messages", json={"text": "hi"}))[0] == 404


def test_the_private_chat_shows_both_directions(
    control: httpx.Client, telegram_sandbox: TelegramSandbox,
) -> None:
    """The chat view lists the user's and the bot's messages with keyboards and documents."""
    result(control.post("/control/users", json={"id": 5, "first_name": "Ann"}))
    result(control.post("/control/users/5/messages", json={"text": "/start"}))
    url = f"/bot{telegram_sandbox.token}/sendMessage"
    markup = '{"inline_keyboard": [[{"text": "Join", "url": "https://t.me/+abc"}]]}'
    control.post(url, data={"chat_id": "5", "text": "Welcome", "reply_markup": markup})
    chat = result(control.get("/control/users/5/chat"))
    assert isinstance(chat, dict)
    assert [(m["direction"], m["text"]) for m in chat["messages"]] == [
        ("user_to_bot", "/start"), ("bot_to_user", "Welcome"),
    ]
    assert chat["messages"][1]["reply_markup"]["inline_keyboard"][0][0]["url"] == (
        "https://t.me/+abc"
    )
    assert chat["user"]["started"] is True
    sent = result(control.get("/control/messages", params={"direction": "bot_to_user"}))
    assert isinstance(sent, list) and [m["chat_id"] for m in sent] == [5]


def test_pressing_buttons_is_checked_against_the_message(
    control: httpx.Client, telegram_sandbox: TelegramSandbox,
) -> None:
    """Only buttons that exist on a bot message can be pressed."""
    result(control.post("/control/users", json={"id": 5, "first_name": "Ann"}))
    result(control.post("/control/users/5/messages", json={"text": "/start"}))
    markup = '{"inline_keyboard": [[{"text": "Pay", "callback_data": "pay:month"}]]}'
    control.post(f"/bot{telegram_sandbox.token}/sendMessage",
                 data={"chat_id": "5", "text": "Plans", "reply_markup": markup})
    pressed = result(control.post("/control/users/5/callbacks",
                                  json={"message_id": 2, "data": "pay:month"}))
    assert isinstance(pressed, dict) and pressed["answered"] is False
    assert error(control.post("/control/users/5/callbacks",
                              json={"message_id": 2, "data": "nope"}))[0] == 404
    assert error(control.post("/control/users/5/callbacks",
                              json={"message_id": 1, "data": "pay:month"}))[0] == 404


def test_joining_leaving_and_the_channel_view(
    control: httpx.Client, telegram_sandbox: TelegramSandbox,
) -> None:
    """Opening links joins or files a request; the channel view shows members and requests."""
    for user_id in (5, 6):
        result(control.post("/control/users", json={"id": user_id, "first_name": f"U{user_id}"}))
    base = f"/bot{telegram_sandbox.token}/createChatInviteLink"
    open_link = control.post(base, data={"chat_id": SANDBOX_CHANNEL_ID}).json()["result"]
    approval = control.post(base, data={"chat_id": SANDBOX_CHANNEL_ID,
                                        "creates_join_request": "true"}).json()["result"]
    joined = result(control.post("/control/users/5/join",
                                 json={"invite_link": open_link["invite_link"]}))
    assert joined == {"outcome": "joined", "channel_status": "member"}
    requested = result(control.post("/control/users/6/join",
                                    json={"invite_link": approval["invite_link"]}))
    assert requested == {"outcome": "requested", "channel_status": "left"}
    assert error(control.post("/control/users/6/join",
                              json={"invite_link": approval["invite_link"]}))[0] == 409
    assert error(control.post("/control/users/6/join",
                              json={"invite_link": "https://t.me/+nope"}))[0] == 404
    channel = result(control.get("/control/channel"))
    assert isinstance(channel, dict)
    assert {(m["user"]["id"], m["status"]) for m in channel["members"]} >= {(5, "member")}
    assert [r["user"]["id"] for r in channel["join_requests"]] == [6]
    links = {link["invite_link"]: link for link in channel["invite_links"]}
    assert links[open_link["invite_link"]]["current_members"] == 1
    assert links[approval["invite_link"]]["pending_join_request_count"] == 1
    assert result(control.post("/control/users/5/leave")) == {"channel_status": "left"}
    assert error(control.post("/control/users/5/leave"))[0] == 409


def test_blocking_toggles_and_is_reported(control: httpx.Client) -> None:
    """block/unblock flip the user's flag; writing to a blocked bot unblocks it (Restart)."""
    result(control.post("/control/users", json={"id": 5, "first_name": "Ann"}))
    blocked = result(control.post("/control/users/5/block"))
    assert isinstance(blocked, dict) and blocked["blocked"] is True
    result(control.post("/control/users/5/messages", json={"text": "/start"}))
    chat = result(control.get("/control/users/5/chat"))
    assert isinstance(chat, dict) and chat["user"]["blocked"] is False


def test_call_log_filters(control: httpx.Client, telegram_sandbox: TelegramSandbox) -> None:
    """The call log can be filtered by method (any case), by id and limited to the newest."""
    for _ in range(3):
        control.post(f"/bot{telegram_sandbox.token}/getMe")
    control.post(f"/bot{telegram_sandbox.token}/getWebhookInfo")
    calls = result(control.get("/control/calls", params={"method": "GETME"}))
    assert isinstance(calls, list) and len(calls) == 3
    newest = result(control.get("/control/calls", params={"limit": 1}))
    assert isinstance(newest, list) and newest[0]["method"] == "getWebhookInfo"
    later = result(control.get("/control/calls", params={"after_id": calls[-1]["id"]}))
    assert isinstance(later, list) and [c["method"] for c in later] == ["getWebhookInfo"]


def test_reset_forgets_everything_but_keeps_update_ids_growing(
    control: httpx.Client, telegram_sandbox: TelegramSandbox,
) -> None:
    """A reset makes a fresh world, but update ids continue so a poller's offset stays valid."""
    result(control.post("/control/users", json={"id": 5, "first_name": "Ann"}))
    result(control.post("/control/users/5/messages", json={"text": "hi"}))
    result(control.post("/control/faults", json={"fail_next": 3}))
    result(control.post("/control/reset"))
    users = result(control.get("/control/users"))
    assert isinstance(users, list) and [u["id"] for u in users] == [SANDBOX_ADMIN_ID]
    assert result(control.get("/control/faults")) == []
    result(control.post("/control/users", json={"id": 5, "first_name": "Ann"}))
    result(control.post("/control/users/5/messages", json={"text": "again"}))
    updates = telegram_sandbox.world.default_bot.updates.peek(10)
    assert [u["update_id"] for u in updates] == [2]


def test_flood_settings_and_bot_rights_are_validated(control: httpx.Client) -> None:
    """Flood limits and bot rights take only known fields of the right type."""
    flood = result(control.post("/control/flood", json={"enabled": True, "per_chat_burst": 5}))
    assert flood == {"enabled": True, "global_per_second": 30.0, "per_chat_per_second": 1.0,
                     "per_chat_burst": 5, "group_per_minute": 20.0}
    assert error(control.post("/control/flood", json={"enabled": "yes"}))[0] == 400
    assert error(control.post("/control/flood", json={"burst": 5}))[0] == 400
    assert error(control.post("/control/channel/bot-rights", json={"can_fly": True}))[0] == 400
    rights = result(control.post("/control/channel/bot-rights", json={"can_invite_users": False}))
    assert isinstance(rights, dict) and rights["can_invite_users"] is False
    assert error(control.post("/control/users", content=b"[1]",
                              headers={"Content-Type": "application/json"})) == (
        400, "the body must be a JSON object",
    )


def test_the_page_tells_never_joined_from_left(
    control: httpx.Client, telegram_sandbox: TelegramSandbox,
) -> None:
    """Telegram says "left" for both; the page's words say "not joined" until the person was in."""
    result(control.post("/control/users", json={"id": 5, "first_name": "Ann"}))

    def standing() -> tuple[str, str]:
        users = result(control.get("/control/users"))
        assert isinstance(users, list)
        ann = next(u for u in users if u["id"] == 5)
        return ann["channel_status"], ann["channel_standing"]

    assert standing() == ("left", "not joined")
    base = f"/bot{telegram_sandbox.token}/createChatInviteLink"
    link = control.post(base, data={"chat_id": SANDBOX_CHANNEL_ID}).json()["result"]
    result(control.post("/control/users/5/join", json={"invite_link": link["invite_link"]}))
    assert standing() == ("member", "in the channel")
    result(control.post("/control/users/5/leave"))
    assert standing() == ("left", "left the channel")
