"""/language: the subscriber picks the language the bot and the workers speak to them."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, MagicData
from aiogram.types import CallbackQuery, Message

from bot_frontend import keyboards
from bot_frontend.middlewares import Language
from bot_frontend.producer import Tasks
from bot_frontend.routers.start import profile
from infra import i18n, task_names, texts


async def ask(message: Message) -> None:
    await message.answer(texts.LANGUAGE_CHOOSE, reply_markup=keyboards.languages())


async def choose(callback: CallbackQuery, callback_data: keyboards.ChooseLanguage,
                 tasks: Tasks, languages: Language) -> None:
    code = i18n.resolve(chosen=callback_data.code, telegram_code=None)
    # The task stores the choice for the workers; this process remembers it at once, so the
    # answer below and every later update speak it before the task has run.
    await tasks.send(task_names.SET_LANGUAGE, profile(callback.from_user), code)
    languages.remember(callback.from_user.id, code)
    with i18n.use_language(code):
        await callback.answer()
        if isinstance(callback.message, Message):
            await callback.message.edit_text(
                texts.language_set(name=i18n.NATIVE_NAMES[code]), reply_markup=None)


def create_router() -> Router:
    """A fresh router with this module's handlers (a router joins one dispatcher only)."""
    router = Router(name="language")
    router.message.register(ask, Command("language"), MagicData(F.event.from_user))
    router.callback_query.register(choose, keyboards.ChooseLanguage.filter())
    return router
