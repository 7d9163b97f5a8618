"""The ingress baseline: a bare Flask app with one POST route answering 200.

Same gunicorn flags as the gateway; it reads the body (as the gateway does) and does nothing
else. Served as `bench.bare_app:app`.
"""

from __future__ import annotations

from flask import Flask, request

app = Flask(__name__)


@app.post("/cryptocloud_webhook")
def bare() -> tuple[dict[str, str], int]:
    request.get_data(cache=False)
    return {"message": "Postback received"}, 200


@app.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    return {"status": "ok"}, 200
