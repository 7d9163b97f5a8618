"""A bundle through the sandbox page: `make run`'s vip plan opens the channel and the group.

A person (headless Chromium) buys "VIP bundle" on the Telegram stand-in's page, pays on the
CryptoCloud pay page, gets one invite per chat, joins both, and /myplan lists both chats.
"""

from __future__ import annotations

import pytest

from infra import texts
from infra.settings import SANDBOX_BUNDLE_CHAT_ID, SANDBOX_BUNDLE_CHAT_TITLE
from tests.e2e.test_browser_journey import CHROMIUM, WAIT_MS, system
from tests.fixtures.make_run import RunningSystem

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SUBSCRIBER = 5002
__all__ = ["system"]  # the fixture: `python -m infra.run` on free ports, stopped cleanly


def test_a_bundle_bought_on_the_page_opens_both_chats(system: RunningSystem) -> None:
    """One payment, one invite per chat, both joined; /myplan shows each chat."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page()
        try:
            page.goto(system.telegram + "/")
            page.get_by_test_id("new-user-name").fill("Bea")
            page.get_by_test_id("new-user-id").fill(str(SUBSCRIBER))
            page.get_by_test_id("create-user").click()

            def send(text: str) -> None:
                page.get_by_test_id("message-input").fill(text)
                page.get_by_test_id("send-button").click()

            def says(text: str) -> None:
                expect(page.get_by_test_id("messages").get_by_text(text).last).to_be_visible(
                    timeout=WAIT_MS)

            send("/start")
            page.get_by_test_id("inline-button").filter(has_text="ccept").last.click(
                timeout=WAIT_MS)
            says("You accepted these terms")
            page.get_by_test_id("inline-button").filter(has_text="VIP bundle").last.click()
            pay_button = page.get_by_test_id("url-button").last
            expect(pay_button).to_be_visible(timeout=WAIT_MS)
            with page.expect_popup() as popup:
                pay_button.click()
            pay_page = popup.value
            pay_page.get_by_test_id("pay-full").click()
            says("Payment received")
            invites = page.get_by_test_id("message").filter(has_text="personal invite link")
            expect(invites).to_have_count(2, timeout=WAIT_MS)
            pay_page.close()
            for index in range(2):
                invites.nth(index).get_by_test_id("invite-link").first.click()
            whoami = page.get_by_test_id("whoami")
            expect(whoami).to_contain_text("in the channel", timeout=WAIT_MS)
            expect(whoami).to_contain_text(f"{SANDBOX_BUNDLE_CHAT_TITLE}: member",
                                           timeout=WAIT_MS)

            send("/myplan")
            says(texts.chat_name(chat_id=SANDBOX_BUNDLE_CHAT_ID, main=False))
            buttons = page.get_by_test_id("inline-button").filter(has_text="Send my invite again")
            expect(buttons).to_have_count(2, timeout=WAIT_MS)
        finally:
            browser.close()
