"""Celery tasks that deliver messages from the outbox: one by one (telegram queue) or in a wave
(bulk queue, the send budget's bulk lane)."""

from __future__ import annotations

from celery import Task, shared_task

from infra import task_names
from workers import lifecycle  # noqa: F401 - registers the per-process hooks
from workers.effects import run_effect
from workers.notifications import service


@shared_task(name=task_names.SEND_MESSAGE, bind=True)
def send_message(self: Task, effect_id: int) -> str:
    return run_effect(self, effect_id, service.send_message)


@shared_task(name=task_names.SEND_BULK_MESSAGE, bind=True)
def send_bulk_message(self: Task, effect_id: int) -> str:
    return run_effect(self, effect_id, service.send_bulk_message)
