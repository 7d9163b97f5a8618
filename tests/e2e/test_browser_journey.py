"""The whole story through the sandbox page, with the system started the way `make run` does.

A person (headless Chromium) plays the subscriber and the admin on the Telegram stand-in's page:
/start → accept → plan → pay on the CryptoCloud pay page → invite → join request approved →
/myplan; then the admin's `/edit … setdays 0` and the page's "run the expiry sweep now" button;
the subscriber is removed and told; renews; is back in. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.make_run import RunningSystem, free_ports
from tests.fixtures.processes import ROOT, child_env
from tests.fixtures.secrets import SANDBOX_SECRETS, assert_no_secrets
from tests.fixtures.services import unavailable

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
SUBSCRIBER, ADMIN = 5001, 100
WAIT_MS = 40_000


@pytest.fixture
def system(tmp_path: Path) -> Iterator[RunningSystem]:
    """`python -m infra.run` on free ports with its data in tmp; Ctrl-C must end it cleanly."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        unavailable("Debian's chromium is not installed (apt-get install chromium)")
    env = child_env(DATABASE_URL=f"sqlite:///{tmp_path / 'app.db'}",
                    EMBEDDED_REDIS_DIR=str(tmp_path / "redis"),
                    FLOWER_BASIC_AUTH="admin:browser-test", LOG_FORMAT="console", **free_ports())
    running = RunningSystem([sys.executable, "-m", "infra.run"], cwd=ROOT, env=env,
                            log_path=tmp_path / "run.log").start()
    try:
        yield running
    finally:
        code = running.stop()
    # Stopping on purpose looks like success: status 0, no process's traceback, nothing left.
    assert code == 0, running.log()[-4000:]
    assert "Traceback" not in running.log(), running.log()[-4000:]
    running.assert_nothing_left()
    # Every process's output, banner included: no configured or generated secret in it.
    redis_password = (tmp_path / "redis" / "password").read_text()
    assert_no_secrets(running.log(), running.env, generated=[redis_password, *SANDBOX_SECRETS])


# Cut off: an element sticking out of the viewport sideways (the page may scroll down), or a
# box hiding part of its content behind its own scrollbar (only the message list may scroll;
# a name shortened with an ellipsis says so itself).
_CUT_OFF = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (!box.width || !box.height || style.visibility === "hidden") continue;
    const name = `${el.tagName.toLowerCase()}.${el.className} ${el.dataset.testid || ""}`;
    if (box.left < -1 || box.right > width + 1) {
      out.push(`${name} spans ${Math.round(box.left)}..${Math.round(box.right)} of ${width}`);
    }
    const clips = /(auto|scroll|hidden)/.test(style.overflowY + style.overflowX);
    const exempt = el.dataset.testid === "messages" || style.textOverflow === "ellipsis"
      || ["INPUT", "SELECT"].includes(el.tagName);
    if (clips && !exempt
        && (el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1)) {
      out.push(`${name} shows ${el.clientHeight}px of ${el.scrollHeight}px`);
    }
  }
  return out.slice(0, 10);
}"""

VIEWPORTS = {"desktop": {"width": 1400, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_a_person_plays_the_whole_story_in_the_browser(system: RunningSystem,
                                                        viewport: str) -> None:
    """Subscribe, join, get removed by the sweep after the admin's setdays 0, renew, rejoin;
    on a desktop and at a phone's width, with no element cut off at the viewport's edges."""
    from playwright.sync_api import Page, expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)

    def nothing_cut_off(page: Page) -> None:
        assert page.evaluate(_CUT_OFF) == [], f"cut off at {viewport}"

    def bot_says(page: Page, text: str) -> None:
        expect(page.get_by_test_id("messages").get_by_text(text).last).to_be_visible(
            timeout=WAIT_MS)

    def play_as(page: Page, user_id: int) -> None:
        page.get_by_test_id("user-select").select_option(str(user_id))

    def send(page: Page, text: str) -> None:
        page.get_by_test_id("message-input").fill(text)
        page.get_by_test_id("send-button").click()

    def member(page: Page, user_id: int):  # type: ignore[no-untyped-def]
        return page.locator(f'[data-testid="member"][data-user-id="{user_id}"]')

    def next_of(page: Page, test_id: str, action: Callable[[], None]):  # type: ignore[no-untyped-def]
        """Do `action`, then wait for one more element with `test_id` than before; return it."""
        elements = page.get_by_test_id(test_id)
        before = elements.count()
        action()
        expect(elements).to_have_count(before + 1, timeout=WAIT_MS)
        return elements.last

    def buy_and_join(page: Page) -> None:
        month = page.get_by_test_id("inline-button").filter(has_text="1 month").last
        pay_button = next_of(page, "url-button", month.click)
        with page.expect_popup() as popup:
            pay_button.click()
        pay_page = popup.value
        back = pay_page.get_by_test_id("back-to-chat")
        expect(back).to_have_attribute("href", system.telegram + "/")
        pay_page.get_by_test_id("pay-full").click()
        expect(pay_page.get_by_test_id("invoice-status")).to_contain_text("paid", timeout=WAIT_MS)
        bot_says(page, "Payment received")
        invites = page.get_by_test_id("message").filter(has_text="personal invite link")
        expect(invites).to_have_count(invites_seen[0] + 1, timeout=WAIT_MS)
        invites_seen[0] += 1
        pay_page.close()
        invites.last.get_by_test_id("invite-link").first.click()
        expect(member(page, SUBSCRIBER)).to_have_attribute("data-status", "member",
                                                           timeout=WAIT_MS)

    invites_seen = [0]  # invite messages in Ann's chat so far

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        page = browser.new_page(viewport=VIEWPORTS[viewport])  # type: ignore[arg-type]
        try:
            page.goto(system.telegram + "/")
            # The subscriber arrives, reads the terms, accepts, buys a month and joins.
            page.get_by_test_id("new-user-name").fill("Ann")
            page.get_by_test_id("new-user-id").fill(str(SUBSCRIBER))
            page.get_by_test_id("create-user").click()
            send(page, "/start")
            expect(page.get_by_test_id("whoami")).to_contain_text("not joined", timeout=WAIT_MS)
            page.get_by_test_id("inline-button").filter(has_text="ccept").last.click(
                timeout=WAIT_MS)
            bot_says(page, "You accepted these terms")
            buy_and_join(page)
            send(page, "/myplan")
            bot_says(page, "days left")
            nothing_cut_off(page)
            page.screenshot(path=str(ARTIFACTS / f"journey-1-subscribed-{viewport}.png"),
                            full_page=True)

            # The admin ends Ann's time and runs the sweep from the page's operator panel.
            play_as(page, ADMIN)
            send(page, f"/edit {SUBSCRIBER} setdays 0")
            bot_says(page, str(SUBSCRIBER))
            page.get_by_test_id("operator-action-0").click()
            expect(member(page, SUBSCRIBER)).to_have_count(0, timeout=WAIT_MS)
            expect(page.get_by_test_id("operator-output")).to_contain_text(
                "removed 1 subscriber from the channel", timeout=WAIT_MS)
            nothing_cut_off(page)
            page.screenshot(path=str(ARTIFACTS / f"journey-2-swept-{viewport}.png"),
                            full_page=True)

            # Ann is told, renews from the message's button, pays again and is back in.
            play_as(page, SUBSCRIBER)
            renew = page.get_by_test_id("inline-button").filter(has_text="enew").last
            expect(renew).to_be_visible(timeout=WAIT_MS)
            renew.click()
            buy_and_join(page)
            nothing_cut_off(page)
            page.screenshot(path=str(ARTIFACTS / f"journey-3-renewed-{viewport}.png"),
                            full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / f"journey-failure-{viewport}.png"),
                            full_page=True)
            raise
        finally:
            browser.close()
