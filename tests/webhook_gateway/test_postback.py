"""Reading and verifying postbacks: content types, the token, the invoice it names."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.settings import SANDBOX_CRYPTOCLOUD_SECRET_KEY
from tests.fixtures import postbacks
from webhook_gateway.postback import FORM, JSON, PostbackRejected, read_postback

KEYS = [SANDBOX_CRYPTOCLOUD_SECRET_KEY]


def read(content_type: str, body: bytes, keys: list[str] = KEYS):  # type: ignore[no-untyped-def]
    return read_postback(content_type=content_type, body=body, keys=keys, leeway=5)


def test_form_postback_is_read() -> None:
    """A form-encoded postback yields the normalised invoice, its status and order id."""
    got = read(FORM, postbacks.form_body(postbacks.fields("AB12CD34")))
    assert (got.invoice_code, got.reported_status, got.order_id) == ("AB12CD34", "paid", "ord_1")


def test_json_postback_with_nested_info_is_read() -> None:
    """A JSON postback whose invoice_info is an object is read the same way."""
    data = postbacks.fields("AB12CD34", status="overpaid")
    data["invoice_info"] = json.loads(data["invoice_info"])
    got = read(f"{JSON}; charset=utf-8", json.dumps(data).encode())
    assert got.reported_status == "overpaid"


@pytest.mark.parametrize(
    "info",
    ["{'uuid': 'INV-AB12CD34', 'status': 'paid'}", "not json at all", "", "[1, 2]"],
)
def test_invoice_info_is_parsed_leniently(info: str) -> None:
    """A Python-repr or garbled invoice_info never breaks reading; unknown means 'success'."""
    data = postbacks.fields("AB12CD34")
    data["invoice_info"] = info
    got = read(FORM, postbacks.form_body(data))
    assert got.reported_status == ("paid" if info.startswith("{") else "success")


def test_prefixed_id_claim_matches_the_plain_invoice_id() -> None:
    """A token whose id carries INV- still names the invoice given without the prefix."""
    data = postbacks.fields("AB12CD34", tok=postbacks.token("INV-AB12CD34"))
    assert read(FORM, postbacks.form_body(data)).invoice_code == "AB12CD34"


def test_previous_secret_is_accepted_during_a_rotation() -> None:
    """A token signed with the previous key passes when that key is configured too."""
    previous = "the-previous-key-long-enough-for-hs256!"
    current = "the-current-key-for-hs256-signing!!"
    data = postbacks.fields("AB12CD34", tok=postbacks.token("AB12CD34", key=previous))
    assert read(FORM, postbacks.form_body(data), keys=[current, previous]).invoice_code


# Tokens are minted when the test runs (not at collection): they live five minutes.
@pytest.mark.parametrize(
    ("mint", "reason"),
    [
        (lambda: postbacks.token("AB12CD34", key="a-wrong-key-that-is-long-enough-for-hs256"),
         "signature"),
        (lambda: postbacks.token("AB12CD34", exp_in=-60), "expired"),
        (lambda: postbacks.unsigned_token("AB12CD34"), "invalid"),
        (lambda: postbacks.token("AB12CD34", algorithm="HS512"), "invalid"),
        (lambda: postbacks.token("ZZ99ZZ99"), "another invoice"),
        (lambda: postbacks.token("AB12CD34", claims={"exp": None}), "invalid"),
        (lambda: "not.a.jwt", "invalid"),
    ],
    ids=["wrong-key", "expired", "alg-none", "hs512", "other-invoice", "no-exp", "garbage"],
)
def test_bad_tokens_are_refused_with_401(mint: Callable[[], str], reason: str) -> None:
    """Wrong key, expiry, alg none, another algorithm, another invoice, no exp → 401."""
    with pytest.raises(PostbackRejected) as refused:
        read(FORM, postbacks.form_body(postbacks.fields("AB12CD34", tok=mint())))
    assert refused.value.status == 401
    assert reason in refused.value.reason


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("text/plain", b"status=success", 415),
        ("", b"status=success", 415),
        (JSON, b"{not json", 400),
        (JSON, b"[1, 2]", 400),
        (FORM, b"status=success", 400),
        (FORM, b"invoice_id=../../etc&token=x", 400),
        (FORM, b"invoice_id=AB12CD34", 400),
        (FORM, b"\xff\xfe", 400),
        (FORM, b"a" * (64 * 1024 + 1), 413),
    ],
)
def test_malformed_postbacks_get_a_precise_status(
    content_type: str, body: bytes, status: int
) -> None:
    """Unsupported types 415, malformed bodies 400, oversized 413 — never an exception."""
    with pytest.raises(PostbackRejected) as refused:
        read(content_type, body)
    assert refused.value.status == status


@pytest.mark.parametrize(
    ("claims", "shape"),
    [
        ({"id": 13}, "number"),
        ({"id": None}, "absent"),
        ({"id": "13"}, "text, not an invoice code"),
        ({"id": None, "uuid": "INV-AB12CD34"}, "invoice code"),
        ({"id": ["AB12CD34"]}, "list"),
    ],
    ids=["numeric", "absent", "short-text", "uuid-claim", "list"],
)
def test_token_claims_that_name_no_invoice_are_accepted(
    claims: dict[str, object], shape: str
) -> None:
    """A well-signed, unexpired token whose claim is numeric (the docs' own example), absent or
    not an invoice code is authentic (reference §5 decision); its shape is reported."""
    data = postbacks.fields("AB12CD34", tok=postbacks.token("AB12CD34", claims=claims))
    got = read(FORM, postbacks.form_body(data))
    assert (got.invoice_code, got.claim_shape) == ("AB12CD34", shape)


def test_uuid_claim_naming_another_invoice_is_refused() -> None:
    """A `uuid` claim that reads as another invoice's code is refused like an `id` one."""
    tok = postbacks.token("AB12CD34", claims={"id": None, "uuid": "INV-ZZ99ZZ99"})
    with pytest.raises(PostbackRejected) as refused:
        read(FORM, postbacks.form_body(postbacks.fields("AB12CD34", tok=tok)))
    assert (refused.value.status, refused.value.reason) == (401, "token is for another invoice")


@pytest.mark.parametrize("opening", ["[", '{"a":'], ids=["lists", "objects"])
def test_deeply_nested_json_is_a_400_not_a_crash(opening: str) -> None:
    """60 KB of nesting exhausts the JSON parser's stack: a precise 400, never a RecursionError."""
    body = (opening * (60 * 1024 // len(opening))).encode()
    with pytest.raises(PostbackRejected) as refused:
        read(JSON, body)
    assert refused.value.status == 400


def test_nul_bytes_never_reach_the_stored_body() -> None:
    """A signed postback carrying a NUL byte is kept with the NUL replaced (PostgreSQL text
    cannot hold one, and the answer must not become a 503)."""
    body = postbacks.form_body(postbacks.fields("AB12CD34")) + b"&note=a\x00b"
    assert "\x00" not in read(FORM, body).raw_body


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(content_type=st.sampled_from([FORM, JSON, f"{JSON}; charset=utf-8", "text/plain", ""]),
       body=st.binary(max_size=512))
def test_any_bytes_are_read_or_refused_precisely(content_type: str, body: bytes) -> None:
    """Whatever bytes arrive under whatever type, reading either succeeds or refuses with a
    4xx: no other exception can escape to become a 500."""
    try:
        read(content_type, body)
    except PostbackRejected as refused:
        assert 400 <= refused.status < 500


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(st.sampled_from(["invoice_id", "token", "invoice_info", "order_id",
                                             "status"]), JSON_VALUES),
       form=st.booleans())
def test_any_field_values_are_read_or_refused_precisely(data: dict[str, object],
                                                        form: bool) -> None:
    """Any JSON values in the postback's fields, in either encoding: a Postback or a 4xx."""
    body = (postbacks.form_body({k: json.dumps(v) for k, v in data.items()}) if form
            else json.dumps(data).encode())
    try:
        read(FORM if form else JSON, body)
    except PostbackRejected as refused:
        assert 400 <= refused.status < 500
