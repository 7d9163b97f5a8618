"""/broadcast and /broadcast_status through the real dispatcher: every step a button press."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram.methods import AnswerCallbackQuery, SendMessage, SendPhoto
from aiogram.types import InlineKeyboardMarkup, Message, PhotoSize, Update
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from models.schema import Access, Broadcast, BroadcastRecipient, TelegramEffect
from tests.bot_frontend.conftest import ADMIN, add_user
from tests.bot_frontend.harness import BotHarness

pytestmark = pytest.mark.anyio
CHAT = -1001000000001  # the sandbox channel the settings name
NOW = datetime.now(UTC)
ANN, BOB, CID, DOT = 701, 702, 703, 704


@pytest.fixture
def audience(harness: BotHarness, session_factory: sessionmaker[Session]) -> BotHarness:
    """Two paying subscribers (one ending in 5 days), one on trial, one who never had access."""
    for user_id in (ANN, BOB, CID, DOT):
        add_user(session_factory, user_id)
    with session_factory.begin() as session:
        for user_id, ends, trial in ((ANN, NOW + timedelta(days=20), False),
                                     (BOB, NOW + timedelta(days=5), False),
                                     (CID, NOW + timedelta(days=2), True)):
            session.add(Access(user_id=user_id, chat_id=CHAT, paid_through=ends,
                               status="trialing" if trial else "active", is_trial=trial,
                               created_at=NOW, updated_at=NOW))
    return harness


def data_of(harness: BotHarness, label: str) -> str:
    """The callback data of the last keyboard's button labelled `label` (pressed, not read)."""
    for row in harness.last_markup().inline_keyboard:
        for button in row:
            if button.text == label and button.callback_data:
                return button.callback_data
    raise AssertionError(f"no button {label!r} in {harness.last_markup()}")


async def tap(harness: BotHarness, label: str) -> str:
    return await harness.press(ADMIN, data_of(harness, label))


def alerts(harness: BotHarness) -> list[str | None]:
    return [a.text for a in harness.callback_answers() if a.show_alert]


async def send_photo(harness: BotHarness, caption: str) -> None:
    """The admin sends a photo with `caption` (Telegram gives sizes, largest last)."""
    base = harness._message(ADMIN, "")
    sizes = [PhotoSize(file_id=f"photo-{side}", file_unique_id=f"u{side}", width=side,
                       height=side) for side in (90, 800)]
    message = Message(message_id=base.message_id, date=base.date, chat=base.chat,
                      from_user=base.from_user, photo=sizes, caption=caption)
    await harness.dp.feed_update(harness.bot, Update(update_id=next(harness._update_ids),
                                                     message=message))


async def test_segment_message_preview_confirm(audience: BotHarness) -> None:
    """Segment → message with a button line → the message as it will look and the count →
    Confirm sends one broadcasts.start task with the draft."""
    await audience.send(ADMIN, "/broadcast")
    assert audience.last_reply() == texts.BROADCAST_CHOOSE_SEGMENT
    await tap(audience, texts.segment_name("active"))
    assert audience.last_reply() == texts.BROADCAST_ASK_MESSAGE
    await audience.send(ADMIN, "Big news!\nRenew - https://example.com/renew")

    preview, summary = [m for m in audience.session.requests if isinstance(m, SendMessage)][-2:]
    assert preview.text == "Big news!"
    assert isinstance(preview.reply_markup, InlineKeyboardMarkup)
    [[button]] = preview.reply_markup.inline_keyboard
    assert (button.text, button.url) == ("Renew", "https://example.com/renew")
    assert summary.text == texts.broadcast_preview(segment="active", days=None, recipients=2)
    assert audience.tasks == []

    await tap(audience, texts.CONFIRM_BUTTON)
    assert audience.last_reply() == texts.BROADCAST_QUEUED
    [(name, [command, draft])] = audience.tasks
    assert name == task_names.BROADCAST_START
    assert command["actor_id"] == ADMIN and command["text"] == "/broadcast"
    assert draft == {"segment": "active", "days": None, "text": "Big news!", "photo": None,
                     "buttons": [["Renew", "https://example.com/renew"]]}


async def test_a_second_confirm_starts_nothing_new(audience: BotHarness) -> None:
    """Confirm pressed twice: one task (the conversation is over) and an alert that says so."""
    await audience.send(ADMIN, "/broadcast")
    await tap(audience, texts.segment_name("all"))
    await audience.send(ADMIN, "Hello")
    confirm = data_of(audience, texts.CONFIRM_BUTTON)
    await audience.press(ADMIN, confirm)
    await audience.press(ADMIN, confirm)
    assert [name for name, _ in audience.tasks] == [task_names.BROADCAST_START]
    assert alerts(audience) == [texts.BROADCAST_EXPIRED]
    [(_, [command, _draft])] = audience.tasks
    # The conversation's key: a redelivered task finds the broadcast it already started.
    assert command["request_key"] == f"broadcast:{ADMIN}:1"


async def test_expiring_asks_for_the_days_and_counts_by_them(audience: BotHarness) -> None:
    """Expiring within N days: N is asked (nonsense refused), and the count follows N."""
    await audience.send(ADMIN, "/broadcast")
    await tap(audience, texts.segment_name("expiring"))
    assert audience.last_reply() == texts.BROADCAST_ASK_DAYS
    for bad in ("soon", "0", "366", "-1"):
        await audience.send(ADMIN, bad)
        assert audience.last_reply() == texts.BROADCAST_BAD_DAYS
    await audience.send(ADMIN, "7")
    assert audience.last_reply() == texts.BROADCAST_ASK_MESSAGE
    await audience.send(ADMIN, "Your access ends soon")
    assert audience.last_reply() == texts.broadcast_preview(segment="expiring", days=7,
                                                            recipients=2)
    await tap(audience, texts.CONFIRM_BUTTON)
    [(_, [_, draft])] = audience.tasks
    assert (draft["segment"], draft["days"]) == ("expiring", 7)


async def test_a_photo_with_a_caption_is_previewed_as_a_photo(audience: BotHarness) -> None:
    """A photo message: the preview is the photo (largest size) with its caption and buttons."""
    await audience.send(ADMIN, "/broadcast")
    await tap(audience, texts.segment_name("never_paid"))
    await send_photo(audience, "Look at this\nOpen - https://example.com/x")
    [photo] = [m for m in audience.session.requests if isinstance(m, SendPhoto)]
    assert (photo.photo, photo.caption) == ("photo-800", "Look at this")
    assert isinstance(photo.reply_markup, InlineKeyboardMarkup)
    assert audience.last_reply() == texts.broadcast_preview(segment="never_paid", days=None,
                                                            recipients=4)
    await tap(audience, texts.CONFIRM_BUTTON)
    [(_, [_, draft])] = audience.tasks
    assert (draft["photo"], draft["text"]) == ("photo-800", "Look at this")


async def test_a_message_that_cannot_be_sent_is_asked_again(audience: BotHarness) -> None:
    """A malformed button line is explained, and the conversation waits for a better one."""
    await audience.send(ADMIN, "/broadcast")
    await tap(audience, texts.segment_name("all"))
    await audience.send(ADMIN, "Hi\n" + "T" * 70 + " - https://example.com")
    assert audience.last_reply() == texts.BROADCAST_MESSAGE_REFUSED["bad_button"]
    await audience.send(ADMIN, "Hi")
    assert audience.last_reply().startswith("Above is the message")


async def test_cancel_sends_nothing(audience: BotHarness) -> None:
    """Cancel at the preview ends the conversation; its Confirm then only explains."""
    await audience.send(ADMIN, "/broadcast")
    await tap(audience, texts.segment_name("trialing"))
    await audience.send(ADMIN, "Hi")
    confirm = data_of(audience, texts.CONFIRM_BUTTON)
    await tap(audience, texts.CANCEL_BUTTON)
    assert audience.last_reply() == texts.BROADCAST_CANCELED
    await audience.press(ADMIN, confirm)
    assert audience.tasks == []
    assert alerts(audience) == [texts.BROADCAST_EXPIRED]


async def test_a_non_admin_is_refused_and_audited(audience: BotHarness) -> None:
    """/broadcast from a subscriber: the refusal, an audit task, no conversation."""
    await audience.send(ANN, "/broadcast")
    assert audience.last_reply() == texts.ADMIN_REFUSED
    assert [name for name, _ in audience.tasks] == [task_names.ADMIN_AUDIT]
    await audience.send(ANN, "/broadcast_status")
    assert audience.last_reply() == texts.ADMIN_REFUSED


def add_broadcast(sessions: sessionmaker[Session], *, status: str,
                  outcomes: list[str]) -> int:
    with sessions.begin() as session:
        broadcast = Broadcast(request_key=f"k{status}", admin_id=ADMIN, segment="all",
                              text="Hi", status=status, total=len(outcomes), created_at=NOW,
                              updated_at=NOW)
        session.add(broadcast)
        session.flush()
        for user_id, outcome in enumerate(outcomes, start=1):
            session.add(BroadcastRecipient(broadcast_id=broadcast.id, user_id=user_id,
                                           status=outcome))
        return broadcast.id


async def test_status_shows_progress_with_stop_and_resume(
        harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """/broadcast_status: counts per broadcast; Stop on the sending one, Resume on the stopped
    one, each pressed sends its task."""
    await harness.send(ADMIN, "/broadcast_status")
    assert harness.last_reply() == texts.NO_BROADCASTS
    stopped = add_broadcast(session_factory, status="stopped",
                            outcomes=["sent", "pending", "blocked"])
    sending = add_broadcast(session_factory, status="sending",
                            outcomes=["sent", "sent", "failed", "pending"])
    await harness.send(ADMIN, "/broadcast_status")
    reply = harness.last_reply()
    assert f"#{sending} sending" in reply and "sent 2, failed 1, blocked 0, left 1 (of 4)" in reply
    assert f"#{stopped} stopped" in reply and "sent 1, failed 0, blocked 1, left 1 (of 3)" in reply

    await tap(harness, f"{texts.BROADCAST_STOP_BUTTON} #{sending}")
    await harness.send(ADMIN, "/broadcast_status")
    await tap(harness, f"{texts.BROADCAST_RESUME_BUTTON} #{stopped}")
    sent = [(name, args[1]) for name, args in harness.tasks]
    assert sent == [(task_names.BROADCAST_STOP, sending), (task_names.BROADCAST_RESUME, stopped)]
    answers = [a.text for a in harness.callback_answers()]
    assert answers == [texts.BROADCAST_STOPPING, texts.BROADCAST_RESUMING]


async def test_the_stop_button_the_worker_sends_stops_that_broadcast(
        harness: BotHarness, db_url: str, engine: Any,
        session_factory: sessionmaker[Session]) -> None:
    """The progress message the worker writes carries a Stop button the bot answers."""
    from models.domain.segments import Audience, Segment
    from tests.workers.harness import make_pipeline
    from workers.admin.service import Command
    from workers.broadcasts import service

    add_user(session_factory, ANN)
    ctx = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine,
                        admin_ids=str(ADMIN))
    with session_factory.begin() as session:
        outcome = service.start(
            session, command=Command(actor_id=ADMIN, text="/broadcast", request_key="k1"),
            draft=service.Draft(audience=Audience(segment=Segment.ALL), text="Hi"),
            admins=ctx.settings.admins, chat_id=CHAT, grace=timedelta(0), now=NOW)
        [(effect_id, _)] = outcome.effects
        request = json.loads(session.get_one(TelegramEffect, effect_id).request or "{}")
    [[button]] = request["buttons"]
    assert button["text"] == texts.BROADCAST_STOP_BUTTON
    await harness.press(ADMIN, button["data"])
    assert harness.tasks[-1][0] == task_names.BROADCAST_STOP
    assert harness.tasks[-1][1][1] == outcome.run
    assert isinstance(harness.session.requests[-1], AnswerCallbackQuery)
    with session_factory() as session:
        assert session.scalar(select(Broadcast.total)) == 1
