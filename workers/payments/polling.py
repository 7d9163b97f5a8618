"""The fallback poll: ask CryptoCloud about the invoices that are due, and feed news onward.

Each run takes the invoices whose `next_poll_at` has come (models.domain.polling says when),
asks about them in merchant/info calls of at most 100 ids, records what changed in the inbox
and stamps each invoice with its next turn, one committed chunk per call: a crash or an outage
mid-run leaves the rest due for the next run. POLL_MAX_CALLS_PER_MINUTE bounds the calls, and a
run stops calling after RUN_SECONDS; what either leaves over waits, oldest-due first, and is
logged.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from infra import task_names
from infra.cryptocloud import CryptoCloudProtocolError, CryptoCloudRejected
from infra.logging import get_logger
from infra.settings import Settings
from models import inbox
from workers.context import WorkerContext
from workers.payments import service

log = get_logger("workers.payments")

POLL_BATCH = 100  # merchant/info takes at most 100 ids per call
# A run stops making calls after this long, well inside the task's soft time limit (90 s), so a
# slow provider leaves invoices due for the next run instead of a run killed mid-call.
RUN_SECONDS = 60.0


@dataclass(frozen=True)
class PollRun:
    calls: int = 0
    asked: int = 0
    news: int = 0  # inbox events queued for processing
    behind: int = 0  # invoices due but left for the next run by the call bound


def calls_per_run(settings: Settings) -> int:
    """The run's share of POLL_MAX_CALLS_PER_MINUTE (one run per POLL_INTERVAL_SECONDS)."""
    return max(1, settings.poll_max_calls_per_minute * settings.poll_interval_seconds // 60)


def poll_due(ctx: WorkerContext, *, now: datetime, every: int | None,
             run_seconds: float = RUN_SECONDS) -> PollRun:
    """One run of the poll at `now`. A run beat fired (`every` seconds apart) takes what is due
    before the middle of the next interval, so an invoice due a moment after this run started
    is not left a whole interval; a run started by hand takes whatever is next."""
    budget = calls_per_run(ctx.settings)
    due_by = None if every is None else now + timedelta(seconds=every / 2)
    with ctx.sessions.begin() as session:
        due = service.invoices_due_for_poll(
            session, now=now, due_by=due_by, limit=budget * POLL_BATCH,
            base=timedelta(seconds=ctx.settings.poll_interval_seconds))
        behind = (service.count_due_for_poll(session, due_by=due_by) - len(due)
                  if due_by is not None and len(due) == budget * POLL_BATCH else 0)
    calls = news = 0
    began = time.monotonic()
    for start in range(0, len(due), POLL_BATCH):
        if calls and time.monotonic() - began > run_seconds:
            behind += len(due) - start
            break
        chunk = due[start : start + POLL_BATCH]
        try:
            news += _ask(ctx, chunk, now=now)
        except (CryptoCloudRejected, CryptoCloudProtocolError) as error:
            # A moved host or revoked key fails every poll alike: one line each time, no dead
            # letter, and the invoices stay due.
            log.error("poll_failed", error=str(error))
            break
        calls += 1
    if behind > 0:
        log.warning("poll_behind", due_left=behind, calls=calls, calls_per_run=budget)
    return PollRun(calls=calls, asked=min(len(due), calls * POLL_BATCH), news=news,
                   behind=behind)


def _ask(ctx: WorkerContext, chunk: list[service.DueInvoice], *, now: datetime) -> int:
    """One merchant/info call about `chunk`; its news recorded and its turns stamped at once."""
    uuids = [due.uuid for due in chunk]
    states = ctx.payments.invoice_info(uuids)
    to_process: list[int] = []
    with ctx.sessions.begin() as session:
        for state in states:
            key = service.poll_report_key(state)
            if key is None:
                continue
            entry = inbox.record_payment_event(
                session, invoice_uuid=state.uuid, reported_status=key, source="poll",
                payload=json.dumps({"uuid": state.uuid, "status": state.status,
                                    "paid_usd": str(state.paid_usd)}),
                now=now,
            )
            if entry.needs_processing:
                to_process.append(entry.id)
        service.expired_unknown_to_provider(
            session, uuids=uuids, answered={state.uuid for state in states}, now=now)
        service.record_polled(session, polled=chunk, now=now)
    for event_id in to_process:
        ctx.send(task_names.PROCESS_PAYMENT_EVENT, event_id)
    return len(to_process)
