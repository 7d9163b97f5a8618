"""`TelegramSandbox`: the stand-in running in-process on a free port, for tests and fixtures."""

from __future__ import annotations

from infra.sandbox.server import ServedSandbox
from infra.sandbox.telegram.app import create_app
from infra.sandbox.telegram.operator_actions import OperatorAction
from infra.sandbox.telegram.world import TelegramWorld


class TelegramSandbox(ServedSandbox):
    """A TelegramWorld served by a BackgroundServer; point aiogram at `base_url`."""

    def __init__(
        self, *, world: TelegramWorld | None = None, host: str = "127.0.0.1", port: int = 0,
        actions: list[OperatorAction] | None = None,
    ) -> None:
        self.world = world or TelegramWorld()
        super().__init__(create_app(self.world, actions=actions), host=host, port=port)

    @property
    def token(self) -> str:
        return self.world.token

