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
from infra.embedded_redis import EmbeddedRedis, free_port
from infra.migrate import migrate_and_seed
from infra.settings import load_settings

if TYPE_CHECKING:
    from infra.sandbox.telegram import TelegramSandbox

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def wait_for(check: Callable[[], Any], *, what: str, timeout: float = 60.0) -> Any:
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


def test_a_join_request_while_redis_is_down_is_queued_once_it_is_back(
    telegram_sandbox: TelegramSandbox, tmp_path: Path,
) -> None:
    """The bot process, its Redis down: the join request waits in its spool, then is queued."""
    port = free_port()  # nothing listens here yet: the broker is down
    spool = tmp_path / "spool.db"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("BOT_", "TELEGRAM_", "DATABASE_", "ADMIN_", "CHANNEL_"))}
    env |= {"TELEGRAM_API_BASE": telegram_sandbox.base_url,
            "REDIS_URL": f"redis://127.0.0.1:{port}/0", "BOT_SPOOL_PATH": str(spool),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}", "LOG_FORMAT": "json"}
    migrate_and_seed(load_settings(_env_file=None, database_url=env["DATABASE_URL"]))
    process = subprocess.Popen([sys.executable, "-m", "bot_frontend"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base, token = telegram_sandbox.base_url, telegram_sandbox.token
    with httpx.Client(base_url=base, timeout=5) as control:
        bot = Bot(process, control)
        try:
            # getMe comes right before the first long poll (getUpdates is logged when it ends).
            wait_for(lambda: bot.api("GET", "/control/calls", params={"method": "getMe"}),
                     what="the bot polling")
            user_id = bot.api("POST", "/control/users", json={"first_name": "Ann"})["id"]
            link = control.post(f"/bot{token}/createChatInviteLink", data={
                "chat_id": telegram_sandbox.world.channel_id, "creates_join_request": "true",
            }).json()["result"]["invite_link"]
            joined = bot.api("POST", f"/control/users/{user_id}/join",
                             json={"invite_link": link})
            assert joined["outcome"] == "requested"
            wait_for(spool.exists, what="the join request in the spool")

            with EmbeddedRedis(port=port, data_dir=tmp_path / "redis", appendonly=False):
                broker = redis.Redis(port=port)
                queued = wait_for(lambda: broker.lrange("telegram", 0, -1), timeout=60,
                                  what="the join request queued")
                [message] = [json.loads(raw) for raw in queued]
                assert message["headers"]["task"] == task_names.HANDLE_JOIN_REQUEST
                assert json.loads(message["headers"]["argsrepr"].replace("'", '"')) == [
                    user_id, telegram_sandbox.world.channel_id, link]
                broker.close()
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    assert "task_spooled" in output and "spooled_task_sent" in output
