"""Join requests to the chats we sell: the worker vets them against the requester's access.

Sent durably: nobody can repeat a join request that was lost, so while the broker is down it
waits in the bot's spool (bot_frontend/spool.py) instead of being dropped.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.types import ChatJoinRequest

from bot_frontend.producer import Tasks
from infra import task_names
from infra.settings import Settings


async def join_request(request: ChatJoinRequest, tasks: Tasks, settings: Settings) -> None:
    if request.chat.id not in settings.chats:
        return  # not a chat we sell (CHANNEL_ID or a bundle's); someone else manages it
    link = request.invite_link.invite_link if request.invite_link else None
    await tasks.send_durably(task_names.HANDLE_JOIN_REQUEST, request.from_user.id,
                             request.chat.id, link)


def create_router() -> Router:
    """A fresh router with this module's handlers (a router joins one dispatcher only)."""
    router = Router(name="join")
    router.chat_join_request.register(join_request)
    return router
