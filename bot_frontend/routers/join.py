"""Join requests to the channel: the worker vets them against the requester's access."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import ChatJoinRequest

from bot_frontend.producer import Tasks
from infra import task_names
from infra.settings import Settings


async def join_request(request: ChatJoinRequest, tasks: Tasks, settings: Settings) -> None:
    if request.chat.id != settings.channel:
        return  # not a chat we sell; someone else manages it
    link = request.invite_link.invite_link if request.invite_link else None
    await tasks.send(task_names.HANDLE_JOIN_REQUEST, request.from_user.id, request.chat.id, link)


def create_router() -> Router:
    """A fresh router with this module's handlers (a router joins one dispatcher only)."""
    router = Router(name="join")
    router.chat_join_request.register(join_request)
    return router
