"""The stand-in running in-process on a free port: what tests and fixtures hold on to."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from infra.sandbox.cryptocloud.app import create_app
from infra.sandbox.cryptocloud.config import SandboxConfig
from infra.sandbox.cryptocloud.delivery import Delivery
from infra.sandbox.cryptocloud.invoices import Invoice
from infra.sandbox.cryptocloud.world import CryptoCloudWorld, PayMode
from infra.sandbox.server import ServedSandbox


class CryptoCloudSandbox(ServedSandbox):
    """A CryptoCloudWorld served by a BackgroundServer, with shortcuts for tests."""

    def __init__(
        self,
        *,
        world: CryptoCloudWorld | None = None,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tick_seconds: float = 0.2,
        chat_url: str | None = None,
        on_partial: tuple[str, ...] | None = None,
    ) -> None:
        if world is not None and config is not None:
            raise ValueError("pass a world or a config, not both (the world has its config)")
        self.world = world or CryptoCloudWorld(config=config)
        app = create_app(self.world, tick_seconds=tick_seconds, chat_url=chat_url,
                         on_partial=on_partial)
        super().__init__(app, host=host, port=port)

    @property
    def config(self) -> SandboxConfig:
        return self.world.config


    def configure(self, **changes: object) -> SandboxConfig:
        return self.world.configure(changes)

    def invoice(self, uuid: str) -> Invoice:
        return self.world.invoice(uuid)

    def pay(
        self, uuid: str, amount: Decimal | str | None = None, *, mode: PayMode | None = None
    ) -> Invoice:
        """Send money to the invoice: what is due by default, else `amount` USD."""
        return self.world.pay(uuid, None if amount is None else Decimal(amount), mode=mode)

    def confirm_partial(self, uuid: str) -> Invoice:
        return self.world.confirm_partial(uuid)

    def expire(self, uuid: str) -> Invoice:
        return self.world.expire_now(uuid)

    def resend_postback(self, uuid: str) -> int:
        return self.world.resend_postback(uuid)

    def advance_clock(self, delta: timedelta) -> None:
        self.world.set_clock_offset(self.world.clock.offset + delta)

    @property
    def deliveries(self) -> list[Delivery]:
        return self.world.deliveries

    def wait_for_deliveries(self, count: int, *, timeout: float = 5.0) -> list[Delivery]:
        """Block until at least `count` deliveries are recorded; returns them all."""
        self._wait(lambda: len(self.world.deliveries) >= count, timeout, f"{count} deliveries")
        return self.world.deliveries

    def wait_until_idle(self, *, timeout: float = 5.0) -> list[Delivery]:
        """Block until no postback is waiting, sending or retrying; returns all deliveries."""
        self._wait(lambda: self.world.postbacks.pending == 0, timeout, "postbacks to settle")
        return self.world.deliveries

    @staticmethod
    def _wait(done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.01)
