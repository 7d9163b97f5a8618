"""The "I have a code" conversation: the button asks for a code, the next message is it.

The code is checked for its shape here (a typo of the wrong kind gets an answer at once) and
redeemed by the task, which answers with the outcome. The router comes after every command's
router, so a command typed instead of a code is obeyed, not taken for a code.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import MagicData, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from bot_frontend import keyboards
from bot_frontend.producer import Tasks
from bot_frontend.routers.start import redeem
from infra import texts
from models.domain import promo as rules


class PromoForm(StatesGroup):
    code = State()


async def ask(callback: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(PromoForm.code)
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.answer(texts.PROMO_ASK_CODE)


async def code(message: Message, state: FSMContext, tasks: Tasks) -> None:
    try:
        rules.normalize_code(message.text or "")
    except ValueError:
        await message.answer(texts.PROMO_BAD_FORMAT)
        return
    assert message.from_user is not None
    await state.clear()
    await redeem(tasks, message.from_user, (message.text or "").strip(),
                 request_key=f"code:{message.chat.id}:{message.message_id}")
    await message.answer(texts.PROMO_CHECKING)


def create_router() -> Router:
    """A fresh router with this module's handlers (a router joins one dispatcher only)."""
    router = Router(name="promo")
    router.callback_query.register(ask, keyboards.EnterPromo.filter())
    # A command (even one no router knows) is never a code.
    router.message.register(code, StateFilter(PromoForm.code),
                            MagicData(F.event.text & ~F.event.text.startswith("/")))
    return router
