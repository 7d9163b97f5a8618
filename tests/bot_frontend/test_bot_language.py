"""Languages through the dispatcher: Telegram's language_code picks the answers' language,
/language and its buttons change it (the answer already in the new one), admins are answered in
theirs, and the menu of commands exists in Russian."""

from __future__ import annotations

import pytest
from aiogram.methods import SetMyCommands
from sqlalchemy.orm import Session, sessionmaker

from bot_frontend.app import set_commands
from infra import i18n, task_names, texts
from infra.settings import Settings
from tests.bot_frontend.conftest import ADMIN, add_user
from tests.bot_frontend.harness import BotHarness

pytestmark = pytest.mark.anyio
ANN, BOB = 901, 902


def russian(harness: BotHarness, *user_ids: int) -> None:
    harness.language_codes.update(dict.fromkeys(user_ids, "ru"))


async def tap(harness: BotHarness, user_id: int, label: str) -> str:
    """Press the button labelled `label` on the last keyboard the bot sent."""
    [data] = [button.callback_data for row in harness.last_markup().inline_keyboard
              for button in row if button.text == label]
    assert data is not None
    return await harness.press(user_id, data)


async def test_a_russian_telegram_user_is_answered_in_russian(harness: BotHarness) -> None:
    """language_code "ru": /start's terms, their button and /help are Russian; English stays."""
    russian(harness, ANN)
    await harness.send(ANN, "/start")
    assert harness.last_reply().startswith("Добро пожаловать! Этот бот продаёт доступ")
    assert [b.text for row in harness.last_markup().inline_keyboard for b in row] == [
        "Принимаю"]
    await harness.send(BOB, "/start")
    assert harness.last_reply() == texts.TERMS  # English, the default


async def test_language_buttons_store_the_choice_and_answer_in_it(
        harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """/language offers English and Русский; pressing Русский sends users.set_language and the
    answer, and every later answer, is Russian although Telegram says English."""
    add_user(session_factory, ANN)
    await harness.send(ANN, "/language")
    assert harness.last_reply() == texts.LANGUAGE_CHOOSE
    assert [b.text for row in harness.last_markup().inline_keyboard for b in row] == [
        "English", "Русский"]
    await tap(harness, ANN, "Русский")
    [(name, [profile, code])] = [task for task in harness.tasks
                                 if task[0] == task_names.SET_LANGUAGE]
    assert (name, profile["user_id"], code) == (task_names.SET_LANGUAGE, ANN, "ru")
    assert harness.last_reply() == "Готово: теперь бот говорит с вами на языке «Русский»."
    await harness.send(ANN, "/help")
    assert harness.last_reply().startswith("/start: тарифы и бесплатный пробный период")
    await harness.send(ANN, "/language")
    await tap(harness, ANN, "English")
    assert harness.last_reply() == "Done: the bot now speaks English to you."


async def test_a_stored_choice_wins_over_telegrams_language(
        harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """users.language "en" (chosen earlier) beats language_code "ru" as soon as a read of the
    user's row shows it: /start's plans, /myplan, and then /help (which reads nothing)."""
    add_user(session_factory, ANN, language="en")
    add_user(session_factory, BOB, language="en")
    russian(harness, ANN, BOB)
    await harness.send(ANN, "/start")
    assert harness.last_reply() == texts.choose_plan(trial_days=3)
    await harness.send(ANN, "/help")
    assert harness.last_reply() == texts.HELP
    await harness.send(BOB, "/myplan")
    assert harness.last_reply().startswith("Status: no subscription")
    await harness.send(BOB, "/help")
    assert harness.last_reply() == texts.HELP


async def test_the_language_rides_on_the_reads_the_bot_makes_anyway(
        harness: BotHarness, session_factory: sessionmaker[Session],
        reads: list[int]) -> None:
    """Languages cost no read: /help reads nothing, /myplan its usual two (terms, status)."""
    add_user(session_factory, ANN, language="ru")
    reads.clear()
    await harness.send(ANN, "/help")
    assert reads == []
    await harness.send(ANN, "/myplan")
    assert len(reads) == 2 and harness.last_reply().startswith("Статус: нет подписки")


async def test_an_admin_is_answered_in_the_admins_language(
        harness: BotHarness, session_factory: sessionmaker[Session]) -> None:
    """A Russian admin's command is acknowledged in Russian, and a usage hint too."""
    add_user(session_factory, ANN)
    russian(harness, ADMIN)
    await harness.send(ADMIN, f"/activate {ANN} 30")
    assert harness.last_reply() == "Принято; когда всё будет готово, придёт сообщение."
    await harness.send(ADMIN, "/activate")
    assert harness.last_reply() == "Использование: /activate <user_id> <дни>"


async def test_the_command_menu_is_set_in_every_language(harness: BotHarness,
                                                         settings: Settings) -> None:
    """setMyCommands runs for the default (English) and for language_code "ru"."""
    await set_commands(harness.bot, settings)
    calls = [m for m in harness.session.requests if isinstance(m, SetMyCommands)]
    public = {m.language_code: {c.command: c.description for c in m.commands}
              for m in calls if m.scope is not None and m.scope.type == "default"}
    assert public[None]["myplan"] == "My subscription"
    assert public["ru"]["myplan"] == "Моя подписка"
    assert public["ru"]["language"] == "Язык"
    assert set(public) == {None if code == i18n.DEFAULT else code for code in i18n.SUPPORTED}
