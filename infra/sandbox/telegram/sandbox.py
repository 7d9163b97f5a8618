"""`TelegramSandbox`: the stand-in running in-process on a free port, for tests and fixtures."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from infra.sandbox.server import BackgroundServer
from infra.sandbox.telegram.app import create_app
from infra.sandbox.telegram.operator_actions import OperatorAction
from infra.sandbox.telegram.world import TelegramWorld


class TelegramSandbox:
    """A TelegramWorld served by a BackgroundServer; point aiogram at `base_url`."""

    def __init__(
        self, *, world: TelegramWorld | None = None, host: str = "127.0.0.1", port: int = 0,
        actions: list[OperatorAction] | None = None,
    ) -> None:
        self.world = world or TelegramWorld()
        app = create_app(self.world, actions=actions)
        self._server = BackgroundServer(app, host=host, port=port)

    @property
    def base_url(self) -> str:
        """The Bot API base (`TELEGRAM_API_BASE`), the control API and the page's host."""
        return self._server.base_url

    @property
    def token(self) -> str:
        return self.world.token

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
