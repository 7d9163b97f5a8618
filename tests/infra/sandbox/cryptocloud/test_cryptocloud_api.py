"""The v2 API over real HTTP: documented shapes of every path, success and errors (api.py)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from infra.sandbox.cryptocloud import CryptoCloudSandbox

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
UUID = re.compile(r"^INV-[A-Z0-9]{8}$")
DETAIL_KEYS = {
    "uuid", "created", "address", "currency", "date_finished", "expiry_date", "side_commission",
    "side_commission_cc", "type_payments", "status", "invoice_status", "amount",
    "amount_in_crypto", "amount_in_fiat", "amount_usd", "amount_to_pay", "amount_to_pay_usd",
    "amount_paid", "amount_paid_usd", "fee", "fee_usd", "service_fee", "service_fee_usd",
    "received", "received_usd", "to_surcharge", "to_surcharge_usd", "order_id", "pay_url",
    "user_email", "phone", "type", "tx_list", "link", "invoice_id", "project", "test_mode",
    "is_email_required",
}  # fmt: skip


def create(api: httpx.Client, sandbox: CryptoCloudSandbox, **fields: Any) -> dict[str, Any]:
    body = {"shop_id": sandbox.config.shop_id, "amount": 10, **fields}
    response = api.post("/v2/invoice/create", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    return result


def parse_ts(text: str) -> datetime:
    return datetime.strptime(text + "+0000", "%Y-%m-%d %H:%M:%S.%f%z")


def test_create_returns_the_documented_invoice(
    cryptocloud_api: httpx.Client, cryptocloud_sandbox: CryptoCloudSandbox
) -> None:
    """invoice/create answers the rich object: INV- uuid, pay link, UTC timestamps, 24 h life."""
    response = cryptocloud_api.post(
        "/v2/invoice/create",
        json={"shop_id": cryptocloud_sandbox.config.shop_id, "amount": 10.5, "order_id": "o-1"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    invoice = body["result"]
    assert UUID.match(invoice["uuid"])
    assert invoice["link"] == f"{cryptocloud_sandbox.base_url}/{invoice['uuid'][4:]}"
    assert TIMESTAMP.match(invoice["created"]) and TIMESTAMP.match(invoice["expiry_date"])
    assert parse_ts(invoice["expiry_date"]) - parse_ts(invoice["created"]) == timedelta(hours=24)
    assert invoice["status"] == "created"
    assert invoice["amount"] == invoice["amount_usd"] == invoice["amount_in_fiat"] == 10.5
    assert invoice["address"] == ""
    assert invoice["invoice_id"] is None
    assert invoice["fiat_currency"] == "USD"
    assert invoice["currency"]["fullcode"] == "USDT_TRC20"
    assert invoice["currency"]["code"] == "USDT"
    assert invoice["currency"]["network"]["code"] == "TRC20"
    assert set(invoice["project"]) == {"id", "name", "fail", "success", "logo"}
    assert invoice["test_mode"] is False
    assert {"side_commission", "side_commission_cc", "fee", "fee_usd", "service_fee",
            "service_fee_usd", "type_payments", "is_email_required"} <= set(invoice)  # fmt: skip


def test_create_honours_add_fields_currency_and_locale(
    cryptocloud_api: httpx.Client, cryptocloud_sandbox: CryptoCloudSandbox
) -> None:
    """time_to_pay sets the lifetime, a chosen coin gives an address and a crypto amount, EUR
    converts to USD, and ?locale= reaches the pay page."""
    response = cryptocloud_api.post(
        "/v2/invoice/create?locale=ru",
        json={
            "shop_id": cryptocloud_sandbox.config.shop_id,
            "amount": "100",
            "currency": "EUR",
            "add_fields": {"time_to_pay": {"hours": 0, "minutes": 10}, "cryptocurrency": "BTC"},
        },
    )
    invoice = response.json()["result"]
    assert parse_ts(invoice["expiry_date"]) - parse_ts(invoice["created"]) == timedelta(minutes=10)
    assert invoice["amount_in_fiat"] == 100.0 and invoice["fiat_currency"] == "EUR"
    assert invoice["amount_usd"] == 108.0
    assert invoice["address"] != ""
    assert invoice["currency"]["fullcode"] == "BTC"
    assert Decimal(str(invoice["amount"])) == Decimal("0.0018")
    page = cryptocloud_api.get(invoice["link"])
    assert '<html lang="ru">' in page.text


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": None}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": [1]}, "amount"),
        ({"currency": "XYZ"}, "currency"),
        ({"add_fields": {"time_to_pay": {"hours": -1, "minutes": 0}}}, "time_to_pay"),
        ({"add_fields": {"time_to_pay": {"hours": 0, "minutes": 0}}}, "time_to_pay"),
        ({"add_fields": {"time_to_pay": {"hours": 1, "minutes": 75}}}, "time_to_pay"),
        ({"add_fields": {"time_to_pay": {"hours": "1"}}}, "time_to_pay"),
        ({"add_fields": {"time_to_pay": "1h"}}, "time_to_pay"),
        ({"add_fields": {"cryptocurrency": "DOGE"}}, "cryptocurrency"),
        ({"shop_id": "NOSUCHSHOP000000"}, "shop_id"),
        ({"shop_id": None}, "shop_id"),
    ],
)
def test_create_refuses_invalid_fields(
    cryptocloud_api: httpx.Client,
    cryptocloud_sandbox: CryptoCloudSandbox,
    fields: dict[str, Any],
    field: str,
) -> None:
    """A bad field answers 400 `{"status": "error", "result": {"<field>": "<message>"}}`."""
    body = {"shop_id": cryptocloud_sandbox.config.shop_id, "amount": 10, **fields}
    response = cryptocloud_api.post("/v2/invoice/create", json=body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["status"] == "error"
    assert set(payload["result"]) == {field}
    assert isinstance(payload["result"][field], str) and payload["result"][field]


def test_create_refuses_a_body_that_is_not_json(cryptocloud_api: httpx.Client) -> None:
    """Garbage instead of JSON is a 400 validate_error, not a crash."""
    response = cryptocloud_api.post("/v2/invoice/create", content=b"amount=10")
    assert response.status_code == 400
    assert "validate_error" in response.json()["result"]


@pytest.mark.parametrize(
    "header", [None, "", "Token", "Basic c2FuZGJveA==", "Bearer sandbox-api-key", "Token two words"]
)
def test_missing_or_garbled_authorization_is_403_detail(
    cryptocloud_sandbox: CryptoCloudSandbox, header: str | None
) -> None:
    """Without a well-formed `Token <key>` header every path answers 403 `{"detail": ...}`."""
    headers = {} if header is None else {"Authorization": header}
    for path in ("/v2/invoice/create", "/v2/merchant/wallet/balance/all"):
        response = httpx.post(f"{cryptocloud_sandbox.base_url}{path}", headers=headers, json={})
        assert response.status_code == 403
        assert set(response.json()) == {"detail"}


def test_unknown_api_key_is_401_envelope(cryptocloud_sandbox: CryptoCloudSandbox) -> None:
    """A well-formed but unknown key answers 401 with the documented `authorization` envelope."""
    response = httpx.post(
        f"{cryptocloud_sandbox.base_url}/v2/invoice/merchant/info",
        headers={"Authorization": "Token someone-elses-key"},
        json={"uuids": ["INV-AAAAAAAA"]},
    )
    assert response.status_code == 401
    assert response.json() == {
        "status": "error",
        "result": {"authorization": "Unauthorized request."},
    }


def test_auth_status_codes_are_configurable(cryptocloud_sandbox: CryptoCloudSandbox) -> None:
    """The HTTP codes of both auth failures follow the config (the real ones are unknown)."""
    cryptocloud_sandbox.configure(auth_missing_status=401, auth_unknown_status=400)
    url = f"{cryptocloud_sandbox.base_url}/v2/merchant/wallet/balance/all"
    assert httpx.post(url).status_code == 401
    assert httpx.post(url, headers={"Authorization": "Token nope"}).status_code == 400


def test_info_finds_invoices_with_and_without_prefix(
    cryptocloud_api: httpx.Client, cryptocloud_sandbox: CryptoCloudSandbox
) -> None:
    """merchant/info returns a list of rich invoices for ids with or without `INV-`."""
    first = create(cryptocloud_api, cryptocloud_sandbox, order_id="a")["uuid"]
    second = create(cryptocloud_api, cryptocloud_sandbox, order_id="b")["uuid"]
    cryptocloud_sandbox.pay(second, "4")
    response = cryptocloud_api.post(
        "/v2/invoice/merchant/info", json={"uuids": [first, second[4:]]}
    )
    assert response.status_code == 200
    result = response.json()["result"]
    assert [i["uuid"] for i in result] == [first, second]
    assert all(set(invoice) >= DETAIL_KEYS for invoice in result)
    partial = result[1]
    assert partial["status"] == "partial" and partial["order_id"] == "b"
    assert partial["received_usd"] == partial["amount_paid_usd"] == 4.0
    assert partial["to_surcharge_usd"] == 6.0
    assert partial["invoice_status"] == "start" and partial["date_finished"] is None
    assert len(partial["tx_list"]) == 1


def test_info_omits_unknown_ids_by_default_or_refuses_them(
    cryptocloud_api: httpx.Client, cryptocloud_sandbox: CryptoCloudSandbox
) -> None:
    """Unknown ids are left out, or answered 400 validate_error when configured so."""
    known = create(cryptocloud_api, cryptocloud_sandbox)["uuid"]
    body = {"uuids": [known, "INV-ZZZZZZZZ"]}
    response = cryptocloud_api.post("/v2/invoice/merchant/info", json=body)
    assert [i["uuid"] for i in response.json()["result"]] == [known]
    cryptocloud_sandbox.configure(unknown_uuids="error")
    response = cryptocloud_api.post("/v2/invoice/merchant/info", json=body)
    assert response.status_code == 400
    assert "validate_error" in response.json()["result"]


@pytest.mark.parametrize(
    "body", [{"uuids": [f"INV-{n:08d}" for n in range(101)]}, {"uuids": []}, {"uuid": "X"}, []]
)
def test_info_refuses_bad_id_lists(cryptocloud_api: httpx.Client, body: Any) -> None:
    """More than 100 ids, none, or a wrong body shape answer 400 validate_error."""
    response = cryptocloud_api.post("/v2/invoice/merchant/info", json=body)
    assert response.status_code == 400
    assert response.json()["status"] == "error"
    assert "validate_error" in response.json()["result"]


def test_info_accepts_exactly_100_ids(cryptocloud_api: httpx.Client) -> None:
    """100 ids is the documented maximum and is accepted."""
    uuids = [f"INV-{n:08d}" for n in range(100)]
    response = cryptocloud_api.post("/v2/invoice/merchant/info", json={"uuids": uuids})
    assert response.status_code == 200 and response.json()["result"] == []


def test_cancel_only_created_invoices(
    cryptocloud_api: httpx.Client, cryptocloud_sandbox: CryptoCloudSandbox
) -> None:
    """merchant/canceled cancels a created invoice with ["ok"]; anything else is refused."""
    uuid = create(cryptocloud_api, cryptocloud_sandbox)["uuid"]
    response = cryptocloud_api.post("/v2/invoice/merchant/canceled", json={"uuid": uuid[4:]})
    assert response.json() == {"status": "success", "result": ["ok"]}
    assert cryptocloud_sandbox.invoice(uuid).status == "canceled"
    again = cryptocloud_api.post("/v2/invoice/merchant/canceled", json={"uuid": uuid})
    assert again.status_code == 400
    assert again.json() == {
        "status": "error",
        "result": {"validate_error": "Invoice is not created"},
    }
    partial = create(cryptocloud_api, cryptocloud_sandbox)["uuid"]
    cryptocloud_sandbox.pay(partial, "1")
    refused = cryptocloud_api.post("/v2/invoice/merchant/canceled", json={"uuid": partial})
    assert refused.json()["result"] == {"validate_error": "Invoice is not created"}
    missing = cryptocloud_api.post("/v2/invoice/merchant/canceled", json={})
    assert missing.status_code == 400
    assert missing.json()["result"] == {"validate_error": "uuid is required"}


def today(sandbox: CryptoCloudSandbox) -> str:
    return sandbox.world.now().strftime("%d.%m.%Y")


def test_list_pages_newest_first_with_all_count(
    cryptocloud_api: httpx.Client, cryptocloud_sandbox: CryptoCloudSandbox
) -> None:
    """merchant/list returns rich invoices of the period, 10 by default, with `all_count`."""
    uuids = [create(cryptocloud_api, cryptocloud_sandbox)["uuid"] for _ in range(12)]
    day = today(cryptocloud_sandbox)
    response = cryptocloud_api.post("/v2/invoice/merchant/list", json={"start": day, "end": day})
    body = response.json()
    assert body["status"] == "success" and body["all_count"] == 12
    assert [i["uuid"] for i in body["result"]] == uuids[::-1][:10]
    assert set(body["result"][0]) >= DETAIL_KEYS
    page = cryptocloud_api.post(
        "/v2/invoice/merchant/list", json={"start": day, "end": day, "offset": 10, "limit": 100}
    ).json()
    assert [i["uuid"] for i in page["result"]] == uuids[1::-1]


def test_list_filters_by_creation_day(
    cryptocloud_api: httpx.Client, cryptocloud_sandbox: CryptoCloudSandbox
) -> None:
    """Only invoices created between start and end (inclusive, UTC days) are listed."""
    early = create(cryptocloud_api, cryptocloud_sandbox)["uuid"]
    first_day = today(cryptocloud_sandbox)
    cryptocloud_sandbox.advance_clock(timedelta(days=3))
    late = create(cryptocloud_api, cryptocloud_sandbox)["uuid"]
    body = {"start": first_day, "end": first_day}
    listed = cryptocloud_api.post("/v2/invoice/merchant/list", json=body).json()
    assert [i["uuid"] for i in listed["result"]] == [early]
    body = {"start": first_day, "end": today(cryptocloud_sandbox)}
    listed = cryptocloud_api.post("/v2/invoice/merchant/list", json=body).json()
    assert [i["uuid"] for i in listed["result"]] == [late, early]


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"start": "2024-01-01", "end": "02.01.2024"}, "start"),
        ({"start": "01.01.2024", "end": "32.01.2024"}, "end"),
        ({"start": "1.1.2024", "end": "02.01.2024"}, "start"),
        ({"end": "02.01.2024"}, "start"),
        ({"start": "03.01.2024", "end": "02.01.2024"}, "validate_error"),
        ({"start": "01.01.2024", "end": "02.01.2024", "limit": 101}, "limit"),
        ({"start": "01.01.2024", "end": "02.01.2024", "limit": 0}, "limit"),
        ({"start": "01.01.2024", "end": "02.01.2024", "offset": -1}, "offset"),
    ],
)
def test_list_validates_dates_and_paging(
    cryptocloud_api: httpx.Client, body: dict[str, Any], key: str
) -> None:
    """Dates must be dd.mm.yyyy with end ≥ start; limit 1–100; offset ≥ 0 — else 400."""
    response = cryptocloud_api.post("/v2/invoice/merchant/list", json=body)
    assert response.status_code == 400
    assert key in response.json()["result"]


def test_balance_lists_coins_and_credits_confirmed_money(
    cryptocloud_api: httpx.Client, cryptocloud_sandbox: CryptoCloudSandbox
) -> None:
    """wallet/balance/all lists every coin in the balance shape; paid money minus the 1.9 %
    service fee is credited, test-mode invoices are not."""
    paid = create(cryptocloud_api, cryptocloud_sandbox, amount=100)["uuid"]
    cryptocloud_sandbox.pay(paid)
    cryptocloud_sandbox.configure(test_mode=True)
    test_invoice = create(cryptocloud_api, cryptocloud_sandbox, amount=50)
    assert test_invoice["test_mode"] is True
    cryptocloud_sandbox.pay(test_invoice["uuid"])
    response = cryptocloud_api.post("/v2/merchant/wallet/balance/all")
    assert response.status_code == 200
    balances = {entry["currency"]["code"]: entry for entry in response.json()["result"]}
    usdt = balances["USDT_TRC20"]
    assert usdt["currency"]["short_code"] == "USDT"
    assert usdt["currency"]["obj_network"]["code"] == "TRC20"
    assert usdt["balance_usd"] == usdt["available_balance_usd"] == 98.1
    assert usdt["balance_crypto"] == 98.1
    assert balances["BTC"]["balance_usd"] == 0.0


def test_statistics_counts_and_sums_by_status(
    cryptocloud_api: httpx.Client, cryptocloud_sandbox: CryptoCloudSandbox
) -> None:
    """invoice/merchant/statistics buckets the period's invoices by status, counts and USD."""
    paid = create(cryptocloud_api, cryptocloud_sandbox, amount=10)["uuid"]
    partial = create(cryptocloud_api, cryptocloud_sandbox, amount=20)["uuid"]
    create(cryptocloud_api, cryptocloud_sandbox, amount=5)
    cryptocloud_sandbox.pay(paid)
    cryptocloud_sandbox.pay(partial, "1")
    day = today(cryptocloud_sandbox)
    response = cryptocloud_api.post(
        "/v2/invoice/merchant/statistics", json={"start": day, "end": day}
    )
    result = response.json()["result"]
    assert result["count"] == {
        "all": 3, "created": 1, "paid": 1, "overpaid": 0, "partial": 1, "canceled": 0,
    }  # fmt: skip
    assert result["amount"] == {
        "all": 35.0, "created": 5.0, "paid": 10.0, "overpaid": 0.0, "partial": 20.0,
        "canceled": 0.0,
    }  # fmt: skip
    bad = cryptocloud_api.post("/v2/invoice/merchant/statistics", json={"start": day})
    assert bad.status_code == 400 and "end" in bad.json()["result"]
