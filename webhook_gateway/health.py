"""Liveness, readiness and metrics routes."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from infra.db import ping
from webhook_gateway.metrics import render

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    return {"status": "alive"}, 200


@blueprint.get("/readyz")
def readyz() -> tuple[dict[str, str], int]:
    gateway = current_app.extensions["gateway"]
    checks = {"database": "ok", "redis": "ok"}
    try:
        ping(gateway["engine"])
    except SQLAlchemyError:
        checks["database"] = "unavailable"
    client = Redis.from_url(gateway["settings"].broker_url, socket_timeout=1,
                            socket_connect_timeout=1)
    try:
        client.ping()
    except RedisError:
        checks["redis"] = "unavailable"
    finally:
        client.close()
    ready = all(value == "ok" for value in checks.values())
    return checks, 200 if ready else 503


@blueprint.get("/metrics")
def metrics() -> Response:
    body, content_type = render()
    return Response(body, content_type=content_type)
