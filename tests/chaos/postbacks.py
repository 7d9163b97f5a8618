"""Postbacks as an unkind provider sends them: 1–3 copies of most, none of some, in any order.

Copies wait in one pool and are taken at random by several sender threads once due, so copies
of different invoices interleave and copies of one invoice race each other. Each copy is a
fresh body with a fresh token, rendered by the CryptoCloud stand-in as it would send it.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from infra.sandbox.cryptocloud import CryptoCloudSandbox
from infra.sandbox.cryptocloud.postback import render


@dataclass
class Sent:
    """What the gateway answered, over the whole storm."""

    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # no HTTP answer at all
    never_sent: int = 0
    copies: int = 0


class PostbackStorm:
    """Owns the sender threads; `add` schedules an invoice's copies (0 for `never_sent`)."""

    def __init__(self, *, cryptocloud: CryptoCloudSandbox, gateway_url: str, rng: random.Random,
                 senders: int = 6, spread_seconds: float = 4.0, never_share: float = 0.05) -> None:
        self.cryptocloud, self.url = cryptocloud, f"{gateway_url}/cryptocloud_webhook"
        self.rng, self.spread, self.never_share = rng, spread_seconds, never_share
        self.sent = Sent()
        self._due: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._threads = [threading.Thread(target=self._send_loop, name=f"postbacks-{n}",
                                          daemon=True) for n in range(senders)]

    def start(self) -> PostbackStorm:
        self._running.set()
        for thread in self._threads:
            thread.start()
        return self

    def add(self, invoice_uuid: str) -> int:
        """Schedule 1–3 copies (or, for `never_share` of invoices, none); how many."""
        with self._lock:
            copies = 0 if self.rng.random() < self.never_share else self.rng.randint(1, 3)
            now = time.monotonic()
            self._due += [(now + self.rng.uniform(0, self.spread), invoice_uuid)
                          for _ in range(copies)]
            self.sent.copies += copies
            self.sent.never_sent += copies == 0
            return copies

    def pending(self) -> int:
        with self._lock:
            return len(self._due)

    def stop(self) -> None:
        self._running.clear()
        for thread in self._threads:
            thread.join(timeout=30)

    def _take(self) -> str | None:
        with self._lock:
            now = time.monotonic()
            due = [index for index, (at, _) in enumerate(self._due) if at <= now]
            if not due:
                return None
            return self._due.pop(self.rng.choice(due))[1]

    def _send_loop(self) -> None:
        with httpx.Client(timeout=30.0) as client:
            while self._running.is_set() or self.pending():
                uuid = self._take()
                if uuid is None:
                    time.sleep(0.05)
                    continue
                world = self.cryptocloud.world
                body = render(world.invoice(uuid), world.config, world.now())
                try:
                    answer = client.post(self.url, content=body.body,
                                         headers={"Content-Type": body.content_type})
                except httpx.HTTPError as error:
                    with self._lock:
                        self.sent.errors[type(error).__name__] += 1
                    continue
                with self._lock:
                    self.sent.statuses[answer.status_code] += 1
