"""The Celery application: `celery -A celery_app worker|beat|flower|call …`.

Built once from the settings of this process. Task modules are listed in
infra/celery_config.WORKER_MODULES and imported by the worker, not by the doors. A worker or
beat whose PLANS/CHANNEL_ID the database does not hold refuses to start (run `make migrate`).
"""

from __future__ import annotations

from typing import Any

from celery.signals import beat_init, worker_init

from infra.celery_config import create_celery
from infra.logging import configure_logging
from infra.migrate import catalog_or_exit
from infra.settings import settings_or_exit

settings = settings_or_exit()
configure_logging(settings)
app = create_celery(settings)


def _refuse_settings_the_database_does_not_hold(**_: Any) -> None:
    catalog_or_exit(settings)


worker_init.connect(_refuse_settings_the_database_does_not_hold, weak=False)
beat_init.connect(_refuse_settings_the_database_does_not_hold, weak=False)
