"""The Celery task behind /stats: build the report, send the chart, then the figures."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded

from infra import task_names, texts
from infra.celery_config import MAX_COUNTDOWN
from infra.telegram import TelegramTransient, retry_countdown
from workers import lifecycle  # noqa: F401 - registers the per-process hooks
from workers.admin.service import Command
from workers.context import context
from workers.languages import speaking_to_user
from workers.retrying import DB_RETRYING
from workers.stats import service

# The report reads the whole history, so it may run longer than other tasks: as long as a
# retry's longest wait plus this limit stays under the visibility timeout (infra/celery_config).
SOFT_TIME_LIMIT, TIME_LIMIT = 150, 170


@shared_task(name=task_names.ADMIN_STATS, bind=True, soft_time_limit=SOFT_TIME_LIMIT,
             time_limit=TIME_LIMIT, **DB_RETRYING)
def report(self: Task, command: dict[str, Any], day: str | None = None,
           as_of: str | None = None, chart_sent: bool = False) -> str:
    """`day` is the admin's YYYY-MM-DD or None (now); a retry pins `as_of` and `chart_sent`, so
    it reports on the same moment and does not send the chart twice."""
    ctx, cmd = context(), Command(**command)
    with speaking_to_user(ctx.sessions, cmd.actor_id):  # the admin's language
        try:
            built = service.build(ctx, command=cmd, day=day, pinned=as_of, now=datetime.now(UTC))
        except SoftTimeLimitExceeded:
            ctx.telegram.send_message(chat_id=cmd.actor_id, text=texts.STATS_TOO_SLOW)
            return "too slow"
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
