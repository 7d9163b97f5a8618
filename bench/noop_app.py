"""The processing baseline: the project's Celery configuration plus one no-op task.

`celery -A bench.noop_app worker …` with the same flags as the real worker. The configuration is
`create_celery(settings)` itself (acks late, prefetch 1, events on, same queues, the worker
modules included), so the only difference from the real worker is what the task does.
"""

from __future__ import annotations

from infra.celery_config import create_celery
from infra.logging import configure_logging
from infra.settings import settings_or_exit

NOOP = "bench.noop"

settings = settings_or_exit()
configure_logging(settings)
app = create_celery(settings, main="bench")


@app.task(name=NOOP)  # type: ignore[untyped-decorator]
def noop() -> None:
    return None
