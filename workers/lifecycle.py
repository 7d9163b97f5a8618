"""Per-process setup and teardown of worker resources, hooked to Celery's signals.

Imported by every tasks module so a worker that loads any of them gets the hooks.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery.signals import (
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
)

from workers import observability  # noqa: F401 - poison-task parking, dead letters, metrics
from workers.context import reset_context


@worker_process_init.connect
def _fresh_resources_after_fork(**_: Any) -> None:
    # Whatever the parent built (it should build nothing) must not be shared with a child.
    reset_context()


@worker_process_shutdown.connect
def _close_resources(**_: Any) -> None:
    reset_context()


@task_prerun.connect
def _bind_task_to_logs(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    # Every log line a task writes carries its id and name, next to the invoice and user ids
    # the use cases bind themselves.
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(task_id=task_id, task=getattr(task, "name", None))


@task_postrun.connect
def _unbind_task_from_logs(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()
