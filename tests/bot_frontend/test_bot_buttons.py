"""Every button anyone can be shown is pressed through the real dispatcher and answered.

Buttons come from two places: the bot's own keyboards (bot_frontend/keyboards.py) and the
messages the workers write to the outbox (a `"data"` entry in a button dict). The second kind
once carried callback data no handler knew ("renew"), so the button spun for ever.
"""

from __future__ import annotations

import ast
import enum
import importlib
import typing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardMarkup
from sqlalchemy.orm import Session, sessionmaker

import workers
from bot_frontend import keyboards
from infra import task_names, texts
from models.schema import Access
from tests.bot_frontend.conftest import ADMIN, add_user
from tests.bot_frontend.harness import BotHarness
from tests.workers.sweeps.conftest import ChannelFake, sweep_pipeline
from workers.context import use_context

pytestmark = pytest.mark.anyio
ANN = 601
BUTTON_DATA_KEY = "data"
ROOT = Path(workers.__file__).resolve().parent.parent


async def press(harness: BotHarness, user_id: int, data: str) -> tuple[Any, str]:
    """Press a button carrying `data`; what the dispatcher returned and the query id."""
    query_id = await harness.press(user_id, data)
    return harness.last_result, query_id


def answered(harness: BotHarness, query_id: str) -> bool:
    return any(answer.callback_query_id == query_id for answer in harness.callback_answers())


# The buttons of the workers' messages, as the subscriber receives them ------------------

def expire_and_remind(db_url: str, engine: Any, sessions: sessionmaker[Session]) -> list[str]:
    """Run the real expiry sweep and reminder use cases; the callback data of their buttons."""
    ctx = sweep_pipeline(db_url, engine, sessions)
    assert isinstance(ctx.telegram, ChannelFake)
    now = datetime.now(UTC)
    expired, reminded = ANN, ANN + 1
    for user_id in (expired, reminded):
        add_user(sessions, user_id)
    with sessions.begin() as session:
        for user_id, paid_through in ((expired, now - timedelta(days=5)),
                                      (reminded, now + timedelta(hours=12))):
            session.add(Access(user_id=user_id, chat_id=ctx.settings.channel,
                               paid_through=paid_through, status="active", is_trial=False,
                               created_at=now, updated_at=now))
    with use_context(ctx):
        ctx.send(task_names.EXPIRE_SUBSCRIPTIONS)
        ctx.send(task_names.SEND_RENEWAL_REMINDERS)
        ctx.drain()
    messages = [typing.cast(SendMessage, m) for m in ctx.telegram.calls_of("sendMessage")]
    assert {m.chat_id for m in messages} == {expired, reminded}  # the notice, the reminder
    assert all(isinstance(m.reply_markup, InlineKeyboardMarkup) for m in messages)
    return [button.callback_data or "" for message in messages
            for row in typing.cast(InlineKeyboardMarkup, message.reply_markup).inline_keyboard
            for button in row]


async def test_renew_in_the_expiry_notice_and_reminder_offers_the_plans(
        harness: BotHarness, db_url: str, engine: Any,
        session_factory: sessionmaker[Session]) -> None:
    """Renew, pressed in what the sweeps sent, shows the plans; a plan then starts checkout."""
    data = expire_and_remind(db_url, engine, session_factory)
    assert len(data) == 2 and all(data)

    for renew in data:
        result, query_id = await press(harness, ANN, renew)
        assert result is not UNHANDLED
        assert answered(harness, query_id)
        assert harness.last_reply() == texts.choose_plan(trial_days=3)

    plan = harness.buttons()[0]
    assert plan is not None
    _, query_id = await press(harness, ANN, plan)
    name, (user, *rest) = harness.tasks[-1]
    assert (name, user["user_id"], rest) == (task_names.CHECKOUT, ANN, ["month", query_id])


async def test_renew_on_a_message_sent_before_the_fix_still_works(harness: BotHarness) -> None:
    """Notices already in subscribers' chats carry the old "renew" data: it shows the plans."""
    result, query_id = await press(harness, ANN, "renew")
    assert result is not UNHANDLED and answered(harness, query_id)
    assert harness.last_reply() == texts.choose_plan(trial_days=3)


# Every callback data the code can produce ------------------------------------------------

def worker_button_data() -> Iterator[tuple[str, str]]:
    """(where, data) for every `"data"` value of a button dict in workers/ and models/.

    Each value is evaluated in its module's namespace, so it must be a constant expression
    (a literal or a module-level name): a button whose data is computed at run time cannot be
    checked here, and this test says so.
    """
    for path in sorted([*ROOT.glob("workers/**/*.py"), *ROOT.glob("models/**/*.py")]):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Dict):
                continue
            keys = [key.value for key in node.keys if isinstance(key, ast.Constant)]
            if BUTTON_DATA_KEY not in keys or "text" not in keys:
                continue
            value = node.values[keys.index(BUTTON_DATA_KEY)]
            where = f"{name}:{node.lineno}"
            try:
                data = eval(ast.unparse(value), vars(importlib.import_module(name)))  # noqa: S307
            except NameError as error:
                raise AssertionError(f"{where}: button data is not a constant ({error})") from error
            yield where, str(data)


def example(annotation: Any) -> Any:
    """A valid value for a callback data field of this type."""
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return next(iter(annotation))
    return {int: 1, bool: True, str: "month"}[annotation]


def keyboard_button_data() -> Iterator[tuple[str, str]]:
    """(class, packed data) for every CallbackData the bot's keyboards define."""
    for name, cls in vars(keyboards).items():
        if isinstance(cls, type) and issubclass(cls, CallbackData) and cls is not CallbackData:
            fields = {field: example(info.annotation)
                      for field, info in cls.model_fields.items()}
            yield name, cls(**fields).pack()


def test_the_collection_finds_the_worker_buttons() -> None:
    """The scan sees the sweeps' Renew button, so an empty scan cannot pass silently."""
    assert any(where.startswith("workers.sweeps.service") for where, _ in worker_button_data())


@pytest.mark.parametrize("user_id", [ANN, ADMIN])
async def test_every_button_the_code_can_produce_is_answered(
        harness: BotHarness, session_factory: sessionmaker[Session], user_id: int) -> None:
    """Each callback data reaches a handler that answers it, for a subscriber and an admin."""
    add_user(session_factory, user_id)
    buttons = [*worker_button_data(), *keyboard_button_data()]
    assert len(buttons) >= 11

    unhandled = []
    for where, data in buttons:
        result, query_id = await press(harness, user_id, data)
        if result is UNHANDLED or not answered(harness, query_id):
            unhandled.append(f"{where} {data!r}")
    assert unhandled == []
