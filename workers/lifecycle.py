"""Per-process setup and teardown of worker resources, hooked to Celery's signals.

Imported by every tasks module so a worker that loads any of them gets the hooks.
"""

from __future__ import annotations

from typing import Any

from celery.signals import worker_process_init, worker_process_shutdown

from workers import observability  # noqa: F401 - poison-task parking, dead letters, metrics
from workers.context import reset_context


@worker_process_init.connect
def _fresh_resources_after_fork(**_: Any) -> None:
    # Whatever the parent built (it should build nothing) must not be shared with a child.
    reset_context()


@worker_process_shutdown.connect
def _close_resources(**_: Any) -> None:
    reset_context()
