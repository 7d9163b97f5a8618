"""The features merged after the gettext conversion speak Russian: a Russian subscriber's plan
switch pressed through the dispatcher, and a Russian admin's /audit answered by the worker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names, texts
from infra.settings import SANDBOX_CHANNEL_ID, Settings
from models.schema import Access, Plan, PlanChat, TelegramEffect
from tests.bot_frontend.conftest import ADMIN, add_user
from tests.bot_frontend.harness import BotHarness
from workers.admin.service import Command
from workers.audits import service as audits

pytestmark = pytest.mark.anyio
ANN = 831


def button(harness: BotHarness, label: str) -> str:
    """The callback data of the last keyboard's button labelled `label`."""
    for row in harness.last_markup().inline_keyboard:
        for item in row:
            if item.text == label:
                assert item.callback_data is not None
                return item.callback_data
    raise AssertionError(f"no button {label!r} among {harness.buttons()}")


@pytest.fixture
def russian_subscriber(session_factory: sessionmaker[Session]) -> None:
    """Ann (language_code "ru") holds 15 days of the month plan; a year plan is on sale."""
    with session_factory.begin() as session:
        year = Plan(code="year", title="1 year", days=365, price_usd=Decimal("100.00"))
        session.add(year)
        session.flush()
        session.add(PlanChat(plan_id=year.id, chat_id=SANDBOX_CHANNEL_ID))
    add_user(session_factory, ANN, language_code="ru")
    with session_factory.begin() as session:
        month = session.scalars(select(Plan.id).where(Plan.code == "month")).one()
        session.add(Access(user_id=ANN, chat_id=SANDBOX_CHANNEL_ID, status="active",
                           plan_id=month,
                           paid_through=datetime.now(UTC) + timedelta(days=15, hours=1)))


async def test_a_russian_subscribers_switch_quote_and_refusal_are_russian(
        harness: BotHarness, session_factory: sessionmaker[Session],
        russian_subscriber: None) -> None:
    """The switch button, the quote with Russian dates and money, the confirm button, and a
    refusal (the plan taken off sale meanwhile) are all Russian, pressed as Ann would."""
    harness.language_codes[ANN] = "ru"
    await harness.send(ANN, "/myplan")
    await harness.press(ANN, button(harness, "Сменить тариф"))
    assert harness.last_reply().startswith("На какой тариф перейти?")
    year = button(harness, "1 year · 365 дней · 100,00\xa0$")
    await harness.press(ANN, year)
    quote = harness.last_reply()
    assert quote.startswith("Смена тарифа «1 month» на «1 year»\n")
    assert "Неиспользованная стоимость «1 month»: 5,01\xa0$" in quote
    assert "Осталось дней сейчас: 16 → после смены: 366" in quote
    assert "К оплате: 94,99\xa0$" in quote
    assert " 2027, " in quote and "UTC" in quote and "-" not in quote.split("до: ")[1][:12]
    assert button(harness, "Подтвердить смену")

    with session_factory.begin() as session:
        session.execute(update(Plan).where(Plan.code == "year").values(active=False))
    await harness.press(ANN, year)
    assert harness.last_reply() == ("Этот тариф больше не продаётся. Отправьте /myplan, "
                                    "чтобы увидеть, на что можно перейти.")


async def test_a_russian_admins_audit_is_answered_in_russian(
        harness: BotHarness, session_factory: sessionmaker[Session],
        settings: Settings) -> None:
    """/audit from an admin whose Telegram speaks Russian is acknowledged in Russian by the
    bot, and the worker's answer (the run started, how many people in how many chats), which
    does not go through run_admin_command, is Russian too."""
    add_user(session_factory, ADMIN, language_code="ru")
    add_user(session_factory, ANN)
    harness.language_codes[ADMIN] = "ru"
    await harness.send(ADMIN, "/audit")
    assert harness.last_reply() == "Принято; когда всё будет готово, придёт сообщение."
    [(name, [queued])] = harness.tasks
    assert name == task_names.AUDIT_START

    with session_factory.begin() as session:
        outcome = audits.start(session, command=Command(**queued), settings=settings,
                               now=datetime.now(UTC))
    assert outcome.run is not None
    with session_factory() as session:
        [request] = session.scalars(select(TelegramEffect.request)
                                    .where(TelegramEffect.chat_id == ADMIN)).all()
    said = json.loads(request or "{}")["text"]
    assert said == (f"Аудит #{outcome.run} запущен: к проверке 2 человека в 1 чате. Отчёт и "
                    "CSV придут, когда он закончится; /audit покажет, как он идёт.")
    assert said != texts.audit_started(run_id=outcome.run, total=2, chats=1)  # English
