"""`python -m bot_frontend` as a process against the Telegram stand-in: polling and webhook."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import redis

from infra import task_names, texts
from infra.embedded_redis import free_port
from infra.migrate import migrate_and_seed
from infra.settings import load_settings

if TYPE_CHECKING:
    from infra.sandbox.telegram import TelegramSandbox

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def wait_for(check: Callable[[], Any], *, what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Bot:
    """The bot process and the stand-in's control API."""

    def __init__(self, process: subprocess.Popen[str], control: httpx.Client) -> None:
        self.process, self.control = process, control

    def api(self, verb: str, path: str, **kwargs: Any) -> Any:
        answer = self.control.request(verb, path, **kwargs).json()
        assert answer["ok"], answer
        return answer["result"]

    def bot_texts(self, user_id: int) -> list[str]:
        chat = self.api("GET", f"/control/users/{user_id}/chat")
        return [m["text"] for m in chat["messages"] if m["direction"] == "bot_to_user"]


@pytest.fixture(params=["polling", "webhook"])
def bot(request: pytest.FixtureRequest, telegram_sandbox: TelegramSandbox, redis_url: str,
        redis_client: redis.Redis, tmp_path: Path) -> Iterator[Bot]:
    """The bot process running by long polling or behind a webhook, stopped with SIGTERM."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("BOT_", "TELEGRAM_", "DATABASE_", "ADMIN_", "CHANNEL_"))}
    env |= {"TELEGRAM_API_BASE": telegram_sandbox.base_url, "REDIS_URL": redis_url,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}", "LOG_FORMAT": "json"}
    if request.param == "webhook":
        port = free_port()
        env |= {"BOT_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
                "BOT_WEBHOOK_SECRET": "webhook-secret", "BOT_WEBHOOK_BIND": f"127.0.0.1:{port}"}
    migrate_and_seed(load_settings(_env_file=None, database_url=env["DATABASE_URL"]))
    process = subprocess.Popen([sys.executable, "-m", "bot_frontend"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with httpx.Client(base_url=telegram_sandbox.base_url, timeout=5) as control:
        try:
            yield Bot(process, control)
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=15)
            assert process.returncode == 0, output


def test_bot_starts_answers_and_stays_up(bot: Bot, redis_client: redis.Redis) -> None:
    """The bot sets its commands, answers /start with the terms and queues the registration."""
    wait_for(lambda: bot.api("GET", "/control/calls", params={"method": "setMyCommands"}),
             what="setMyCommands")
    user_id = bot.api("POST", "/control/users", json={"first_name": "Ann"})["id"]
    bot.api("POST", f"/control/users/{user_id}/messages", json={"text": "/start"})
    wait_for(lambda: texts.TERMS in bot.bot_texts(user_id), what="the terms")
    raw_messages: list[bytes] = redis_client.lrange("default", 0, -1)  # type: ignore[assignment]
    queued = [json.loads(raw)["headers"]["task"] for raw in raw_messages]
    assert task_names.REGISTER_USER in queued
    time.sleep(0.5)
    assert bot.process.poll() is None, "the bot process exited"
