"""Tests for infra.cryptocloud: the CryptoCloud v2 client, its error tree and the fake provider.

Wire-level tests run the real client against `httpx.MockTransport`; the contract tests at the end
run the same story against the fake and against the CryptoCloud stand-in over real HTTP.
"""

from __future__ import annotations

import json
import pickle
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pydantic import SecretStr

from infra.cryptocloud import (
    INFO_BATCH_SIZE,
    CryptoCloudClient,
    CryptoCloudError,
    CryptoCloudMoved,
    CryptoCloudProtocolError,
    CryptoCloudRejected,
    CryptoCloudUnavailable,
    InvoiceState,
    PaymentProvider,
)
from infra.cryptocloud.fake import FakePaymentProvider
from models.domain.invoices import InvoiceStatus

if TYPE_CHECKING:
    from infra.sandbox.cryptocloud import CryptoCloudSandbox

API_KEY = "test-api-key-eyJhbGciOiJIUzI1NiJ9.secret-part"
SHOP_ID = "TESTSHOPID000001"
BASE_URL = "https://api.cryptocloud.test"
HOUR = timedelta(hours=1)

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that records requests and answers with `answer(request)`."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    def bodies(self) -> list[Any]:
        return [json.loads(request.content) for request in self.requests]


def make_client(answer: Handler, *, base_url: str = BASE_URL) -> tuple[CryptoCloudClient, Recorder]:
    recorder = Recorder(answer)
    client = CryptoCloudClient(
        base_url=base_url,
        api_key=SecretStr(API_KEY),
        shop_id=SecretStr(SHOP_ID),
        transport=httpx.MockTransport(recorder),
    )
    return client, recorder


def success(result: Any) -> httpx.Response:
    return httpx.Response(200, json={"status": "success", "result": result})


def raw(status: int, text: str, **headers: str) -> httpx.Response:
    """A response whose body is `text` verbatim (JSON numbers stay as written)."""
    return httpx.Response(status, content=text.encode(), headers=headers)


def invoice(code: str, **fields: Any) -> dict[str, Any]:
    """An invoice object as merchant/info returns it (the reference's field names)."""
    data: dict[str, Any] = {
        "uuid": f"INV-{code}",
        "created": "2025-03-01 12:00:00.000000",
        "expiry_date": "2025-03-01 13:00:00.000000",
        "status": "created",
        "invoice_status": "start",
        "amount": 10.0,
        "amount_usd": 10.0,
        "amount_in_fiat": 10.0,
        "fiat_currency": "USD",
        "amount_paid_usd": 0.0,
        "received_usd": 0.0,
        "order_id": "order-1",
        "currency": {"code": "USDT", "fullcode": "USDT_TRC20"},
        "test_mode": False,
    }
    data.update(fields)
    return data


CREATED_TEXT = """{"status": "success", "result": {
  "uuid": "INV-89UX09KA", "created": "2025-03-01 12:00:00.123456",
  "expiry_date": "2025-03-01 13:30:00.123456", "amount": 10.10, "amount_usd": 10.10,
  "fiat_currency": "USD", "status": "created", "link": "https://pay.cryptocloud.plus/89UX09KA",
  "currency": {"code": "USDT", "fullcode": "USDT_TRC20"}, "test_mode": false}}"""


def create(client: CryptoCloudClient, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "order_id": "order-1",
        "amount_usd": Decimal("10.10"),
        "ttl": timedelta(minutes=90),
    }
    return client.create_invoice(**(arguments | overrides))


# --- invoice/create ---------------------------------------------------------------------------


def test_create_posts_json_with_token_shop_id_and_time_to_pay() -> None:
    """create_invoice POSTs the documented JSON body with `Authorization: Token <key>`."""
    client, recorder = make_client(lambda _: raw(200, CREATED_TEXT))
    create(client)
    (request,) = recorder.requests
    assert request.method == "POST"
    assert request.url == f"{BASE_URL}/v2/invoice/create"
    assert request.headers["Authorization"] == f"Token {API_KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content, parse_float=Decimal) == {
        "shop_id": SHOP_ID,
        "amount": Decimal("10.1"),
        "currency": "USD",
        "order_id": "order-1",
        "add_fields": {"time_to_pay": {"hours": 1, "minutes": 30}},
    }


def test_create_passes_locale_as_query_parameter() -> None:
    """A locale travels as `?locale=`, the way the docs put it, and the currency in the body."""
    client, recorder = make_client(lambda _: raw(200, CREATED_TEXT))
    create(client, locale="ru", currency="EUR")
    (request,) = recorder.requests
    assert request.url.params["locale"] == "ru"
    assert recorder.bodies()[0]["currency"] == "EUR"


def test_base_url_path_prefix_is_kept() -> None:
    """A base URL with a path (a proxy mount) keeps its prefix before /v2/."""
    client, recorder = make_client(lambda _: raw(200, CREATED_TEXT), base_url=f"{BASE_URL}/cc/")
    create(client)
    assert recorder.requests[0].url.path == "/cc/v2/invoice/create"


def test_create_returns_bare_uuid_exact_decimals_and_utc_datetimes() -> None:
    """The answer becomes a CreatedInvoice: no INV-, Decimal amounts, aware UTC times."""
    client, _ = make_client(lambda _: raw(200, CREATED_TEXT))
    created = create(client)
    assert created.uuid == "89UX09KA"
    assert created.link == "https://pay.cryptocloud.plus/89UX09KA"
    assert created.amount_usd == Decimal("10.10") and type(created.amount_usd) is Decimal
    assert created.status is InvoiceStatus.CREATED
    assert created.created_at == datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert created.expires_at == datetime(2025, 3, 1, 13, 30, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ttl", "expected"),
    [
        (timedelta(minutes=1), {"hours": 0, "minutes": 1}),
        (timedelta(minutes=59), {"hours": 0, "minutes": 59}),
        (timedelta(hours=1), {"hours": 1, "minutes": 0}),
        (timedelta(hours=24), {"hours": 24, "minutes": 0}),
        (timedelta(days=7, minutes=5), {"hours": 168, "minutes": 5}),
    ],
)
def test_ttl_becomes_hours_and_minutes(ttl: timedelta, expected: dict[str, int]) -> None:
    """The invoice lifetime is sent as whole hours plus the remaining minutes (0-59)."""
    client, recorder = make_client(lambda _: raw(200, CREATED_TEXT))
    create(client, ttl=ttl)
    assert recorder.bodies()[0]["add_fields"]["time_to_pay"] == expected


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"amount_usd": 10.1}, TypeError),
        ({"amount_usd": Decimal("10.001")}, ValueError),
        ({"amount_usd": Decimal("0.00")}, ValueError),
        ({"amount_usd": Decimal("NaN")}, ValueError),
        ({"ttl": timedelta(seconds=90)}, ValueError),
        ({"ttl": timedelta(0)}, ValueError),
        ({"ttl": 60}, TypeError),
        ({"order_id": " "}, ValueError),
        ({"currency": "usd"}, ValueError),
    ],
)
def test_create_refuses_caller_mistakes_before_sending(
    overrides: dict[str, Any], error: type[Exception]
) -> None:
    """Float money, fractions of a cent, odd lifetimes and blank ids never reach the wire."""
    client, recorder = make_client(lambda _: raw(200, CREATED_TEXT))
    with pytest.raises(error):
        create(client, **overrides)
    assert recorder.requests == []


# --- invoice/merchant/info --------------------------------------------------------------------


def echo_known(known: dict[str, dict[str, Any]], *, refuse_mixed: bool = False) -> Handler:
    """A merchant/info answer for the `known` invoices (by bare code).

    Unknown ids are left out, or with `refuse_mixed` the whole batch is refused the way the
    stand-in's `unknown_uuids="error"` mode does.
    """

    def answer(request: httpx.Request) -> httpx.Response:
        asked = [uuid.removeprefix("INV-") for uuid in json.loads(request.content)["uuids"]]
        missing = [code for code in asked if code not in known]
        if missing and (refuse_mixed or len(missing) == len(asked)):
            message = f"Invoices not found: {', '.join(missing)}"
            return httpx.Response(
                400, json={"status": "error", "result": {"validate_error": message}}
            )
        return success([known[code] for code in asked if code in known])

    return answer


def test_info_sends_prefixed_uuids_and_returns_bare_ones() -> None:
    """Ids go out as `INV-XXXXXXXX` whatever form they came in, and come back bare."""
    known = {code: invoice(code) for code in ("AAAA1111", "BBBB2222", "CCCC3333")}
    client, recorder = make_client(echo_known(known))
    states = client.invoice_info(["inv-aaaa1111", "BBBB2222", " INV-CCCC3333 "])
    (request,) = recorder.requests
    assert request.url.path == "/v2/invoice/merchant/info"
    assert request.method == "POST"
    assert request.headers["Authorization"] == f"Token {API_KEY}"
    assert recorder.bodies() == [{"uuids": ["INV-AAAA1111", "INV-BBBB2222", "INV-CCCC3333"]}]
    assert [state.uuid for state in states] == ["AAAA1111", "BBBB2222", "CCCC3333"]


def test_info_batches_250_ids_into_three_calls_of_at_most_100() -> None:
    """250 distinct ids take three calls (100, 100, 50), each id asked once."""
    codes = [f"ID{n:06d}" for n in range(250)]
    client, recorder = make_client(echo_known({code: invoice(code) for code in codes}))
    states = client.invoice_info([*codes, *codes[:10]])
    sizes = [len(body["uuids"]) for body in recorder.bodies()]
    assert sizes == [100, 100, 50] and max(sizes) <= INFO_BATCH_SIZE
    assert [state.uuid for state in states] == codes


def test_info_with_no_ids_makes_no_call() -> None:
    """An empty list of ids answers [] without touching the network."""
    client, recorder = make_client(echo_known({}))
    assert client.invoice_info([]) == []
    assert recorder.requests == []


def test_info_refuses_one_string_and_malformed_ids() -> None:
    """A bare string (not a list) and ids that are not invoice codes are caller mistakes."""
    client, recorder = make_client(echo_known({}))
    with pytest.raises(TypeError):
        client.invoice_info("INV-AAAA1111")
    with pytest.raises(ValueError, match="not an invoice id"):
        client.invoice_info(["INV-"])
    assert recorder.requests == []


def test_info_parses_amounts_exactly_and_reads_every_field() -> None:
    """JSON numbers become exact Decimals; order_id, currency, expiry and test_mode are read."""
    text = """{"status": "success", "result": [{"uuid": "INV-AAAA1111", "status": "partial",
      "order_id": "sub-7", "amount_usd": 19.99, "amount_paid_usd": 12.345678901234567890,
      "received_usd": 1, "fiat_currency": "EUR", "expiry_date": "2025-03-01 13:00:00.000001",
      "test_mode": true}]}"""
    client, _ = make_client(lambda _: raw(200, text))
    (state,) = client.invoice_info(["AAAA1111"])
    assert state == InvoiceState(
        uuid="AAAA1111",
        status=InvoiceStatus.PARTIAL,
        order_id="sub-7",
        amount_usd=Decimal("19.99"),
        paid_usd=Decimal("12.345678901234567890"),
        currency="EUR",
        expires_at=datetime(2025, 3, 1, 13, 0, 0, 1, tzinfo=UTC),
        test_mode=True,
    )
    assert type(state.amount_usd) is Decimal and type(state.paid_usd) is Decimal


@pytest.mark.parametrize(
    ("fields", "paid"),
    [
        ({"amount_paid_usd": 7.5, "received_usd": 9}, Decimal("7.5")),
        ({"amount_paid_usd": None, "received_usd": 9.25}, Decimal("9.25")),
        ({"amount_paid_usd": "4.10"}, Decimal("4.10")),
        ({}, Decimal(0)),
    ],
)
def test_paid_usd_prefers_amount_paid_then_received_then_zero(
    fields: dict[str, Any], paid: Decimal
) -> None:
    """paid_usd is amount_paid_usd, else received_usd, else 0."""
    data = invoice("AAAA1111")
    del data["amount_paid_usd"], data["received_usd"]
    client, _ = make_client(lambda _: success([data | fields]))
    assert client.invoice_info(["AAAA1111"])[0].paid_usd == paid


def test_info_defaults_for_the_sparse_documented_shape() -> None:
    """The docs' older info example (no fiat_currency, null order_id, no test_mode) still reads."""
    sparse = {"uuid": "INV-AAAA1111", "status": "canceled", "amount_usd": 5, "order_id": None}
    client, _ = make_client(lambda _: success([sparse]))
    (state,) = client.invoice_info(["AAAA1111"])
    assert (state.currency, state.order_id, state.expires_at, state.test_mode) == (
        "USD",
        None,
        None,
        False,
    )
    assert state.status is InvoiceStatus.CANCELED


def test_info_all_unknown_batch_answers_empty() -> None:
    """A 400 saying the invoices are not found means: none of these is known."""
    client, _ = make_client(echo_known({}))
    assert client.invoice_info(["AAAA1111", "BBBB2222"]) == []


def test_info_keeps_known_ids_when_the_provider_refuses_a_mixed_batch() -> None:
    """If one unknown id fails the whole batch, the known invoices are still found."""
    known = {code: invoice(code) for code in ("AAAA1111", "CCCC3333", "EEEE5555")}
    client, recorder = make_client(echo_known(known, refuse_mixed=True))
    asked = ["AAAA1111", "BBBB2222", "CCCC3333", "DDDD4444", "EEEE5555"]
    states = client.invoice_info(asked)
    assert [state.uuid for state in states] == ["AAAA1111", "CCCC3333", "EEEE5555"]
    assert len(recorder.requests) < 2 * len(asked)


def test_info_other_validation_errors_are_rejections() -> None:
    """A 400 that does not say "not found" is a rejection, not an empty answer."""
    refusal = {"status": "error", "result": {"validate_error": "Maximum 100 uuids per request"}}
    client, _ = make_client(lambda _: httpx.Response(400, json=refusal))
    with pytest.raises(CryptoCloudRejected, match="Maximum 100 uuids") as caught:
        client.invoice_info(["AAAA1111"])
    assert caught.value.details == {"validate_error": "Maximum 100 uuids per request"}


# --- invoice/merchant/canceled ----------------------------------------------------------------


def test_cancel_posts_prefixed_uuid_and_answers_true() -> None:
    """cancel_invoice POSTs {"uuid": "INV-…"} and answers True on success."""
    client, recorder = make_client(lambda _: success(["ok"]))
    assert client.cancel_invoice("aaaa1111") is True
    (request,) = recorder.requests
    assert request.url.path == "/v2/invoice/merchant/canceled"
    assert request.headers["Authorization"] == f"Token {API_KEY}"
    assert recorder.bodies() == [{"uuid": "INV-AAAA1111"}]


def test_cancel_of_an_invoice_no_longer_created_answers_false() -> None:
    """The documented "Invoice is not created" refusal means False, not an error."""
    refusal = {"status": "error", "result": {"validate_error": "Invoice is not created"}}
    client, _ = make_client(lambda _: httpx.Response(400, json=refusal))
    assert client.cancel_invoice("INV-AAAA1111") is False


def test_cancel_of_an_unknown_invoice_is_rejected() -> None:
    """Cancelling an id the provider does not know is a rejection."""
    refusal = {"status": "error", "result": {"validate_error": "Invoice not found"}}
    client, _ = make_client(lambda _: httpx.Response(400, json=refusal))
    with pytest.raises(CryptoCloudRejected, match="Invoice not found"):
        client.cancel_invoice("AAAA1111")


# --- failures ---------------------------------------------------------------------------------


def fail_with(exception: type[httpx.TransportError], text: str) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        raise exception(text, request=request)

    return answer


UNAVAILABLE: dict[str, Handler] = {
    "connect error": fail_with(httpx.ConnectError, "[Errno 111] Connection refused"),
    "read timeout": fail_with(httpx.ReadTimeout, "timed out"),
    "connect timeout": fail_with(httpx.ConnectTimeout, "timed out"),
    "dropped connection": fail_with(httpx.RemoteProtocolError, "Server disconnected"),
    "500": lambda _: httpx.Response(500, text="Internal Server Error"),
    "502 html": lambda _: raw(502, "<html>Bad Gateway</html>", **{"content-type": "text/html"}),
    "503 envelope": lambda _: httpx.Response(503, json={"status": "error", "result": {}}),
    "429": lambda _: httpx.Response(429, json={"detail": "Too many requests"}),
    "408": lambda _: httpx.Response(408),
}

REJECTED: dict[str, tuple[Handler, int, dict[str, Any], str]] = {
    "400 validation": (
        lambda _: httpx.Response(
            400,
            json={
                "status": "error",
                "result": {"amount": "A valid number is required.", "currency": "Bad choice."},
            },
        ),
        400,
        {"amount": "A valid number is required.", "currency": "Bad choice."},
        "amount: A valid number is required.; currency: Bad choice.",
    ),
    "401 envelope": (
        lambda _: httpx.Response(
            401, json={"status": "error", "result": {"authorization": "Unauthorized request."}}
        ),
        401,
        {"authorization": "Unauthorized request."},
        "authorization: Unauthorized request.",
    ),
    "403 detail": (
        lambda _: httpx.Response(403, json={"detail": "Signature verification failed"}),
        403,
        {"detail": "Signature verification failed"},
        "detail: Signature verification failed",
    ),
    "400 unauthorized envelope": (
        lambda _: httpx.Response(
            400, json={"status": "error", "result": {"authorization": "Unauthorized request."}}
        ),
        400,
        {"authorization": "Unauthorized request."},
        "Unauthorized request.",
    ),
    "404 plain text": (
        lambda _: httpx.Response(404, text="Not Found"),
        404,
        {"body": "Not Found"},
        "Not Found",
    ),
    "422 fastapi detail list": (
        lambda _: httpx.Response(
            422, json={"detail": [{"loc": ["body", "amount"], "msg": "field required"}]}
        ),
        422,
        {"detail": [{"loc": ["body", "amount"], "msg": "field required"}]},
        "detail: field required",
    ),
    "200 error envelope": (
        lambda _: httpx.Response(
            200, json={"status": "error", "result": {"validate_error": "Invoice is frozen"}}
        ),
        200,
        {"validate_error": "Invoice is frozen"},
        "validate_error: Invoice is frozen",
    ),
}

GARBAGE_200: dict[str, tuple[str, str]] = {
    "html": ("<html>maintenance</html>", "body"),
    "empty": ("", "body"),
    "json list": ("[1, 2]", "body"),
    "no status": ('{"result": {}}', "status"),
    "odd status": ('{"status": "ok", "result": {}}', "status"),
    "no result": ('{"status": "success"}', "result"),
    "NaN amount": (
        '{"status": "success", "result": [{"uuid": "INV-AAAA1111", "status": "paid",'
        ' "amount_usd": NaN}]}',
        "body",
    ),
    "result not a list": ('{"status": "success", "result": {"uuid": "INV-AAAA1111"}}', "result"),
    "item not an object": ('{"status": "success", "result": ["INV-AAAA1111"]}', "result[0]"),
}


def call_every_operation(client: CryptoCloudClient) -> Iterator[Callable[[], object]]:
    """The three public calls, each as a thunk."""
    yield lambda: create(client)
    yield lambda: client.invoice_info(["AAAA1111"])
    yield lambda: client.cancel_invoice("AAAA1111")


@pytest.mark.parametrize("case", UNAVAILABLE)
def test_transient_failures_raise_unavailable_on_every_operation(case: str) -> None:
    """Network errors, timeouts, 408, 429 and 5xx are CryptoCloudUnavailable (retry later)."""
    client, _ = make_client(UNAVAILABLE[case])
    for call in call_every_operation(client):
        with pytest.raises(CryptoCloudUnavailable) as caught:
            call()
        assert caught.value.operation in str(caught.value)


def test_429_carries_retry_after() -> None:
    """A 429's Retry-After seconds are kept for the caller's countdown."""
    client, _ = make_client(lambda _: httpx.Response(429, headers={"Retry-After": "7"}))
    with pytest.raises(CryptoCloudUnavailable) as caught:
        client.invoice_info(["AAAA1111"])
    assert caught.value.retry_after == 7.0


@pytest.mark.parametrize("case", REJECTED)
def test_refusals_raise_rejected_with_the_providers_message(case: str) -> None:
    """4xx answers (and an error envelope) are CryptoCloudRejected with code, details, message."""
    answer, status, details, words = REJECTED[case]
    client, _ = make_client(answer)
    for call in call_every_operation(client):
        with pytest.raises(CryptoCloudRejected) as caught:
            call()
        assert caught.value.status_code == status
        assert caught.value.details == details
        assert words in str(caught.value)


@pytest.mark.parametrize("case", GARBAGE_200)
def test_garbage_200_raises_protocol_error_naming_the_field(case: str) -> None:
    """A 200 that is not the success envelope of the right shape is a CryptoCloudProtocolError."""
    text, field = GARBAGE_200[case]
    client, _ = make_client(lambda _: raw(200, text))
    with pytest.raises(
        CryptoCloudProtocolError, match=rf"invoice/merchant/info.*{re.escape(field)}"
    ):
        client.invoice_info(["AAAA1111"])


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"uuid": "INV-"}, "result.uuid"),
        ({"uuid": 12345678}, "result.uuid"),
        ({"link": "javascript:alert(1)"}, "result.link"),
        ({"link": None}, "result.link"),
        ({"amount_usd": "ten"}, "result.amount_usd"),
        ({"amount_usd": -1}, "result.amount_usd"),
        ({"amount_usd": True}, "result.amount_usd"),
        ({"status": "expired"}, "result.status"),
        ({"created": "yesterday"}, "result.created"),
        ({"expiry_date": None}, "result.expiry_date"),
    ],
)
def test_malformed_create_answer_names_the_field(fields: dict[str, Any], named: str) -> None:
    """Each malformed field of a create answer is reported by name."""
    result = json.loads(CREATED_TEXT)["result"] | fields
    client, _ = make_client(lambda _: success(result))
    with pytest.raises(CryptoCloudProtocolError, match=rf"invoice/create.*{named}"):
        create(client)


def test_offset_timestamps_are_converted_to_utc() -> None:
    """A timestamp that does carry an offset is converted, never mislabelled as UTC."""
    result = json.loads(CREATED_TEXT)["result"] | {"created": "2025-03-01T15:00:00+03:00"}
    client, _ = make_client(lambda _: success(result))
    assert create(client).created_at == datetime(2025, 3, 1, 12, tzinfo=UTC)


def test_redirects_are_not_followed() -> None:
    """A redirect (even to another host) is a protocol error; the token never follows it."""
    client, recorder = make_client(
        lambda _: httpx.Response(307, headers={"Location": "https://evil.test/v2/invoice/create"})
    )
    with pytest.raises(CryptoCloudProtocolError, match=r"307.*evil\.test"):
        create(client)
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("status", [301, 308])
@pytest.mark.parametrize(
    ("location", "new_base"),
    [("https://api.trybit.com/v2/invoice/create", "https://api.trybit.com"),
     ("https://trybit.example/api/v2/invoice/create?x=1", "https://trybit.example/api")],
)
def test_moved_api_host_is_one_line_naming_the_new_base(
    status: int, location: str, new_base: str
) -> None:
    """The old host redirecting (CryptoCloud → Trybit): not followed, and one line that names
    the new location and the CRYPTOCLOUD_API_BASE value to set."""
    client, recorder = make_client(
        lambda _: httpx.Response(status, headers={"Location": location}))
    with pytest.raises(CryptoCloudMoved) as moved:
        create(client)
    message = str(moved.value)
    assert "\n" not in message and str(status) in message
    assert f"CRYPTOCLOUD_API_BASE={new_base}" in message and location in message
    assert moved.value.new_base == new_base
    assert len(recorder.requests) == 1


# --- secrets ----------------------------------------------------------------------------------


def every_failure() -> Iterator[tuple[str, Handler]]:
    yield from UNAVAILABLE.items()
    yield from ((name, case[0]) for name, case in REJECTED.items())
    yield from (
        (name, lambda _, text=text: raw(200, text)) for name, (text, _) in GARBAGE_200.items()
    )
    echo = f"Project with shop_id {SHOP_ID} not found; token {API_KEY} invalid"
    yield (
        "echoed secrets",
        lambda _: httpx.Response(
            400, json={"status": "error", "result": {"shop_id": echo, SHOP_ID: [echo]}}
        ),
    )
    yield "echoed in 200", lambda _: success([invoice("AAAA1111", amount_usd=f"{API_KEY}")])
    yield "echoed in network error", fail_with(httpx.ConnectError, f"refused {API_KEY}")


def test_secrets_never_appear_in_errors_or_reprs() -> None:
    """No message, repr, detail or pickled error ever contains the API key or the shop id."""
    seen = 0
    for name, answer in every_failure():
        client, _ = make_client(answer)
        assert API_KEY not in repr(client) and SHOP_ID not in repr(client)
        for call in call_every_operation(client):
            try:
                call()
            except CryptoCloudError as error:
                seen += 1
                text = " ".join(
                    [str(error), repr(error), repr(vars(error)), repr(pickle.dumps(error))]
                )
                assert API_KEY not in text, name
                assert SHOP_ID not in text, name
    assert seen >= 60


def test_echoed_secrets_are_masked_in_messages_and_details() -> None:
    """A provider message that repeats a credential is masked with *** everywhere."""
    echo = f"Project with shop_id {SHOP_ID} not found"
    client, _ = make_client(
        lambda _: httpx.Response(400, json={"status": "error", "result": {"shop_id": echo}})
    )
    with pytest.raises(CryptoCloudRejected) as caught:
        create(client)
    assert caught.value.details == {"shop_id": "Project with shop_id *** not found"}
    assert "shop_id: Project with shop_id *** not found" in str(caught.value)


# --- the error tree and the client's own surface ----------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        CryptoCloudUnavailable("down", operation="invoice/create", retry_after=3.0),
        CryptoCloudRejected(
            "no", operation="invoice/create", status_code=401, details={"detail": "x"}
        ),
        CryptoCloudProtocolError("odd", operation="invoice/merchant/info"),
    ],
)
def test_errors_survive_pickling(error: CryptoCloudError) -> None:
    """A Celery pool child can pickle an error to its parent without losing attributes."""
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert type(copy) is type(error)
    assert str(copy) == str(error) and vars(copy) == vars(error)
    assert isinstance(copy, CryptoCloudError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": "api.cryptocloud.plus"},
        {"base_url": "ftp://api.cryptocloud.plus"},
        {"api_key": SecretStr("")},
        {"shop_id": SecretStr("  ")},
        {"api_key": API_KEY},
    ],
)
def test_constructor_refuses_bad_configuration(kwargs: dict[str, Any]) -> None:
    """A relative or non-HTTP base URL and empty or plain-string secrets fail at start-up."""
    arguments: dict[str, Any] = {
        "base_url": BASE_URL,
        "api_key": SecretStr(API_KEY),
        "shop_id": SecretStr(SHOP_ID),
    }
    with pytest.raises(ValueError) as caught:
        CryptoCloudClient(**(arguments | kwargs))
    assert API_KEY not in str(caught.value)


def test_context_manager_closes_the_transport() -> None:
    """Leaving the `with` block closes the connection pool."""

    class ClosingTransport(httpx.MockTransport):
        closed = False

        def close(self) -> None:
            self.closed = True

    transport = ClosingTransport(lambda _: success(["ok"]))
    with CryptoCloudClient(
        base_url=BASE_URL,
        api_key=SecretStr(API_KEY),
        shop_id=SecretStr(SHOP_ID),
        transport=transport,
    ) as client:
        assert client.cancel_invoice("AAAA1111") is True
    assert transport.closed


def test_both_implementations_satisfy_the_port() -> None:
    """The real client and the fake are both PaymentProviders (checked by mypy here)."""
    providers: list[PaymentProvider] = [FakePaymentProvider(), make_client(echo_known({}))[0]]
    assert all(provider.invoice_info([]) == [] for provider in providers)


# --- the fake ---------------------------------------------------------------------------------

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


def test_fake_records_created_invoices_and_their_state() -> None:
    """The fake keeps each create answer and a created InvoiceState with the order and amount."""
    fake = FakePaymentProvider(clock=lambda: T0)
    created = fake.create_invoice(order_id="sub-1", amount_usd=Decimal("10.00"), ttl=HOUR)
    assert fake.created == [created]
    assert created.expires_at == T0 + HOUR and created.link.endswith(created.uuid)
    assert fake.invoice_info([f"INV-{created.uuid}"]) == [
        InvoiceState(
            uuid=created.uuid,
            status=InvoiceStatus.CREATED,
            order_id="sub-1",
            amount_usd=Decimal("10.00"),
            paid_usd=Decimal(0),
            currency="USD",
            expires_at=T0 + HOUR,
            test_mode=False,
        )
    ]


def test_fake_set_state_defaults_paid_to_the_full_amount() -> None:
    """set_state("paid") without an amount means paid in full; partial takes the given amount."""
    fake = FakePaymentProvider()
    first = fake.create_invoice(order_id="a", amount_usd=Decimal("10.00"), ttl=HOUR).uuid
    second = fake.create_invoice(order_id="b", amount_usd=Decimal("10.00"), ttl=HOUR).uuid
    fake.set_state(first, InvoiceStatus.PAID)
    fake.set_state(second, InvoiceStatus.PARTIAL, paid_usd=Decimal("4.00"))
    states = {state.uuid: state for state in fake.invoice_info([first, second, "UNKNOWN1"])}
    assert states[first].paid_usd == Decimal("10.00")
    assert states[second].paid_usd == Decimal("4.00")
    assert set(states) == {first, second}


def test_fake_fail_next_raises_queued_errors_in_order() -> None:
    """Queued errors are raised by the next calls, one each, then the fake works again."""
    fake = FakePaymentProvider()
    fake.fail_next(CryptoCloudUnavailable("down"), CryptoCloudRejected("no", status_code=401))
    with pytest.raises(CryptoCloudUnavailable):
        fake.invoice_info(["AAAA1111"])
    with pytest.raises(CryptoCloudRejected):
        fake.create_invoice(order_id="a", amount_usd=Decimal("1.00"), ttl=HOUR)
    assert fake.invoice_info(["AAAA1111"]) == []


def test_fake_refuses_the_same_caller_mistakes_as_the_client() -> None:
    """The fake shares the client's argument checks, so unit tests catch the same bugs."""
    fake = FakePaymentProvider()
    with pytest.raises(TypeError):
        fake.create_invoice(order_id="a", amount_usd=10.0, ttl=HOUR)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        fake.create_invoice(order_id="a", amount_usd=Decimal("1.00"), ttl=timedelta(seconds=5))
    assert fake.created == []


# --- one story, two providers: the fake and the stand-in over real HTTP -----------------------


@dataclass(frozen=True)
class Market:
    """A provider plus a way to make the payer send money to one of its invoices."""

    provider: PaymentProvider
    pay: Callable[[str, Decimal | None], object]  # None: exactly what is due


def fake_market() -> Market:
    fake = FakePaymentProvider()

    def pay(uuid: str, amount: Decimal | None) -> None:
        (state,) = fake.invoice_info([uuid])
        paid = state.paid_usd + (state.amount_usd - state.paid_usd if amount is None else amount)
        status = (
            InvoiceStatus.PARTIAL
            if paid < state.amount_usd
            else InvoiceStatus.OVERPAID
            if paid > state.amount_usd
            else InvoiceStatus.PAID
        )
        fake.set_state(uuid, status, paid_usd=paid)

    return Market(fake, pay)


def stand_in_client(sandbox: CryptoCloudSandbox, **overrides: Any) -> CryptoCloudClient:
    """A real client on the stand-in, with its credentials unless overridden."""
    arguments: dict[str, Any] = {
        "base_url": sandbox.base_url,
        "api_key": SecretStr(sandbox.config.api_key),
        "shop_id": SecretStr(sandbox.config.shop_id),
        "timeout": 5.0,
    }
    return CryptoCloudClient(**(arguments | overrides))


@pytest.fixture(params=["fake", "stand-in"])
def market(request: pytest.FixtureRequest) -> Iterator[Market]:
    """The same contract for the fake and for the real client against the stand-in."""
    if request.param == "fake":
        yield fake_market()
        return
    sandbox: CryptoCloudSandbox = request.getfixturevalue("cryptocloud_sandbox")
    with stand_in_client(sandbox) as client:
        yield Market(client, lambda uuid, amount: sandbox.pay(f"INV-{uuid}", amount))


def open_invoice(market: Market, amount: str = "10.00", order_id: str = "sub-1") -> str:
    created = market.provider.create_invoice(
        order_id=order_id, amount_usd=Decimal(amount), ttl=HOUR
    )
    return created.uuid


def test_contract_created_invoice_shows_as_created(market: Market) -> None:
    """A new invoice is `created`, unpaid, with its order id, amount, currency and expiry."""
    created = market.provider.create_invoice(
        order_id="sub-42", amount_usd=Decimal("12.50"), ttl=timedelta(minutes=30)
    )
    assert created.status is InvoiceStatus.CREATED
    assert created.expires_at == created.created_at + timedelta(minutes=30)
    assert created.link.startswith("http") and created.link.endswith(created.uuid)
    (state,) = market.provider.invoice_info([f"INV-{created.uuid}"])
    assert (state.uuid, state.status, state.order_id) == (created.uuid, "created", "sub-42")
    assert (state.amount_usd, state.paid_usd) == (Decimal("12.50"), Decimal(0))
    assert state.currency == "USD"
    assert state.expires_at == created.expires_at


def test_contract_full_payment_shows_as_paid(market: Market) -> None:
    """After the payer pays in full, the invoice is `paid` with paid_usd equal to the amount."""
    uuid = open_invoice(market)
    market.pay(uuid, None)
    (state,) = market.provider.invoice_info([uuid])
    assert (state.status, state.paid_usd) == (InvoiceStatus.PAID, Decimal("10.00"))


def test_contract_underpayment_shows_as_partial(market: Market) -> None:
    """Paying less than the amount leaves the invoice `partial` with what arrived."""
    uuid = open_invoice(market)
    market.pay(uuid, Decimal("4.00"))
    (state,) = market.provider.invoice_info([uuid])
    assert (state.status, state.paid_usd) == (InvoiceStatus.PARTIAL, Decimal("4.00"))


def test_contract_overpayment_shows_as_overpaid(market: Market) -> None:
    """Paying more than the amount makes the invoice `overpaid` with the whole sum received."""
    uuid = open_invoice(market)
    market.pay(uuid, Decimal("11.50"))
    (state,) = market.provider.invoice_info([uuid])
    assert (state.status, state.paid_usd) == (InvoiceStatus.OVERPAID, Decimal("11.50"))


def test_contract_cancel_only_while_created(market: Market) -> None:
    """Cancel answers True once, then False; a paid invoice cannot be canceled either."""
    open_one, paid_one = open_invoice(market, order_id="a"), open_invoice(market, order_id="b")
    market.pay(paid_one, None)
    assert market.provider.cancel_invoice(f"INV-{open_one}") is True
    assert market.provider.cancel_invoice(open_one) is False
    assert market.provider.cancel_invoice(paid_one) is False
    statuses = {s.uuid: s.status for s in market.provider.invoice_info([open_one, paid_one])}
    assert statuses == {open_one: InvoiceStatus.CANCELED, paid_one: InvoiceStatus.PAID}


def test_contract_unknown_ids_are_left_out(market: Market) -> None:
    """Unknown ids are simply absent, alone or next to known ones; cancelling one is refused."""
    uuid = open_invoice(market)
    assert market.provider.invoice_info(["ZZZZ9999"]) == []
    assert [s.uuid for s in market.provider.invoice_info(["ZZZZ9999", uuid])] == [uuid]
    with pytest.raises(CryptoCloudRejected, match="not found"):
        market.provider.cancel_invoice("ZZZZ9999")


# --- the real client against the stand-in only -------------------------------------------------


def test_stand_in_wrong_api_key_is_rejected(cryptocloud_sandbox: CryptoCloudSandbox) -> None:
    """An unknown key gets the 401 envelope, a garbled one the 403 detail: both Rejected."""
    bad_keys = {"not-the-key": 401, "two words": 403}
    for key, status in bad_keys.items():
        with stand_in_client(cryptocloud_sandbox, api_key=SecretStr(key)) as client:
            with pytest.raises(CryptoCloudRejected) as caught:
                client.invoice_info(["AAAA1111"])
            assert caught.value.status_code == status
            assert key not in str(caught.value)


def test_stand_in_wrong_shop_id_is_rejected(cryptocloud_sandbox: CryptoCloudSandbox) -> None:
    """A shop id of another project is a validation refusal naming `shop_id`."""
    client = stand_in_client(cryptocloud_sandbox, shop_id=SecretStr("OTHERSHOP0000001"))
    with client, pytest.raises(CryptoCloudRejected, match="shop_id") as caught:
        client.create_invoice(order_id="a", amount_usd=Decimal("1.00"), ttl=HOUR)
    assert caught.value.status_code == 400 and "OTHERSHOP0000001" not in str(caught.value)


def test_stand_in_full_batches_and_mixed_refusals(cryptocloud_sandbox: CryptoCloudSandbox) -> None:
    """101 ids take two calls the stand-in accepts; its refuse-the-batch mode loses no invoice."""
    with stand_in_client(cryptocloud_sandbox) as client:
        codes = [
            client.create_invoice(order_id=f"o{n}", amount_usd=Decimal("1.00"), ttl=HOUR).uuid
            for n in range(101)
        ]
        assert [s.uuid for s in client.invoice_info(codes)] == codes
        cryptocloud_sandbox.configure(unknown_uuids="error")
        asked = [codes[0], "ZZZZ9999", codes[1], "YYYY8888"]
        assert [s.uuid for s in client.invoice_info(asked)] == [codes[0], codes[1]]
        assert client.invoice_info(["ZZZZ9999"]) == []


def test_stand_in_expiry_cancels_and_currency_converts(
    cryptocloud_sandbox: CryptoCloudSandbox,
) -> None:
    """An EUR invoice reports EUR and its USD value; once its lifetime passes it is canceled."""
    with stand_in_client(cryptocloud_sandbox) as client:
        created = client.create_invoice(
            order_id="eu", amount_usd=Decimal("10.00"), ttl=HOUR, currency="EUR", locale="de"
        )
        assert created.amount_usd == Decimal("10.80")
        cryptocloud_sandbox.advance_clock(HOUR + timedelta(seconds=1))
        (state,) = client.invoice_info([created.uuid])
    assert (state.status, state.currency, state.amount_usd) == ("canceled", "EUR", Decimal("10.8"))
    assert cryptocloud_sandbox.invoice(created.uuid).locale == "de"


def test_stand_in_confirmed_partial_and_test_mode(cryptocloud_sandbox: CryptoCloudSandbox) -> None:
    """A partial the merchant confirms keeps what arrived; test-mode invoices say so."""
    cryptocloud_sandbox.configure(test_mode=True, confirmed_partial_status="paid")
    with stand_in_client(cryptocloud_sandbox) as client:
        uuid = client.create_invoice(order_id="t", amount_usd=Decimal("5.00"), ttl=HOUR).uuid
        cryptocloud_sandbox.pay(uuid, "3.00")
        cryptocloud_sandbox.confirm_partial(uuid)
        (state,) = client.invoice_info([uuid])
    assert (state.status, state.paid_usd, state.test_mode) == ("paid", Decimal("3.0"), True)


def test_nothing_listening_is_unavailable() -> None:
    """A closed port on 127.0.0.1 is a network error: CryptoCloudUnavailable."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = CryptoCloudClient(
        base_url=f"http://127.0.0.1:{port}",
        api_key=SecretStr(API_KEY),
        shop_id=SecretStr(SHOP_ID),
        timeout=2.0,
    )
    with client, pytest.raises(CryptoCloudUnavailable, match="ConnectError") as caught:
        client.invoice_info(["AAAA1111"])
    assert API_KEY not in str(caught.value)
