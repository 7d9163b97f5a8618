"""Structured logging for every process: JSON lines, or a readable console in a terminal.

Context such as invoice, user and task ids is bound with `structlog.contextvars` so that every
line of the payment path carries them without passing loggers around.
"""

from __future__ import annotations

import logging
import sys

import structlog

from infra.settings import Settings

_SECRET_FIELDS = ("token", "secret", "api_key", "password", "authorization")


def _drop_secrets(
    _logger: object, _method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    # A log line must never carry a credential, whatever a caller passes by mistake.
    for key in list(event):
        if any(marker in key.lower() for marker in _SECRET_FIELDS):
            event[key] = "***"
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
    logging.basicConfig(level=settings.log_level, stream=sys.stderr, format="%(message)s")
    # httpx logs full request URLs at INFO, and a Bot API URL contains the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger; call sites bind ids with `.bind(...)` or contextvars."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
