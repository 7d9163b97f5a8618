"""The webhook gateway: a thin Flask door for CryptoCloud postbacks, health and metrics.

It verifies a postback, records it durably in the payment inbox and queues its processing; it
never calls CryptoCloud or Telegram inside a request. `create_app()` is what gunicorn serves.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException

from infra.celery_config import create_celery
from infra.db import create_engine, make_session_factory
from infra.logging import configure_logging
from infra.migrate import catalog_or_exit
from infra.settings import Settings, settings_or_exit
from infra.task_publisher import TaskPublisher
from webhook_gateway.postback import MAX_BODY_BYTES
from webhook_gateway.proxies import TrustedProxies


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the gateway; `test_config` may carry `settings` and overrides of Flask config."""
    config = dict(test_config or {})
    settings: Settings | None = config.pop("settings", None)
    if settings is None:  # started from the environment (gunicorn): the real process start
        settings = settings_or_exit()
        catalog_or_exit(settings)
    configure_logging(settings)

    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, JSON_SORT_KEYS=False, **config)
    app.wsgi_app = TrustedProxies(app.wsgi_app, trusted=settings.trusted_proxies)  # type: ignore[method-assign]
    engine = create_engine(settings.database_url)
    app.extensions["gateway"] = {
        "settings": settings,
        "engine": engine,
        "sessions": make_session_factory(engine),
        # What queues tasks: Celery's own messages, through its producer pool.
        "celery": TaskPublisher(create_celery(settings, main="webhook_gateway")),
    }

    from webhook_gateway import health, views

    app.register_blueprint(views.blueprint)
    app.register_blueprint(health.blueprint)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[dict[str, str], int]:
        # Every refusal is a short JSON body; nothing about the request is echoed back.
        return {"error": error.name}, error.code or 500

    return app
