"""The application's lifecycle (app.py, sandbox.py): the expiry tick, reset and clean shutdown."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

from infra.sandbox.cryptocloud import CryptoCloudSandbox, CryptoCloudWorld, SandboxConfig
from infra.sandbox.cryptocloud.validation import CreateRequest
from tests.fixtures.sandboxes import PostbackReceiver

REQUEST = CreateRequest(
    amount=Decimal(10), currency="USD", order_id=None, email=None, time_to_pay=None,
    available_currencies=(), cryptocurrency=None, locale="en",
)  # fmt: skip


class CountingWorld(CryptoCloudWorld):
    """Counts expiry sweeps, to see the background tick run without any request."""

    sweeps = 0

    def sweep(self) -> list[str]:
        self.sweeps += 1
        return super().sweep()


def test_background_tick_sweeps_without_requests() -> None:
    """The app sweeps for overdue invoices on its own, every tick."""
    world = CountingWorld()
    with CryptoCloudSandbox(world=world, tick_seconds=0.02):
        time.sleep(0.2)
    assert world.sweeps >= 3


def test_stop_abandons_waiting_postbacks_cleanly(postback_receiver: PostbackReceiver) -> None:
    """Stopping with a postback still in its delay returns promptly and sends nothing."""
    config = SandboxConfig(notify_url=postback_receiver.url, delay_seconds=30)
    sandbox = CryptoCloudSandbox(config=config).start()
    uuid = sandbox.world.create_invoice(REQUEST, link_base=sandbox.base_url).uuid
    sandbox.pay(uuid)
    assert sandbox.world.postbacks.pending == 1
    started = time.monotonic()
    sandbox.stop()
    assert time.monotonic() - started < 5
    assert postback_receiver.received == [] and sandbox.deliveries == []


def test_reset_cancels_pending_postbacks(
    cryptocloud_sandbox: CryptoCloudSandbox, postback_receiver: PostbackReceiver
) -> None:
    """A reset forgets invoices, deliveries, config and clock, and abandons pending sends."""
    cryptocloud_sandbox.configure(notify_url=postback_receiver.url, delay_seconds=30)
    uuid = cryptocloud_sandbox.world.create_invoice(REQUEST, link_base="http://x").uuid
    cryptocloud_sandbox.pay(uuid)
    cryptocloud_sandbox.advance_clock(timedelta(hours=1))
    cryptocloud_sandbox.world.reset()
    assert cryptocloud_sandbox.wait_until_idle() == []
    assert cryptocloud_sandbox.world.invoices() == []
    assert cryptocloud_sandbox.config.delay_seconds == 0
    assert cryptocloud_sandbox.world.clock.offset == timedelta(0)
