"""Postbacks (postback.py, delivery.py): fields, formats, the JWT token, and delivery policy."""

from __future__ import annotations

import ast
import itertools
import json
import socket
import time
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest

from infra.sandbox.cryptocloud import CryptoCloudSandbox
from tests.fixtures.sandboxes import PostbackReceiver

FIELDS = {"status", "invoice_id", "amount_crypto", "currency", "order_id", "token", "invoice_info"}


def new_invoice(api: httpx.Client, sandbox: CryptoCloudSandbox, **extra: Any) -> str:
    body = {"shop_id": sandbox.config.shop_id, "amount": 10, "order_id": "order-7", **extra}
    uuid: str = api.post("/v2/invoice/create", json=body).json()["result"]["uuid"]
    return uuid


@pytest.fixture
def sandbox(
    cryptocloud_sandbox: CryptoCloudSandbox, postback_receiver: PostbackReceiver
) -> CryptoCloudSandbox:
    """The stand-in with its notification URL pointing at the local receiver."""
    cryptocloud_sandbox.configure(notify_url=postback_receiver.url, retry_backoff_seconds=0.01)
    return cryptocloud_sandbox


def test_paid_invoice_posts_a_form_with_the_documented_fields(
    cryptocloud_api: httpx.Client, sandbox: CryptoCloudSandbox, postback_receiver: PostbackReceiver
) -> None:
    """By default the postback is form-encoded; invoice_id has no prefix; invoice_info is a
    JSON string with the invoice's final state."""
    uuid = new_invoice(cryptocloud_api, sandbox)
    sandbox.pay(uuid)
    [received] = postback_receiver.wait_for(1)
    assert received.content_type == "application/x-www-form-urlencoded"
    form = received.form()
    assert set(form) == FIELDS
    assert form["status"] == "success"
    assert form["invoice_id"] == uuid.removeprefix("INV-")
    assert form["currency"] == "USDT_TRC20"
    assert form["order_id"] == "order-7"
    assert float(form["amount_crypto"]) == 10.0
    info = json.loads(form["invoice_info"])
    assert info["uuid"] == uuid and info["status"] == "paid"
    assert info["invoice_status"] == "success" and info["amount_paid_usd"] == 10.0
    assert info["date_finished"] is not None
    [delivery] = sandbox.wait_until_idle()
    assert (delivery.outcome, delivery.status_code, delivery.attempt) == ("delivered", 200, 1)
    assert delivery.url == postback_receiver.url and delivery.body == received.body.decode()


def test_json_format_nests_invoice_info(
    cryptocloud_api: httpx.Client, sandbox: CryptoCloudSandbox, postback_receiver: PostbackReceiver
) -> None:
    """With postback_format=json the body is JSON, numbers stay numbers, invoice_info nests."""
    sandbox.configure(postback_format="json")
    uuid = new_invoice(cryptocloud_api, sandbox)
    sandbox.pay(uuid, "15")
    [received] = postback_receiver.wait_for(1)
    assert received.content_type == "application/json"
    body = received.json()
    assert set(body) == FIELDS
    assert body["invoice_id"] == uuid[4:] and body["amount_crypto"] == 15.0
    assert body["invoice_info"]["status"] == "overpaid"
    assert body["invoice_info"]["received_usd"] == 15.0


def test_invoice_info_can_be_a_python_repr(
    cryptocloud_api: httpx.Client, sandbox: CryptoCloudSandbox, postback_receiver: PostbackReceiver
) -> None:
    """invoice_info_format=python flattens invoice_info as a Python dict repr, not JSON."""
    sandbox.configure(invoice_info_format="python")
    uuid = new_invoice(cryptocloud_api, sandbox)
    sandbox.pay(uuid)
    text = postback_receiver.wait_for(1)[0].form()["invoice_info"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    info = ast.literal_eval(text)
    assert info["uuid"] == uuid and info["test_mode"] is False


def token_of(receiver: PostbackReceiver, index: int = 0) -> str:
    return receiver.wait_for(index + 1)[index].form()["token"]


# The API KEY is a short string; PyJWT warns about short HMAC keys, which is beside the point.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_token_verifies_only_with_the_secret_key(
    cryptocloud_api: httpx.Client, sandbox: CryptoCloudSandbox, postback_receiver: PostbackReceiver
) -> None:
    """The token is an HS256 JWT of {id, exp} under SECRET KEY; any other key is refused."""
    uuid = new_invoice(cryptocloud_api, sandbox)
    sandbox.pay(uuid)
    token = token_of(postback_receiver)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, sandbox.config.secret_key, algorithms=["HS256"])
    assert set(claims) == {"id", "exp"} and claims["id"] == uuid[4:]
    for wrong in (sandbox.config.api_key, "another-secret", sandbox.config.secret_key + "x"):
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token, wrong, algorithms=["HS256"])


def test_token_expires_five_minutes_after_sending(
    cryptocloud_api: httpx.Client, sandbox: CryptoCloudSandbox, postback_receiver: PostbackReceiver
) -> None:
    """`exp` is now + 300 s: still valid at +299 s, refused at +301 s."""
    uuid = new_invoice(cryptocloud_api, sandbox)
    sandbox.pay(uuid)
    token = token_of(postback_receiver)
    claims = jwt.decode(token, sandbox.config.secret_key, algorithms=["HS256"])
    assert 298 <= claims["exp"] - time.time() <= 301
    key = sandbox.config.secret_key
    # A negative leeway makes PyJWT judge the token as if that much time had passed.
    jwt.decode(token, key, algorithms=["HS256"], leeway=-(claims["exp"] - time.time() - 1))
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, key, algorithms=["HS256"], leeway=-301)


def test_token_minted_on_a_clock_six_minutes_behind_is_already_expired(
    cryptocloud_api: httpx.Client, sandbox: CryptoCloudSandbox, postback_receiver: PostbackReceiver
) -> None:
    """The token's exp follows the stand-in's clock, so moving it back yields stale tokens."""
    uuid = new_invoice(cryptocloud_api, sandbox)
    sandbox.advance_clock(timedelta(minutes=-6))
    sandbox.pay(uuid)
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token_of(postback_receiver), sandbox.config.secret_key, algorithms=["HS256"])


@pytest.mark.parametrize(
    ("id_format", "expected"),
    [("plain", lambda u, n: u[4:]), ("prefixed", lambda u, n: u), ("numeric", lambda u, n: n)],
)
def test_id_claim_format_is_configurable(
    cryptocloud_api: httpx.Client,
    sandbox: CryptoCloudSandbox,
    postback_receiver: PostbackReceiver,
    id_format: str,
    expected: Any,
) -> None:
    """The `id` claim is the bare code, the INV- uuid or the invoice's number, as configured."""
    sandbox.configure(id_claim_format=id_format)
    uuid = new_invoice(cryptocloud_api, sandbox)
    sandbox.pay(uuid)
    claims = jwt.decode(
        token_of(postback_receiver), sandbox.config.secret_key, algorithms=["HS256"]
    )
    assert claims["id"] == expected(uuid, sandbox.invoice(uuid).number)


def test_no_postback_for_created_partial_or_canceled_invoices(
    cryptocloud_api: httpx.Client, sandbox: CryptoCloudSandbox, postback_receiver: PostbackReceiver
) -> None:
    """Only confirmation notifies: an unconfirmed partial, a cancel or an expiry sends nothing."""
    partial = new_invoice(cryptocloud_api, sandbox)
    sandbox.pay(partial, "3")
    canceled = new_invoice(cryptocloud_api, sandbox)
    cryptocloud_api.post("/v2/invoice/merchant/canceled", json={"uuid": canceled})
    sandbox.expire(new_invoice(cryptocloud_api, sandbox))
    sandbox.expire(partial)
    assert sandbox.wait_until_idle() == []
    assert postback_receiver.received == []


def test_confirming_a_partial_sends_its_postback(
    cryptocloud_api: httpx.Client, sandbox: CryptoCloudSandbox, postback_receiver: PostbackReceiver
) -> None:
    """Confirm partial notifies with invoice_info.status partial and what was really paid."""
    uuid = new_invoice(cryptocloud_api, sandbox)
    sandbox.pay(uuid, "4")
    sandbox.confirm_partial(uuid)
    form = postback_receiver.wait_for(1)[0].form()
    info = json.loads(form["invoice_info"])
    assert info["status"] == "partial" and info["invoice_status"] == "success"
    assert float(form["amount_crypto"]) == 4.0 and info["to_surcharge_usd"] == 6.0


def test_duplicates_send_each_postback_k_times(
    cryptocloud_api: httpx.Client, sandbox: CryptoCloudSandbox, postback_receiver: PostbackReceiver
) -> None:
    """duplicates=3 delivers the same postback three times, each recorded as a copy."""
    sandbox.configure(duplicates=3)
    uuid = new_invoice(cryptocloud_api, sandbox)
    sandbox.pay(uuid)
    received = postback_receiver.wait_for(3)
    assert {r.form()["invoice_id"] for r in received} == {uuid[4:]}
    deliveries = sandbox.wait_until_idle()
    assert [(d.postback_id, d.copy, d.outcome) for d in deliveries] == [
        (1, 1, "delivered"), (1, 2, "delivered"), (1, 3, "delivered"),
    ]  # fmt: skip
    # Idle means nothing is scheduled or in flight: no fourth copy can still arrive.
    assert len(postback_receiver.received) == 3


def test_retries_follow_non_2xx_answers_until_success(
    cryptocloud_api: httpx.Client, sandbox: CryptoCloudSandbox, postback_receiver: PostbackReceiver
) -> None:
    """With retries=3 a 500 and a 503 are retried; the third attempt's 200 ends the series."""
    sandbox.configure(retries=3)
    postback_receiver.statuses.extend([500, 503])
    sandbox.pay(new_invoice(cryptocloud_api, sandbox))
    deliveries = sandbox.wait_until_idle()
    assert [(d.attempt, d.status_code, d.outcome) for d in deliveries] == [
        (1, 500, "rejected"), (2, 503, "rejected"), (3, 200, "delivered"),
    ]  # fmt: skip
    assert len(postback_receiver.received) == 3


def test_no_retry_by_default(
    cryptocloud_api: httpx.Client, sandbox: CryptoCloudSandbox, postback_receiver: PostbackReceiver
) -> None:
    """Without configured retries a refused postback is sent once and stays refused."""
    postback_receiver.statuses.append(503)
    sandbox.pay(new_invoice(cryptocloud_api, sandbox))
    [delivery] = sandbox.wait_until_idle()
    assert (delivery.status_code, delivery.outcome) == (503, "rejected")
    assert len(postback_receiver.received) == 1


def test_network_errors_are_retried_with_backoff(
    cryptocloud_api: httpx.Client, cryptocloud_sandbox: CryptoCloudSandbox
) -> None:
    """A notification URL nobody listens on yields `error` attempts, 1 + retries of them,
    spaced by the doubling backoff."""
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cryptocloud_sandbox.configure(
        notify_url=f"http://127.0.0.1:{port}/hook", retries=2, retry_backoff_seconds=0.05
    )
    cryptocloud_sandbox.pay(new_invoice(cryptocloud_api, cryptocloud_sandbox))
    deliveries = cryptocloud_sandbox.wait_until_idle()
    assert [(d.attempt, d.outcome, d.status_code) for d in deliveries] == [
        (1, "error", None), (2, "error", None), (3, "error", None),
    ]  # fmt: skip
    assert all(d.error for d in deliveries)
    gaps = [(b.sent_at - a.sent_at).total_seconds() for a, b in itertools.pairwise(deliveries)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1


def test_drop_sends_nothing_but_the_poll_still_sees_paid(
    cryptocloud_api: httpx.Client, sandbox: CryptoCloudSandbox, postback_receiver: PostbackReceiver
) -> None:
    """drop=true records a dropped postback and sends nothing; merchant/info shows paid."""
    sandbox.configure(drop=True)
    uuid = new_invoice(cryptocloud_api, sandbox)
    sandbox.pay(uuid)
    [delivery] = sandbox.wait_until_idle()
    assert delivery.outcome == "dropped" and delivery.body is None
    assert postback_receiver.received == []
    info = cryptocloud_api.post("/v2/invoice/merchant/info", json={"uuids": [uuid]}).json()
    assert info["result"][0]["status"] == "paid"


def test_delay_holds_the_postback_back(
    cryptocloud_api: httpx.Client, sandbox: CryptoCloudSandbox, postback_receiver: PostbackReceiver
) -> None:
    """delay_seconds passes between confirmation and the send."""
    sandbox.configure(delay_seconds=0.3)
    uuid = new_invoice(cryptocloud_api, sandbox)
    paid = sandbox.pay(uuid)
    assert postback_receiver.received == []
    [delivery] = sandbox.wait_until_idle()
    assert paid.confirmed_at is not None
    assert (delivery.sent_at - paid.confirmed_at).total_seconds() >= 0.3
    assert len(postback_receiver.received) == 1


def test_resend_posts_again_with_a_new_postback_id(
    cryptocloud_api: httpx.Client, sandbox: CryptoCloudSandbox, postback_receiver: PostbackReceiver
) -> None:
    """Resending a confirmed invoice's postback delivers it once more."""
    uuid = new_invoice(cryptocloud_api, sandbox)
    sandbox.pay(uuid)
    postback_receiver.wait_for(1)
    assert sandbox.resend_postback(uuid) == 2
    second = postback_receiver.wait_for(2)[1].form()
    assert second["invoice_id"] == uuid[4:]
    assert [d.postback_id for d in sandbox.wait_until_idle()] == [1, 2]


def test_control_api_lists_deliveries(
    cryptocloud_api: httpx.Client, sandbox: CryptoCloudSandbox, postback_receiver: PostbackReceiver
) -> None:
    """GET /control/postbacks shows url, body, status code and attempt of each delivery."""
    uuid = new_invoice(cryptocloud_api, sandbox)
    other = new_invoice(cryptocloud_api, sandbox)
    sandbox.pay(uuid)
    sandbox.pay(other)
    sandbox.wait_until_idle()
    listed = httpx.get(f"{sandbox.base_url}/control/postbacks", params={"invoice": uuid[4:]})
    body = listed.json()
    assert body["pending"] == 0
    [delivery] = body["deliveries"]
    assert delivery["invoice_uuid"] == uuid and delivery["url"] == postback_receiver.url
    assert delivery["status_code"] == 200 and delivery["attempt"] == 1
    assert delivery["outcome"] == "delivered" and "token=" in delivery["body"]
