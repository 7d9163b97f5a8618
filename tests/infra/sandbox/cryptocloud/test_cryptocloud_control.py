"""The control API under /control/ (control.py): acting as payer, dashboard and time over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.sandbox.cryptocloud import CryptoCloudSandbox


@pytest.fixture
def control(cryptocloud_sandbox: CryptoCloudSandbox) -> Iterator[httpx.Client]:
    """An unauthenticated client on the stand-in (the control API needs no token)."""
    with httpx.Client(base_url=cryptocloud_sandbox.base_url, timeout=5.0) as client:
        yield client


def new_invoice(api: httpx.Client, sandbox: CryptoCloudSandbox, **extra: Any) -> str:
    body = {"shop_id": sandbox.config.shop_id, "amount": 10, **extra}
    uuid: str = api.post("/v2/invoice/create", json=body).json()["result"]["uuid"]
    return uuid


def test_pay_modes_over_http(
    cryptocloud_api: httpx.Client, cryptocloud_sandbox: CryptoCloudSandbox, control: httpx.Client
) -> None:
    """POST pay with part, then full (the rest), answers the invoice summary each time."""
    uuid = new_invoice(cryptocloud_api, cryptocloud_sandbox)
    part = control.post(f"/control/invoices/{uuid}/pay", json={"mode": "part", "amount": "3.5"})
    assert part.status_code == 200
    assert part.json()["status"] == "partial" and part.json()["due_usd"] == "6.50"
    full = control.post(f"/control/invoices/{uuid[4:]}/pay", json={"mode": "full"})
    assert full.json()["status"] == "paid" and full.json()["received_usd"] == "10.00"
    assert full.json()["confirmed"] is True and full.json()["open"] is False
    over_uuid = new_invoice(cryptocloud_api, cryptocloud_sandbox)
    over = control.post(f"/control/invoices/{over_uuid}/pay", json={"mode": "over", "amount": 12})
    assert over.json()["status"] == "overpaid" and over.json()["received_usd"] == "12.00"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"mode": "part"}, 400),
        ({"mode": "part", "amount": "10"}, 400),
        ({"mode": "over", "amount": "9"}, 400),
        ({"mode": "sideways"}, 400),
        ({"amount": "abc"}, 400),
        ({"amount": -1}, 400),
        ([1, 2], 400),
    ],
)
def test_pay_refuses_bad_requests(
    cryptocloud_api: httpx.Client,
    cryptocloud_sandbox: CryptoCloudSandbox,
    control: httpx.Client,
    body: Any,
    status: int,
) -> None:
    """Amounts that contradict the mode, unknown modes and junk answer 400 `{"error": ...}`."""
    uuid = new_invoice(cryptocloud_api, cryptocloud_sandbox)
    response = control.post(f"/control/invoices/{uuid}/pay", json=body)
    assert response.status_code == status and "error" in response.json()
    assert cryptocloud_sandbox.invoice(uuid).status == "created"


def test_unknown_invoice_is_404_and_wrong_state_409(
    cryptocloud_api: httpx.Client, cryptocloud_sandbox: CryptoCloudSandbox, control: httpx.Client
) -> None:
    """An unknown invoice answers 404; paying, expiring or confirming a paid one answers 409."""
    assert control.post("/control/invoices/INV-NOPE0000/pay", json={}).status_code == 404
    assert control.get("/control/invoices/INV-NOPE0000").status_code == 404
    uuid = new_invoice(cryptocloud_api, cryptocloud_sandbox)
    assert control.post(f"/control/invoices/{uuid}/resend").status_code == 409
    control.post(f"/control/invoices/{uuid}/pay", json={})
    for action in ("pay", "expire", "confirm"):
        response = control.post(f"/control/invoices/{uuid}/{action}", json={})
        assert response.status_code == 409, action
        assert "error" in response.json()


def test_confirm_expire_and_resend(
    cryptocloud_api: httpx.Client, cryptocloud_sandbox: CryptoCloudSandbox, control: httpx.Client
) -> None:
    """confirm accepts an open partial, expire cancels an open invoice, resend re-sends."""
    partial = new_invoice(cryptocloud_api, cryptocloud_sandbox)
    control.post(f"/control/invoices/{partial}/pay", json={"amount": "2"})
    confirmed = control.post(f"/control/invoices/{partial}/confirm").json()
    assert confirmed["status"] == "partial" and confirmed["invoice_status"] == "success"
    resent = control.post(f"/control/invoices/{partial}/resend")
    assert resent.status_code == 200 and resent.json()["postback_id"] == 2
    expiring = new_invoice(cryptocloud_api, cryptocloud_sandbox)
    expired = control.post(f"/control/invoices/{expiring}/expire").json()
    assert expired["status"] == "canceled" and expired["date_finished"] is not None


def test_list_invoices_and_reset(
    cryptocloud_api: httpx.Client, cryptocloud_sandbox: CryptoCloudSandbox, control: httpx.Client
) -> None:
    """GET /control/invoices lists every invoice's state; reset forgets them and the config."""
    first = new_invoice(cryptocloud_api, cryptocloud_sandbox, order_id="o-1")
    second = new_invoice(cryptocloud_api, cryptocloud_sandbox)
    control.post(f"/control/invoices/{second}/pay", json={"mode": "over"})
    control.post("/control/config", json={"retries": 3})
    listed = control.get("/control/invoices").json()["invoices"]
    assert [(i["uuid"], i["status"], i["order_id"]) for i in listed] == [
        (first, "created", "o-1"),
        (second, "overpaid", None),
    ]
    assert listed[0]["seconds_left"] > 23 * 3600
    assert control.post("/control/reset").json() == {"status": "ok"}
    assert control.get("/control/invoices").json() == {"invoices": []}
    assert control.get("/control/config").json()["retries"] == 0
    assert cryptocloud_sandbox.deliveries == []


def test_config_reads_updates_and_refuses_bad_settings(control: httpx.Client) -> None:
    """POST /control/config changes named settings and refuses unknown names or bad values."""
    config = control.get("/control/config").json()
    assert config["postback_format"] == "form" and config["id_claim_format"] == "plain"
    updated = control.post(
        "/control/config",
        json={"postback_format": "json", "retries": 2, "partial_tolerance_usd": "0.50",
              "notify_url": "http://127.0.0.1:1/hook", "drop": True},
    ).json()  # fmt: skip
    assert updated["postback_format"] == "json" and updated["retries"] == 2
    assert updated["partial_tolerance_usd"] == "0.50" and updated["drop"] is True
    for bad in ({"colour": "red"}, {"retries": -1}, {"postback_format": "xml"}, {"drop": 1}):
        response = control.post("/control/config", json=bad)
        assert response.status_code == 400 and "error" in response.json()
    assert control.get("/control/config").json()["retries"] == 2


def test_clock_control_advances_time_and_expires_invoices(
    cryptocloud_api: httpx.Client, cryptocloud_sandbox: CryptoCloudSandbox, control: httpx.Client
) -> None:
    """POST /control/clock moves the stand-in's now; invoices past their life read canceled."""
    uuid = new_invoice(
        cryptocloud_api, cryptocloud_sandbox, add_fields={"time_to_pay": {"minutes": 30}}
    )
    clock = control.post("/control/clock", json={"advance_seconds": 1799}).json()
    assert clock["offset_seconds"] == 1799
    assert control.get(f"/control/invoices/{uuid}").json()["status"] == "created"
    control.post("/control/clock", json={"advance_seconds": 2})
    info = cryptocloud_api.post("/v2/invoice/merchant/info", json={"uuids": [uuid]}).json()
    assert info["result"][0]["status"] == "canceled"
    reset = control.post("/control/clock", json={"offset_seconds": 0}).json()
    assert reset["offset_seconds"] == 0
    assert control.get(f"/control/invoices/{uuid}").json()["status"] == "canceled"
    assert control.post("/control/clock", json={"advance_seconds": "soon"}).status_code == 400


def test_info_lag_switch_shows_a_confirmed_invoice_as_before_for_a_while(
    cryptocloud_api: httpx.Client, cryptocloud_sandbox: CryptoCloudSandbox, control: httpx.Client
) -> None:
    """With info_lag_seconds, merchant/info still says created (or partial) right after the
    payment its postback announces, and tells the truth once the lag has passed."""
    assert control.post("/control/config", json={"info_lag_seconds": 60}).status_code == 200
    uuid = new_invoice(cryptocloud_api, cryptocloud_sandbox)
    other = new_invoice(cryptocloud_api, cryptocloud_sandbox)
    control.post(f"/control/invoices/{uuid}/pay", json={"mode": "full"})
    control.post(f"/control/invoices/{other}/pay", json={"amount": "3"})
    control.post(f"/control/invoices/{other}/confirm")

    def statuses() -> list[tuple[str, float]]:
        answer = cryptocloud_api.post("/v2/invoice/merchant/info", json={"uuids": [uuid, other]})
        return [(i["status"], i["received_usd"]) for i in answer.json()["result"]]

    assert statuses() == [("created", 0), ("partial", 3)]
    assert control.get(f"/control/invoices/{uuid}").json()["status"] == "paid"  # truth
    control.post("/control/clock", json={"advance_seconds": 61})
    assert statuses() == [("paid", 10), ("partial", 3)]  # confirmed partial: status stays


@pytest.mark.parametrize("status", [301, 308])
def test_moved_switch_redirects_every_api_call_and_the_client_names_the_new_base(
    cryptocloud_sandbox: CryptoCloudSandbox, control: httpx.Client, status: int
) -> None:
    """With moved_to set the API answers 301/308 to the same path on the new host; our client
    turns that into one line naming CRYPTOCLOUD_API_BASE (CryptoCloud → Trybit, reference §0)."""
    from pydantic import SecretStr

    from infra.cryptocloud import CryptoCloudClient, CryptoCloudMoved

    changed = control.post("/control/config",
                           json={"moved_to": "https://api.trybit.example", "moved_status": status})
    assert changed.status_code == 200
    raw = httpx.post(f"{cryptocloud_sandbox.base_url}/v2/invoice/merchant/info?x=1",
                     json={"uuids": ["INV-AAAA1111"]})
    assert (raw.status_code, raw.headers["Location"]) == (
        status, "https://api.trybit.example/v2/invoice/merchant/info?x=1")
    client = CryptoCloudClient(base_url=cryptocloud_sandbox.base_url,
                               api_key=SecretStr(cryptocloud_sandbox.config.api_key),
                               shop_id=SecretStr(cryptocloud_sandbox.config.shop_id))
    with client, pytest.raises(CryptoCloudMoved) as moved:
        client.invoice_info(["AAAA1111"])
    assert "CRYPTOCLOUD_API_BASE=https://api.trybit.example" in str(moved.value)
    assert control.post("/control/config", json={"moved_status": 200}).status_code == 400
