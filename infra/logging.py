"""Structured logging for every process: JSON lines, or a readable console in a terminal.

Context such as invoice, user and task ids is bound with `structlog.contextvars` so that every
line of the payment path carries them without passing loggers around.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from datetime import UTC, datetime

import structlog

from infra.settings import Settings

_HANDLER_NAME = "paywall"  # ours, so a second configuration replaces it instead of doubling
# The renderer of the last configuration, for say_from_signal_handler.
_RENDERER: list[structlog.types.Processor] = [structlog.processors.JSONRenderer()]
_SECRET_FIELDS = ("token", "secret", "api_key", "password", "authorization")


# A Bot API URL carries the token (…/bot<id>:<secret>/getUpdates); libraries put such URLs in
# their error messages (aiogram: "Failed to fetch updates … for http://…/bot…/getUpdates").
_BOT_TOKEN_IN_TEXT = re.compile(r"(?<=/bot)\d+:[A-Za-z0-9_-]+")


def _drop_secrets(
    _logger: object, _method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    # A log line must never carry a credential, whatever a caller passes by mistake.
    for key in list(event):
        if any(marker in key.lower() for marker in _SECRET_FIELDS):
            event[key] = "***"
        elif isinstance(event[key], str) and "/bot" in event[key]:
            event[key] = _BOT_TOKEN_IN_TEXT.sub("***", event[key])
    return event


def configure_logging(settings: Settings) -> None:
    """Configure structlog and the standard library logging once per process."""
    use_json = settings.log_format == "json" or (
        settings.log_format == "auto" and not sys.stderr.isatty()
    )
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
    ]
    _RENDERER[0] = renderer
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelName(settings.log_level)
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        # Not cached: module-level loggers must follow a later reconfiguration (tests capture
        # logs with structlog.testing), and the cost is a dictionary lookup per call.
        cache_logger_on_first_use=False,
    )
    # The standard library's records (Celery's, gunicorn's, aiogram's, warnings) go through the
    # same renderer, so each process writes one format (celery_app answers Celery's
    # setup_logging signal, which keeps Celery from installing its own plain formatter).
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name,
                           structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
    ))
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != _HANDLER_NAME] + [handler]
    root.setLevel(settings.log_level)
    logging.captureWarnings(True)
    # httpx logs full request URLs at INFO, and a Bot API URL contains the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def say_from_signal_handler(message: str, _stream: object = None) -> None:
    """One line in this process's format, written without the logging module's locks.

    For code that runs inside a signal handler (Celery's "worker: Warm shutdown"), where taking
    a logging lock could deadlock; the renderer is a pure function, `os.write` is safe there.
    """
    event: structlog.types.EventDict = {
        "event": message.strip(), "level": "warning",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    line = _RENDERER[0](None, "warning", event)
    text = line.decode() if isinstance(line, bytes) else str(line)
    os.write(sys.__stderr__.fileno() if sys.__stderr__ else 2, f"{text}\n".encode())


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger; call sites bind ids with `.bind(...)` or contextvars."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
