"""Languages through the whole sandbox: the bot process, a Celery worker, Redis, the gateway and
both stand-ins. A subscriber whose Telegram speaks Russian is answered in Russian by the bot and
by the workers (pay link, invite); after /language → English, both speak English.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from models.schema import User
from tests.e2e import test_promo_journey as promo_journey
from tests.e2e.test_promo_journey import Sandbox
from tests.fixtures.waiting import eventually

pytestmark = [pytest.mark.slow, pytest.mark.redis,
              pytest.mark.parametrize("migrated_template", ["sqlite"], indirect=True)]


# The same processes as the promo journey's: the bot, a worker, the gateway, both stand-ins.
sandbox = promo_journey.sandbox


def test_a_russian_subscriber_pays_in_russian_then_switches_to_english(
        sandbox: Sandbox, session_factory: sessionmaker[Session]) -> None:
    """Telegram language ru-RU: Russian terms, plans, pay link (a worker's) and invite (another
    worker's); /language → English is stored by its task, and the next invite is English."""
    ann = int(sandbox.api("POST", "/control/users",
                          json={"first_name": "Аня", "language_code": "ru-RU"})["id"])
    sandbox.say(ann, "/start")
    sandbox.press(ann, sandbox.heard(ann, "Нажмите кнопку ниже"), "Принимаю")
    menu = sandbox.heard(ann, "Выберите тариф")
    sandbox.press(ann, menu, "30 дней · 10,00\xa0$")
    pay = sandbox.heard(ann, "Ваш счёт за «1 month»: 10,00\xa0$.")
    [link] = [b["url"] for b in sandbox.buttons(pay) if b.get("url")]
    sandbox.cryptocloud.pay("INV-" + link.rstrip("/").rsplit("/", 1)[-1])
    sandbox.heard(ann, "Ваша личная ссылка-приглашение")

    sandbox.say(ann, "/language")
    sandbox.press(ann, sandbox.heard(ann, "Выберите язык"), "English")
    sandbox.heard(ann, "Done: the bot now speaks English to you.")

    def stored() -> str | None:
        with session_factory() as session:
            return session.get_one(User, ann).language
    eventually(lambda: stored() == "en", timeout=30, what="users.language stored")
    sandbox.say(ann, "/myplan")
    sandbox.press(ann, sandbox.heard(ann, "Status: active"), "Send my invite again")
    sandbox.heard(ann, "Here is your personal invite link")
