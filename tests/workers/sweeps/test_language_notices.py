"""Workers speak each recipient's language: a Russian subscriber's invite, renewal reminder and
expiry notice arrive in Russian through the fake Telegram, an English one's stay English, and a
language chosen with /language wins over Telegram's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from infra import task_names
from models.schema import User
from tests.workers.harness import Pipeline, paid_with_invite
from tests.workers.sweeps.conftest import CHANNEL, subscriber, texts_to
from workers.users import service as users
from workers.users.service import Profile

ANN, BOB, CAT = 7401, 7402, 7403  # Ann's Telegram speaks Russian, Bob's English
HOUR = timedelta(hours=1)


def speaks(ctx: Pipeline, user_id: int, *, telegram: str | None,
           chosen: str | None = None) -> None:
    with ctx.sessions.begin() as session:
        session.execute(update(User).where(User.id == user_id)
                        .values(language_code=telegram, language=chosen))


def test_a_russian_subscribers_invite_arrives_in_russian(ctx: Pipeline) -> None:
    """The invite and its button follow users.language_code "ru-RU"; an English user's do not."""
    paid_with_invite(ctx, ANN, chat_id=CHANNEL, days=21)
    paid_with_invite(ctx, BOB, chat_id=CHANNEL, days=21)
    speaks(ctx, ANN, telegram="ru-RU")
    speaks(ctx, BOB, telegram="en")
    ctx.drain()

    [ann] = texts_to(ctx, ANN)
    assert ann.text.startswith("Ваша личная ссылка-приглашение: ")
    assert "Доступ до " in ann.text and " UTC." in ann.text
    assert ann.reply_markup.inline_keyboard[0][0].text == "Вступить в канал"
    [bob] = texts_to(ctx, BOB)
    assert bob.text.startswith("Here is your personal invite link: ")
    assert bob.reply_markup.inline_keyboard[0][0].text == "Join the channel"


def test_a_russian_subscribers_reminder_and_expiry_notice_arrive_in_russian(
        ctx: Pipeline) -> None:
    """The 3-day reminder counts "3 дня" and its button says "Продлить"; the expiry notice of a
    user who chose Russian is Russian too."""
    now = datetime.now(UTC)
    subscriber(ctx, ANN, paid_through=now + 60 * HOUR)
    subscriber(ctx, BOB, paid_through=now + 60 * HOUR)
    speaks(ctx, ANN, telegram="ru")
    ctx.send(task_names.SEND_RENEWAL_REMINDERS)
    ctx.drain()

    [reminder] = texts_to(ctx, ANN)
    assert reminder.text.startswith("Ваш доступ закончится меньше чем через 3 дня, ")
    assert reminder.reply_markup.inline_keyboard[0][0].text == "Продлить"
    [english] = texts_to(ctx, BOB)
    assert english.text.startswith("Your access ends in less than 3 days, on ")

    subscriber(ctx, CAT, paid_through=now - HOUR)  # Cat chose Russian; her Telegram is English
    speaks(ctx, CAT, telegram="en", chosen="ru")
    ctx.send(task_names.EXPIRE_SUBSCRIPTIONS)
    ctx.drain()
    [expired] = texts_to(ctx, CAT)
    assert expired.text.startswith("Ваш доступ к каналу закончился ")
    assert expired.reply_markup.inline_keyboard[0][0].text == "Продлить"


def test_the_language_chosen_with_the_command_wins_over_telegrams(ctx: Pipeline) -> None:
    """users.set_language stores "en" for a Russian Telegram user: the invite is English; a
    language no catalogue speaks is refused and changes nothing."""
    paid_with_invite(ctx, ANN, chat_id=CHANNEL)
    profile = Profile(user_id=ANN, language_code="ru")
    now = datetime.now(UTC)
    with ctx.sessions.begin() as session:
        assert users.set_language(session, profile=profile, language="en", now=now)
        assert not users.set_language(session, profile=profile, language="xx", now=now)
    ctx.drain()

    [invite] = texts_to(ctx, ANN)
    assert invite.text.startswith("Here is your personal invite link: ")
    with ctx.sessions() as session:
        row = session.get_one(User, ANN)
        assert (row.language, row.language_code) == ("en", "ru")
