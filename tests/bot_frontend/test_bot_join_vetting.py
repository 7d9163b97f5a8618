"""Join vetting through the product: a chat_join_request update, the bot, then the worker task."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram.methods import ApproveChatJoinRequest, DeclineChatJoinRequest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra.settings import SANDBOX_CHANNEL_ID
from models.schema import InviteLink
from tests.bot_frontend.harness import BotHarness
from tests.workers.harness import add_user, make_pipeline, paid_with_invite
from workers.context import use_context

pytestmark = pytest.mark.anyio
PAYER, STRANGER, FREELOADER = 7401, 7402, 7403


async def test_the_payer_is_let_in_and_nobody_else(
    harness: BotHarness, db_url: str, engine: Any, session_factory: sessionmaker[Session],
) -> None:
    """Paid owner through their link: approved; no access, or someone else's link: declined."""
    workers = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine)
    with use_context(workers):
        paid_with_invite(workers, PAYER, chat_id=SANDBOX_CHANNEL_ID)
        workers.drain()  # the invite is minted and sent
        add_user(session_factory, STRANGER)
        add_user(session_factory, FREELOADER)
        with session_factory() as session:
            link = session.scalars(select(InviteLink.link)).one()

        await harness.join(STRANGER, SANDBOX_CHANNEL_ID, None)
        await harness.join(FREELOADER, SANDBOX_CHANNEL_ID, link)  # a forwarded link
        await harness.join(PAYER, SANDBOX_CHANNEL_ID, link)
        for name, args in harness.tasks:
            workers.send(name, *args)
        outcomes = [outcome for _, outcome in workers.drain()]

    assert outcomes == ["declined", "declined", "approved"]
    telegram = workers.telegram
    assert [c.user_id for c in telegram.calls_of("approveChatJoinRequest")
            if isinstance(c, ApproveChatJoinRequest)] == [PAYER]
    assert [c.user_id for c in telegram.calls_of("declineChatJoinRequest")
            if isinstance(c, DeclineChatJoinRequest)] == [STRANGER, FREELOADER]
    assert telegram.members[SANDBOX_CHANNEL_ID, PAYER] == "member"
    assert (SANDBOX_CHANNEL_ID, FREELOADER) not in telegram.members
