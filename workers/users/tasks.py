"""Celery tasks for what a subscriber does in the bot: thin wrappers around users.service."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from celery import shared_task

from infra import task_names
from workers import lifecycle  # noqa: F401 - registers the per-process hooks
from workers.context import context
from workers.dispatch import dispatch
from workers.retrying import DB_RETRYING
from workers.users import service


def _now() -> datetime:
    return datetime.now(UTC)


@shared_task(name=task_names.REGISTER_USER, **DB_RETRYING)
def register(profile: dict[str, Any], referrer_id: int | None = None) -> bool:
    with context().sessions.begin() as session:
        return service.register(session, profile=service.Profile(**profile),
                                referrer_id=referrer_id, now=_now())


@shared_task(name=task_names.SET_LANGUAGE, **DB_RETRYING)
def set_language(profile: dict[str, Any], language: str) -> bool:
    with context().sessions.begin() as session:
        return service.set_language(session, profile=service.Profile(**profile),
                                    language=language, now=_now())


@shared_task(name=task_names.ACCEPT_TERMS, **DB_RETRYING)
def accept_terms(profile: dict[str, Any]) -> None:
    with context().sessions.begin() as session:
        service.accept_terms(session, profile=service.Profile(**profile), now=_now())


@shared_task(name=task_names.START_TRIAL, **DB_RETRYING)
def start_trial(user: int | dict[str, Any], request_key: str) -> int:
    """`user` is the Telegram profile the bot saw (older bots sent the bare id)."""
    ctx = context()
    with ctx.sessions.begin() as session:
        user_id = service.known_user(session, user=user, now=_now())
        effects = service.start_trial(session, user_id=user_id, chat_id=ctx.settings.channel,
                                      days=ctx.settings.trial_days, request_key=request_key,
                                      now=_now())
    dispatch(effects)
    return len(effects)


@shared_task(name=task_names.RESEND_INVITE, **DB_RETRYING)
def resend_invite(user_id: int, request_key: str, chat_id: int | None = None) -> int:
    """Resend the invite to `chat_id` (a bundle's chat), or to CHANNEL_ID when none is named."""
    ctx = context()
    chat = ctx.settings.channel if chat_id is None else int(chat_id)
    with ctx.sessions.begin() as session:
        effects = service.resend_invite(session, user_id=user_id, chat_id=chat,
                                        request_key=request_key, grace=ctx.settings.grace,
                                        now=_now())
    dispatch(effects)
    return len(effects)
