"""`gunicorn --logger-class infra.gunicorn_logging.OneFormat`: gunicorn's own lines, ours.

Gunicorn writes its error log ("Booting worker", "Handling signal") and its access log through
handlers and formats of its own. This class keeps gunicorn's loggers but hands their records
to the root logger that `configure_logging` sets up, so the gateway's process (master and
workers alike) writes one format: the same JSON lines (or console) as every other process.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from infra.logging import configure_logging
from infra.settings import settings_or_exit


class OneFormat(Logger):  # type: ignore[misc]  # gunicorn ships no type hints
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        configure_logging(settings_or_exit())
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                if getattr(handler, "_gunicorn", False):
                    log.removeHandler(handler)
            log.propagate = True
