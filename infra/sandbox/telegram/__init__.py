"""A local stand-in of the Telegram Bot API: bot methods, updates, a control API and a page.

    with TelegramSandbox() as sandbox:           # or the `telegram_sandbox` pytest fixture
        api = TelegramAPIServer.from_base(sandbox.base_url)   # aiogram, as TELEGRAM_API_BASE
        sandbox.world                            # the in-memory state, for assertions

Standalone: `python -m infra.sandbox telegram`. Production code never imports this package; it
reaches the stand-in only through its base URL, exactly like api.telegram.org.
"""

from infra.sandbox.telegram.app import create_app
from infra.sandbox.telegram.errors import BotApiError
from infra.sandbox.telegram.faults import FaultRule
from infra.sandbox.telegram.flood import FloodLimits
from infra.sandbox.telegram.people import ControlError
from infra.sandbox.telegram.sandbox import TelegramSandbox
from infra.sandbox.telegram.world import TelegramWorld

__all__ = [
    "BotApiError",
    "ControlError",
    "FaultRule",
    "FloodLimits",
    "TelegramSandbox",
    "TelegramWorld",
    "create_app",
]
