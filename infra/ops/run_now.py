"""`run expiry-sweep|reminders|poll`: a periodic job now, in this process, told in words.

The sandbox page's operator buttons call it: `celery call` only prints a task id, while a person
pressing "Run the expiry sweep now" wants to read "removed 1 subscriber". The job is the very
Celery task beat runs, applied here against this process's own resources; the Telegram effects
it produces go to the workers through the broker, as always.
"""

from __future__ import annotations

import importlib
from typing import Any

from infra import task_names, texts
from infra.celery_config import WORKER_MODULES
from infra.ops.tools import OK, Tools
from workers.context import build_context, use_context

JOBS = {
    "expiry-sweep": task_names.EXPIRE_SUBSCRIPTIONS,
    "reminders": task_names.SEND_RENEWAL_REMINDERS,
    "poll": task_names.POLL_PENDING_INVOICES,
}


def run_job(tools: Tools, *, job: str) -> int:
    for module in WORKER_MODULES:  # registers the tasks with the producer's app
        importlib.import_module(module)
    app = tools.producer
    ctx = build_context(tools.settings)
    try:
        with use_context(ctx):
            result: Any = app.tasks[JOBS[job]].apply(throw=True).get()
    finally:
        ctx.close()
    tools.say(texts.job_report(job, result))
    return OK
