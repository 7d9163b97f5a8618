"""The Celery application: `celery -A celery_app worker|beat|flower|call …`.

Built once from the settings of this process. Task modules are listed in
infra/celery_config.WORKER_MODULES and imported by the worker, not by the doors.
"""

from __future__ import annotations

from infra.celery_config import create_celery
from infra.logging import configure_logging
from infra.settings import settings_or_exit

settings = settings_or_exit()
configure_logging(settings)
app = create_celery(settings)
