"""The stand-in's page (infra/sandbox/telegram/static/), driven in headless Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from infra.sandbox.telegram import TelegramSandbox

ROOT = Path(__file__).resolve().parents[4]
SCREENSHOT = ROOT / "test-artifacts" / "telegram-sandbox.png"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def _chromium() -> str:
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required on CI (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


@pytest.mark.browser
def test_a_person_talks_to_the_bot_and_presses_a_button(
    telegram_sandbox: TelegramSandbox,
) -> None:
    """Create a user, send /start, see the bot's keyboard, press it: the bot gets the callback."""
    executable = _chromium()
    from playwright.sync_api import expect, sync_playwright

    api = httpx.Client(base_url=f"{telegram_sandbox.base_url}/bot{telegram_sandbox.token}")
    with api, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 760})
            page.goto(telegram_sandbox.base_url + "/")
            page.get_by_test_id("new-user-name").fill("Ann")
            page.get_by_test_id("new-user-username").fill("ann_buyer")
            page.get_by_test_id("new-user-language").fill("ru-RU")
            page.get_by_test_id("create-user").click()
            expect(page.get_by_test_id("chat-header")).to_contain_text("as Ann")
            page.get_by_test_id("message-input").fill("/start")
            page.get_by_test_id("send-button").click()
            expect(page.locator('[data-direction="user_to_bot"]')).to_contain_text("/start")

            (update,) = api.post("/getUpdates").json()["result"]
            user_id = update["message"]["from"]["id"]
            assert update["message"]["text"] == "/start"
            assert update["message"]["from"]["language_code"] == "ru-RU"
            link = api.post("/createChatInviteLink",
                            data={"chat_id": telegram_sandbox.world.channel_id}).json()["result"]
            keyboard = {"inline_keyboard": [
                [{"text": "Pay 10 USD", "callback_data": "pay:month"}],
                [{"text": "Open the channel", "url": link["invite_link"]}],
            ]}
            api.post("/sendMessage", json={
                "chat_id": user_id, "parse_mode": "HTML", "reply_markup": keyboard,
                "text": "<b>Welcome!</b> One month of the private channel costs 10 USD.",
            }).raise_for_status()

            button = page.locator('[data-testid="inline-button"][data-callback-data="pay:month"]')
            expect(button).to_be_visible(timeout=5000)
            expect(page.locator('[data-direction="bot_to_user"] strong')).to_have_text("Welcome!")
            button.click()
            offset = update["update_id"] + 1
            updates = api.post("/getUpdates", data={"offset": offset, "timeout": 5}).json()
            (pressed,) = updates["result"]
            query = pressed["callback_query"]
            assert (query["data"], query["from"]["id"]) == ("pay:month", user_id)
            api.post("/answerCallbackQuery", data={
                "callback_query_id": query["id"], "text": "Invoice on its way",
            }).raise_for_status()
            answer = page.get_by_test_id("toast").filter(has_text="Invoice on its way")
            expect(answer).to_be_visible()

            page.locator('[data-testid="invite-link"]').first.click()
            member = page.locator(f'[data-testid="member"][data-user-id="{user_id}"]')
            expect(member).to_have_attribute("data-status", "member", timeout=5000)
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()

