"""The pay page's courtesies to a person (shop.py): a link back to the chat, and the shop's
poll nudged right after a part payment instead of up to a minute later."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from infra.sandbox.cryptocloud import CryptoCloudSandbox
from infra.sandbox.cryptocloud.config import SandboxConfig
from tests.fixtures.waiting import eventually


def _invoice(sandbox: CryptoCloudSandbox) -> dict[str, str]:
    with httpx.Client(base_url=sandbox.base_url, timeout=5,
                      headers={"Authorization": f"Token {sandbox.config.api_key}"}) as api:
        body = {"shop_id": sandbox.config.shop_id, "amount": 10}
        result: dict[str, str] = api.post("/v2/invoice/create", json=body).json()["result"]
    return result


def test_the_pay_page_links_back_to_the_chat() -> None:
    """With --chat-url every pay page carries "Back to the chat"; without it, no link."""
    with CryptoCloudSandbox(config=SandboxConfig(notify_url=None),
                            chat_url="http://127.0.0.1:8081/") as sandbox:
        page = httpx.get(_invoice(sandbox)["link"], timeout=5).text
    assert 'data-testid="back-to-chat" href="http://127.0.0.1:8081/"' in page
    with CryptoCloudSandbox(config=SandboxConfig(notify_url=None)) as sandbox:
        page = httpx.get(_invoice(sandbox)["link"], timeout=5).text
    assert "back-to-chat" not in page and "$back" not in page


def test_a_part_payment_runs_the_on_partial_command_and_a_full_one_does_not(
    tmp_path: Path,
) -> None:
    """Paying part starts the command (the shop's poll); paying in full leaves it to the
    postback, so the command does not run again."""
    marker = tmp_path / "polled"
    script = f"open({str(marker)!r}, 'a').write('poll\\n')"
    with CryptoCloudSandbox(config=SandboxConfig(notify_url=None),
                            on_partial=(sys.executable, "-c", script)) as sandbox:
        uuid = _invoice(sandbox)["uuid"]
        control = f"{sandbox.base_url}/control/invoices/{uuid}/pay"
        assert httpx.post(control, json={"mode": "part", "amount": "4"}, timeout=5).is_success
        eventually(marker.exists, timeout=20, what="the on-partial command")
        assert httpx.post(control, json={"mode": "full"}, timeout=5).is_success
        with httpx.Client(timeout=5) as client:
            eventually(lambda: client.get(f"{sandbox.base_url}/control/invoices/{uuid}")
                       .json()["status"] == "paid", timeout=5, what="the invoice paid")
    assert marker.read_text() == "poll\n"
