"""The hosted pay page and the index (pages.py), served as HTML and driven in a real browser."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import httpx
import pytest

from infra.sandbox.cryptocloud import CryptoCloudSandbox
from tests.fixtures.sandboxes import PostbackReceiver

CHROMIUM = "/usr/bin/chromium"
TEST_IDS = (
    "invoice-uuid", "invoice-amount", "invoice-status", "invoice-time-left", "invoice-received",
    "invoice-due", "pay-full", "part-amount", "pay-part", "over-amount", "pay-over", "let-expire",
    "action-result",
)  # fmt: skip


def new_invoice(api: httpx.Client, sandbox: CryptoCloudSandbox) -> dict[str, str]:
    body = {"shop_id": sandbox.config.shop_id, "amount": 25, "order_id": "<b>order</b>"}
    result: dict[str, str] = api.post("/v2/invoice/create", json=body).json()["result"]
    return result


def test_pay_page_is_served_at_the_link(
    cryptocloud_api: httpx.Client, cryptocloud_sandbox: CryptoCloudSandbox
) -> None:
    """The invoice's link serves an HTML page with every stable data-testid, escaped text,
    and its script and stylesheet from the stand-in itself (no CDN)."""
    invoice = new_invoice(cryptocloud_api, cryptocloud_sandbox)
    page = httpx.get(invoice["link"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for test_id in TEST_IDS:
        assert f'data-testid="{test_id}"' in page.text, test_id
    assert "25.00 USD" in page.text and invoice["uuid"] in page.text
    assert "&lt;b&gt;order&lt;/b&gt;" in page.text and "<b>order</b>" not in page.text
    assert "http" not in page.text.split("<body", 1)[1].replace(invoice["uuid"], "")
    for asset in ("/_sandbox/pay.js", "/_sandbox/style.css"):
        assert httpx.get(cryptocloud_sandbox.base_url + asset).status_code == 200


def test_unknown_pages_are_404(cryptocloud_sandbox: CryptoCloudSandbox) -> None:
    """An unknown invoice code or asset answers 404."""
    base = cryptocloud_sandbox.base_url
    assert httpx.get(f"{base}/ZZZZ9999").status_code == 404
    assert httpx.get(f"{base}/_sandbox/secret.txt").status_code == 404


def test_index_lists_invoices_with_links(
    cryptocloud_api: httpx.Client, cryptocloud_sandbox: CryptoCloudSandbox
) -> None:
    """`/` lists invoices with links to their pay pages, for a person exploring the sandbox."""
    invoice = new_invoice(cryptocloud_api, cryptocloud_sandbox)
    index = httpx.get(cryptocloud_sandbox.base_url + "/")
    assert index.status_code == 200
    assert f"href='/{invoice['uuid'][4:]}'" in index.text and "created" in index.text


@pytest.fixture
def chromium_path() -> str:
    """Debian's chromium; missing fails the run under CI and skips it elsewhere."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        message = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM if os.path.exists(CHROMIUM) else str(shutil.which("chromium"))


@pytest.mark.browser
def test_a_person_pays_in_full_in_the_browser(
    cryptocloud_api: httpx.Client,
    cryptocloud_sandbox: CryptoCloudSandbox,
    postback_receiver: PostbackReceiver,
    chromium_path: str,
    pytestconfig: pytest.Config,
) -> None:
    """Clicking "Pay in full" on the pay page turns the invoice paid on the page and in the
    API, and the postback reaches the notification URL."""
    from playwright.sync_api import expect, sync_playwright

    cryptocloud_sandbox.configure(notify_url=postback_receiver.url)
    invoice = new_invoice(cryptocloud_api, cryptocloud_sandbox)
    screenshot = Path(pytestconfig.rootpath) / "test-artifacts" / "cryptocloud-pay-page.png"
    screenshot.parent.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
            ],
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 560, "height": 860})
            page.goto(invoice["link"])
            status = page.get_by_test_id("invoice-status")
            expect(status).to_have_text("created")
            expect(page.get_by_test_id("invoice-time-left")).to_have_text(re.compile(r"^2[34]:\d\d:\d\d$"))
            page.get_by_test_id("part-amount").fill("5")
            page.get_by_test_id("pay-part").click()
            expect(status).to_have_text("partial")
            expect(page.get_by_test_id("invoice-due")).to_have_text("20.00")
            page.get_by_test_id("pay-full").click()
            expect(status).to_have_text("paid")
            expect(page.get_by_test_id("action-result")).to_contain_text("paid")
            expect(page.get_by_test_id("pay-full")).to_be_disabled()
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    [postback] = postback_receiver.wait_for(1)
    assert postback.form()["invoice_id"] == invoice["uuid"][4:]
    assert cryptocloud_sandbox.invoice(invoice["uuid"]).status == "paid"
