"""The Celery task behind /stats: build the report, send the chart, then the figures."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from celery import Task, shared_task

from infra import task_names
from infra.celery_config import MAX_COUNTDOWN
from infra.telegram import TelegramTransient, retry_countdown
from workers import lifecycle  # noqa: F401 - registers the per-process hooks
from workers.admin.service import Command
from workers.context import context
from workers.retrying import DB_RETRYING
from workers.stats import service


@shared_task(name=task_names.ADMIN_STATS, bind=True, **DB_RETRYING)
def report(self: Task, command: dict[str, Any], day: str | None = None,
           as_of: str | None = None, chart_sent: bool = False) -> str:
    """`day` is the admin's YYYY-MM-DD or None (now); a retry pins `as_of` and `chart_sent`, so
    it reports on the same moment and does not send the chart twice."""
    ctx, cmd = context(), Command(**command)
    built = service.build(ctx, command=cmd, day=day, pinned=as_of, now=datetime.now(UTC))
    if built is None:
        return "not sent"
    try:
        if not chart_sent:
            service.send_chart(ctx, command=cmd, built=built)
            chart_sent = True
        service.send_figures(ctx, command=cmd, built=built)
    except TelegramTransient as failure:
        raise self.retry(
            kwargs={"command": command, "day": day, "as_of": built.as_of.isoformat(),
                    "chart_sent": chart_sent},
            countdown=retry_countdown(failure, self.request.retries, cap=MAX_COUNTDOWN),
        ) from None
    return built.as_of.isoformat()
