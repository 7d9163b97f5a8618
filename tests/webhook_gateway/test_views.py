"""The gateway over its WSGI interface: durable acceptance, refusals, health and metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import structlog.testing
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from infra import task_names
from infra.sandbox.cryptocloud import CryptoCloudSandbox
from infra.settings import load_settings
from models.schema import PaymentEvent
from tests.fixtures import postbacks
from tests.fixtures.processes import serve_wsgi
from webhook_gateway import create_app

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class RecordingProducer:
    """Stands in for the Celery producer: records what would be queued, or fails like Redis."""

    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[tuple[str, list[Any]]] = []
        self.fail = fail

    def send_task(self, name: str, *, args: list[Any], **_: Any) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.sent.append((name, args))


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    """A gateway on a fresh migrated database with a recording producer."""
    settings = load_settings(_env_file=None, database_url=db_url,
                             redis_url="redis://127.0.0.1:1/0")
    app = create_app({"settings": settings, "TESTING": True})
    app.extensions["gateway"]["celery"] = RecordingProducer()
    yield app
    app.extensions["gateway"]["engine"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def events(app: Flask) -> list[PaymentEvent]:
    with app.extensions["gateway"]["sessions"]() as session:
        return list(session.scalars(select(PaymentEvent)))


def test_valid_postback_is_recorded_then_queued(app: Flask, client: FlaskClient) -> None:
    """200 comes after the inbox row exists, and the row's id is what gets queued."""
    answer = client.post("/cryptocloud_webhook",
                         data=postbacks.form_body(postbacks.fields("AB12CD34")), headers=FORM)
    assert answer.status_code == 200
    stored = events(app)
    assert [(e.invoice_uuid, e.reported_status, e.source) for e in stored] == [
        ("AB12CD34", "paid", "postback")
    ]
    assert app.extensions["gateway"]["celery"].sent == [
        (task_names.PROCESS_PAYMENT_EVENT, [stored[0].id])
    ]


def test_duplicates_are_accepted_and_stored_once(app: Flask, client: FlaskClient) -> None:
    """The same postback three times: three 200s, one inbox row."""
    for _ in range(3):
        body = postbacks.form_body(postbacks.fields("AB12CD34"))  # a fresh token each send
        assert client.post("/cryptocloud_webhook", data=body, headers=FORM).status_code == 200
    assert len(events(app)) == 1


def test_json_postbacks_are_accepted(app: Flask, client: FlaskClient) -> None:
    """The JSON format of the project setting works as well as the form one."""
    answer = client.post("/cryptocloud_webhook", json=postbacks.fields("AB12CD34"))
    assert answer.status_code == 200
    assert len(events(app)) == 1


def test_broker_down_still_answers_200_because_the_event_is_durable(
    app: Flask, client: FlaskClient
) -> None:
    """With Redis refusing, the inbox row is the durable record and the answer is still 200."""
    app.extensions["gateway"]["celery"] = RecordingProducer(fail=True)
    answer = client.post("/cryptocloud_webhook",
                         data=postbacks.form_body(postbacks.fields("AB12CD34")), headers=FORM)
    assert answer.status_code == 200
    assert len(events(app)) == 1


def test_database_down_answers_503(app: Flask, client: FlaskClient) -> None:
    """When the event cannot be stored durably the sender is told to retry."""
    from sqlalchemy import create_engine

    broken = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none",
                           connect_args={"connect_timeout": 1})
    app.extensions["gateway"]["engine"] = broken
    answer = client.post("/cryptocloud_webhook",
                         data=postbacks.form_body(postbacks.fields("AB12CD34")), headers=FORM)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"]


def signed_with(mint: Callable[[], str]) -> Callable[[], dict[str, Any]]:
    """Request arguments for a form postback carrying the token `mint()` makes at test time."""
    return lambda: {"data": postbacks.form_body(postbacks.fields("AB12CD34", tok=mint())),
                    "headers": FORM}


@pytest.mark.parametrize(
    ("make_request", "status"),
    [
        (signed_with(lambda: postbacks.token("AB12CD34", key="x" * 40)), 401),
        (signed_with(lambda: postbacks.token("AB12CD34", exp_in=-600)), 401),
        (signed_with(lambda: postbacks.unsigned_token("AB12CD34")), 401),
        (lambda: {"data": b"invoice_id=&token=", "headers": FORM}, 400),
        (lambda: {"data": b"{", "headers": {"Content-Type": "application/json"}}, 400),
        (lambda: {"data": b"x", "headers": {"Content-Type": "text/xml"}}, 415),
        (lambda: {"data": b"a=" + b"b" * 70 * 1024, "headers": FORM}, 413),
    ],
    ids=["wrong-key", "expired", "alg-none", "empty-fields", "bad-json", "xml", "70KiB"],
)
def test_bad_postbacks_change_nothing(
    app: Flask, client: FlaskClient, make_request: Callable[[], dict[str, Any]], status: int
) -> None:
    """Forged, expired, alg-none, malformed, wrong type, 70 KiB: precise status, no row."""
    answer = client.post("/cryptocloud_webhook", **make_request())
    assert answer.status_code == status
    assert answer.is_json and "error" in answer.get_json()
    assert events(app) == []
    assert app.extensions["gateway"]["celery"].sent == []


def test_other_methods_and_paths_are_not_served(client: FlaskClient) -> None:
    """GET on the webhook is 405 and unknown paths 404, both as short JSON."""
    assert client.get("/cryptocloud_webhook").status_code == 405
    assert client.get("/nope").status_code == 404


def test_health_readiness_and_metrics(app: Flask, client: FlaskClient) -> None:
    """healthz is 200; readyz names what is down (Redis here); metrics count outcomes."""
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json() == {"database": "ok", "redis": "unavailable"}
    client.post("/cryptocloud_webhook",
                data=postbacks.form_body(postbacks.fields("AB12CD34")), headers=FORM)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'gateway_postbacks_total{outcome="accepted"}' in text
    assert "gateway_request_seconds_bucket" in text


def test_readyz_is_200_when_everything_answers(db_url: str, redis_url: str) -> None:
    """With a real Redis and database, readiness is 200."""
    settings = load_settings(_env_file=None, database_url=db_url, redis_url=redis_url)
    app = create_app({"settings": settings})
    try:
        answer = app.test_client().get("/readyz")
        assert answer.status_code == 200, answer.get_json()
    finally:
        app.extensions["gateway"]["engine"].dispose()



@pytest.mark.parametrize(("remote", "logged"), [
    ("127.0.0.1", "203.0.113.9"),     # our nginx: the address it appended is the client's
    ("198.51.100.7", "198.51.100.7"),  # anyone else: their X-Forwarded-For is not believed
])
def test_the_client_address_behind_nginx_is_logged(client: FlaskClient, remote: str,
                                                   logged: str) -> None:
    """Behind nginx the real client is logged; a direct caller cannot forge it."""
    with structlog.testing.capture_logs() as logs:
        answer = client.post("/cryptocloud_webhook", data=b"token=forged", headers={
            **FORM, "X-Forwarded-For": "10.9.9.9, 203.0.113.9"},
            environ_base={"REMOTE_ADDR": remote})
    assert answer.status_code in (400, 401, 403)
    assert [entry["remote"] for entry in logs if "remote" in entry] == [logged]


@pytest.mark.parametrize(("expired_ago", "status"), [(10, 200), (60, 401)])
def test_postback_leeway_setting_is_honoured(db_url: str, expired_ago: int, status: int) -> None:
    """With POSTBACK_LEEWAY_SECONDS=30 a token expired 10 s ago is accepted (clock skew) and one
    expired 60 s ago is refused."""
    settings = load_settings(_env_file=None, database_url=db_url,
                             redis_url="redis://127.0.0.1:1/0", postback_leeway_seconds=30)
    app = create_app({"settings": settings, "TESTING": True})
    app.extensions["gateway"]["celery"] = RecordingProducer()
    try:
        tok = postbacks.token("AB12CD34", exp_in=-expired_ago)
        answer = app.test_client().post(
            "/cryptocloud_webhook", headers=FORM,
            data=postbacks.form_body(postbacks.fields("AB12CD34", tok=tok)))
        assert answer.status_code == status
        assert len(events(app)) == (1 if status == 200 else 0)
    finally:
        app.extensions["gateway"]["engine"].dispose()


def test_signed_postback_with_a_nul_byte_is_stored_not_a_503(
    app: Flask, client: FlaskClient
) -> None:
    """A NUL byte in a genuine postback's body does not make the database refuse the row."""
    body = postbacks.form_body(postbacks.fields("AB12CD34")) + b"&note=a%00b\x00"
    assert client.post("/cryptocloud_webhook", data=body, headers=FORM).status_code == 200
    assert len(events(app)) == 1


@pytest.mark.parametrize("id_format", ["plain", "prefixed", "numeric"])
def test_stand_in_postbacks_in_every_id_claim_format_are_accepted_over_http(
    app: Flask, cryptocloud_sandbox: CryptoCloudSandbox, cryptocloud_api: httpx.Client,
    id_format: str,
) -> None:
    """The stand-in's postbacks reach the real gateway over HTTP and are recorded whatever the
    token's `id` holds: the bare code, the INV- uuid or a number (reference §5 decision)."""
    with serve_wsgi(app) as url:
        cryptocloud_sandbox.configure(notify_url=f"{url}/cryptocloud_webhook",
                                      id_claim_format=id_format)
        uuid = cryptocloud_api.post("/v2/invoice/create", json={
            "shop_id": cryptocloud_sandbox.config.shop_id, "amount": 10}).json()["result"]["uuid"]
        cryptocloud_sandbox.pay(uuid)
        delivered = cryptocloud_sandbox.wait_until_idle(timeout=10)
    assert [delivery.status_code for delivery in delivered] == [200]
    assert [(e.invoice_uuid, e.reported_status) for e in events(app)] == [(uuid[4:], "paid")]
