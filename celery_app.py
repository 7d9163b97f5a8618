"""The Celery application: `celery -A celery_app worker|beat|flower|call …`.

Built once from the settings of this process. Task modules are listed in
infra/celery_config.WORKER_MODULES and imported by the worker, not by the doors. A worker or
beat whose PLANS/CHANNEL_ID the database does not hold refuses to start (run `make migrate`).
"""

from __future__ import annotations

from celery import signals
from celery.apps import worker as celery_worker

from infra.celery_config import create_celery
from infra.logging import configure_logging, say_from_signal_handler
from infra.migrate import catalog_or_exit
from infra.settings import settings_or_exit

settings = settings_or_exit()
configure_logging(settings)
app = create_celery(settings)


def keep_one_log_format(**_: object) -> None:
    """Answering this signal keeps Celery from adding its own plain-text handlers (worker, beat)."""
    configure_logging(settings)


def refuse_settings_the_database_does_not_hold(**_: object) -> None:
    """A worker or beat never runs on plans or a channel that `make migrate` has not applied."""
    catalog_or_exit(settings)


signals.setup_logging.connect(keep_one_log_format)
signals.worker_init.connect(refuse_settings_the_database_does_not_hold, weak=False)
signals.beat_init.connect(refuse_settings_the_database_does_not_hold, weak=False)


# The worker's shutdown notices ("worker: Warm shutdown") are written from its signal handlers
# straight to the terminal, past logging; this keeps them in the same format.
celery_worker.safe_say = say_from_signal_handler
