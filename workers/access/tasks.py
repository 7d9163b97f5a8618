"""Celery tasks of the telegram queue that grant access and vet join requests."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from infra import task_names
from infra.celery_config import MAX_COUNTDOWN
from infra.telegram import TelegramTransient, retry_countdown
from workers import lifecycle  # noqa: F401 - registers the per-process hooks
from workers.access import invites
from workers.context import context
from workers.effects import run_effect


@shared_task(name=task_names.GRANT_INVITE, bind=True)
def grant_invite(self: Task, effect_id: int) -> str:
    return run_effect(self, effect_id, invites.grant_access)


@shared_task(name=task_names.HANDLE_JOIN_REQUEST, bind=True, max_retries=12)
def handle_join_request(self: Task, user_id: int, chat_id: int, invite_link: str | None) -> Any:
    try:
        return invites.handle_join_request(
            context(), user_id=user_id, chat_id=chat_id, invite_link=invite_link
        )
    except TelegramTransient as failure:
        raise self.retry(
            countdown=retry_countdown(failure, self.request.retries, cap=MAX_COUNTDOWN)
        ) from None
