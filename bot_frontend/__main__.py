"""`python -m bot_frontend`: the bot process, by long polling or behind a webhook."""

from __future__ import annotations

import asyncio
import signal
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot_frontend.app import build_dispatcher, fsm_storage, set_commands
from bot_frontend.db import read_only_sessions
from bot_frontend.spool import SpoolRelay, TaskSpool
from bot_frontend.telegram_retry import telegram_session
from infra.celery_config import create_celery
from infra.logging import configure_logging, get_logger
from infra.migrate import catalog_or_exit
from infra.settings import Settings, settings_or_exit
from infra.task_publisher import TaskPublisher

log = get_logger("bot_frontend")


async def serve_webhook(dp: Dispatcher, bot: Bot, settings: Settings) -> None:
    """Receive updates on BOT_WEBHOOK_BIND until SIGINT/SIGTERM; Telegram checks the secret."""
    assert settings.bot_webhook_url and settings.bot_webhook_secret
    secret = settings.bot_webhook_secret.get_secret_value()
    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=secret).register(
        app, path=urlsplit(settings.bot_webhook_url).path or "/")
    setup_application(app, dp, bot=bot)
    host, _, port = settings.bot_webhook_bind.rpartition(":")
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, int(port)).start()
    await bot.set_webhook(settings.bot_webhook_url, secret_token=secret,
                          allowed_updates=dp.resolve_used_update_types())
    log.info("bot_webhook_listening", bind=settings.bot_webhook_bind)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


async def main(settings: Settings) -> None:
    bot = Bot(settings.telegram_token.get_secret_value(),
              session=telegram_session(settings.telegram_base))
    storage = fsm_storage(settings)
    producer = TaskPublisher(create_celery(settings, main="bot_frontend"))
    relay = SpoolRelay(TaskSpool(settings.bot_spool_path), producer)
    dp = build_dispatcher(settings=settings, sessions=read_only_sessions(settings.database_url),
                          producer=producer, storage=storage, relay=relay)
    relaying = asyncio.create_task(relay.run())
    if settings.payment_sandbox_with_real_bot:
        log.warning("payment_sandbox_with_real_bot",
                    note="ALLOW_PAYMENT_SANDBOX=true: checkouts go to the CryptoCloud stand-in")
    try:
        await set_commands(bot, settings)
        if settings.bot_webhook_url:
            await serve_webhook(dp, bot, settings)
        else:
            # A webhook left from an earlier run would make getUpdates fail with 409.
            await bot.delete_webhook()
            log.info("bot_polling", api=settings.telegram_base)
            await dp.start_polling(bot)
    finally:
        relaying.cancel()
        await storage.close()
        await bot.session.close()


if __name__ == "__main__":
    current = settings_or_exit()
    catalog_or_exit(current)
    configure_logging(current)
    asyncio.run(main(current))
