"""The dispatcher: routers in order, the dependency middleware, and the command menus."""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy.orm import Session, sessionmaker

from bot_frontend.middlewares import Dependencies, Language, StateWhereNeeded
from bot_frontend.producer import TaskProducer, Tasks
from bot_frontend.routers import (
    admin_access,
    admin_audit,
    admin_promos,
    admin_referrals,
    admin_staff,
    admin_stars,
    admin_stats,
    broadcast,
    errors,
    join,
    language,
    myplan,
    payout,
    promo,
    referral,
    stars,
    start,
)
from bot_frontend.spool import SpoolRelay
from infra import i18n, texts
from infra.logging import get_logger
from infra.settings import Settings
from models.domain import roles

log = get_logger("bot_frontend")

# Conversation state lives in Redis. Its default pool opens a connection per update in flight,
# so a rush of updates opened hundreds (each a TCP connect and a handshake) and the bot spent
# its time connecting (bench phase `rush`); a few shared connections serve every update, and an
# update that finds them all busy waits its turn (never refused: a rush of thousands queues
# for seconds) rather than opening another.
FSM_REDIS_CONNECTIONS = 16


def fsm_storage(settings: Settings) -> RedisStorage:
    """The FSM storage of the bot process: RedisStorage on the broker, a small bounded pool."""
    pool = BlockingConnectionPool.from_url(
        settings.broker_url, max_connections=FSM_REDIS_CONNECTIONS, timeout=None)
    return RedisStorage(Redis(connection_pool=pool))


# Every admin command, in menu order; models/domain/roles.py says which role runs which.
ADMIN_COMMANDS = roles.COMMANDS


def build_dispatcher(*, settings: Settings, sessions: sessionmaker[Session],
                     producer: TaskProducer, storage: BaseStorage,
                     relay: SpoolRelay | None = None) -> Dispatcher:
    """`relay` keeps the tasks the broker refuses that nobody could ask for again."""
    # aiogram's FSM middleware runs behind StateWhereNeeded (join requests need no Redis).
    dp = Dispatcher(storage=storage, disable_fsm=True)
    dp.update.outer_middleware(StateWhereNeeded(dp.fsm))
    tasks = Tasks(producer, relay=relay)
    dp.update.outer_middleware(Dependencies(settings=settings, sessions=sessions, tasks=tasks))
    dp.update.outer_middleware(Language())
    # Every filter is an aiogram Filter (`MagicData(F.event...)`, `StateFilter(...)`), never a
    # bare `F...` or State: aiogram runs a plain callable through asyncio.to_thread, a thread
    # hop for each update that reaches it, which a rush of updates pays in GIL hand-offs
    # (bench phase `rush`). tests/bot_frontend/test_bot_filters_on_loop.py holds the routers to it.
    # Commands before the payout conversation: a command typed mid-conversation is obeyed
    # rather than taken for a wallet address or an amount.
    dp.include_routers(*(module.create_router() for module in (
        errors, join, stars, start, myplan, referral, language, admin_access, admin_referrals,
        admin_stats, admin_promos, admin_audit, admin_staff, admin_stars, payout, promo,
        broadcast)))
    return dp


async def set_commands(bot: Bot, settings: Settings) -> None:
    """Everyone sees the subscriber commands; each ADMIN_IDS owner also sees theirs. English is
    the default list; each other language's list is set for Telegram's users of that language.

    A role granted with /role sets that member's menu from the worker (staff.refresh_menu);
    Telegram keeps it across restarts of the bot.
    """
    for code in i18n.SUPPORTED:
        language_code = None if code == i18n.DEFAULT else code
        with i18n.use_language(code):
            public = [BotCommand(command=name, description=description)
                      for name, description in texts.COMMAND_DESCRIPTIONS.items()]
        await bot.set_my_commands(public, scope=BotCommandScopeDefault(),
                                  language_code=language_code)
        admin = public + [BotCommand(command=name, description=f"/{name}")
                          for name in roles.commands_of(roles.Role.OWNER)]
        for admin_id in sorted(settings.admins):
            try:
                await bot.set_my_commands(admin, scope=BotCommandScopeChat(chat_id=admin_id),
                                          language_code=language_code)
            except TelegramAPIError as error:
                # An admin who never opened the bot has no chat yet; the commands still work.
                log.warning("admin_commands_not_set", admin_id=admin_id, error=str(error))
