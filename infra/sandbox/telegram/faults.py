"""Fault injection per Bot API method: added latency, 429s and 5xx, random or deterministic.

A rule names a method (case-insensitive) or "*" for every method; a method's own rule wins over
"*". `fail_next` fails exactly the next N calls, so tests need no luck.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, replace
from typing import Literal

from infra.sandbox.telegram.errors import BotApiError, server_error, too_many_requests

FailureKind = Literal["retry_after", "server_error"]


@dataclass(frozen=True, kw_only=True)
class FaultRule:
    """What to do to calls of one method (or "*")."""

    method: str = "*"
    latency_seconds: float = 0.0
    retry_after_probability: float = 0.0
    retry_after: int = 5
    server_error_probability: float = 0.0
    server_error_status: int = 500
    fail_next: int = 0
    fail_next_with: FailureKind = "retry_after"

    def as_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class FaultDecision:
    """The outcome for one call: wait this long, then fail with `error` if any."""

    latency_seconds: float = 0.0
    error: BotApiError | None = None


class FaultInjector:
    """The active rules; thread-safe because tests configure it from their own thread."""

    def __init__(self, *, rng: random.Random) -> None:
        self._lock = threading.Lock()
        self._rng = rng
        self._rules: dict[str, FaultRule] = {}

    def set_rule(self, rule: FaultRule) -> FaultRule:
        stored = replace(rule, method=rule.method.lower())
        with self._lock:
            self._rules[stored.method] = stored
        return stored

    def clear(self, method: str | None = None) -> None:
        with self._lock:
            if method is None:
                self._rules.clear()
            else:
                self._rules.pop(method.lower(), None)

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules.values())

    def decide(self, method: str) -> FaultDecision:
        with self._lock:
            rule = self._rules.get(method.lower()) or self._rules.get("*")
            if rule is None:
                return FaultDecision()
            error: BotApiError | None = None
            if rule.fail_next > 0:
                self._rules[rule.method] = replace(rule, fail_next=rule.fail_next - 1)
                error = self._failure(rule, rule.fail_next_with)
            elif self._rng.random() < rule.retry_after_probability:
                error = self._failure(rule, "retry_after")
            elif self._rng.random() < rule.server_error_probability:
                error = self._failure(rule, "server_error")
            return FaultDecision(latency_seconds=rule.latency_seconds, error=error)

    @staticmethod
    def _failure(rule: FaultRule, kind: FailureKind) -> BotApiError:
        if kind == "retry_after":
            return too_many_requests(rule.retry_after)
        return server_error(rule.server_error_status)
