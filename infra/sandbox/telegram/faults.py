"""Fault injection per Bot API method: added latency, 429s, 5xx and any refusal of the catalogue.

A rule names a method (case-insensitive) or "*" for every method, and may be narrowed to calls
about one user (`user_id`: the call's user_id, or its chat_id when that is a private chat) or
addressed to one chat (`chat_id`). The most specific rule that matches a call wins: a method's
own rule over "*", then one naming the user, then one naming the chat. `fail_next` fails exactly
the next N matching calls, so tests need no luck (a rule that did only that is gone once used
up, and wider rules apply again); the probabilities make a world unkind at
random (seeded, so a run can be replayed). The default world has no rules: it stays friendly.

Kinds of failure: "retry_after" (429 with `retry_after`), "server_error" (`server_error_status`)
or any name of `errors.CATALOGUE` ("member_not_found", "chat_not_found", "user_id_invalid" …).
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, replace

from infra.sandbox.telegram.errors import CATALOGUE, BotApiError, server_error, too_many_requests

KINDS = ("retry_after", "server_error", *CATALOGUE)
RuleKey = tuple[str, int, int]


@dataclass(frozen=True, kw_only=True)
class FaultRule:
    """What to do to calls of one method (or "*"), optionally about one user or chat only."""

    method: str = "*"
    user_id: int = 0  # 0: calls about anyone
    chat_id: int = 0  # 0: calls addressed to any chat
    latency_seconds: float = 0.0
    retry_after_probability: float = 0.0
    retry_after: int = 5
    server_error_probability: float = 0.0
    server_error_status: int = 500
    error: str = ""  # a CATALOGUE name, answered with `error_probability`
    error_probability: float = 0.0
    fail_next: int = 0
    fail_next_with: str = "retry_after"  # any of KINDS

    @property
    def key(self) -> RuleKey:
        return (self.method, self.user_id, self.chat_id)

    def problems(self) -> list[str]:
        """What makes this rule unusable; empty when it is fine."""
        found = []
        if self.fail_next_with not in KINDS:
            found.append(f"fail_next_with must be one of {sorted(KINDS)}")
        if self.error and self.error not in CATALOGUE:
            found.append(f"error must be one of {sorted(CATALOGUE)}")
        if self.error_probability and not self.error:
            found.append("error_probability needs an error")
        return found

    def only_fails_next(self) -> bool:
        """Whether the rule does nothing but fail the next calls (so it ends with them)."""
        return not (self.latency_seconds or self.retry_after_probability
                    or self.server_error_probability or self.error_probability)

    def matches(self, method: str, *, user_id: int | None, chat_id: int | None) -> bool:
        return (self.method in {method, "*"}
                and self.user_id in {0, user_id} and self.chat_id in {0, chat_id})

    def specificity(self) -> tuple[bool, bool, bool]:
        return (self.method != "*", self.user_id != 0, self.chat_id != 0)

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
        self._rules: dict[RuleKey, FaultRule] = {}

    def set_rule(self, rule: FaultRule) -> FaultRule:
        """Replace the rule with the same method and target; ValueError if it is unusable."""
        if problems := rule.problems():
            raise ValueError("; ".join(problems))
        stored = replace(rule, method=rule.method.lower())
        with self._lock:
            self._rules[stored.key] = stored
        return stored

    def clear(self, method: str | None = None) -> None:
        """Forget every rule, or every rule of one method (whatever its target)."""
        with self._lock:
            if method is None:
                self._rules.clear()
            else:
                for key in [k for k in self._rules if k[0] == method.lower()]:
                    del self._rules[key]

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules.values())

    def decide(
        self, method: str, *, user_id: int | None = None, chat_id: int | None = None,
    ) -> FaultDecision:
        name = method.lower()
        with self._lock:
            matching = [r for r in self._rules.values()
                        if r.matches(name, user_id=user_id, chat_id=chat_id)]
            if not matching:
                return FaultDecision()
            rule = max(matching, key=FaultRule.specificity)
            error: BotApiError | None = None
            if rule.fail_next > 0:
                if rule.fail_next == 1 and rule.only_fails_next():
                    del self._rules[rule.key]  # used up: wider rules apply again
                else:
                    self._rules[rule.key] = replace(rule, fail_next=rule.fail_next - 1)
                error = self._failure(rule, rule.fail_next_with)
            elif self._rng.random() < rule.retry_after_probability:
                error = self._failure(rule, "retry_after")
            elif self._rng.random() < rule.server_error_probability:
                error = self._failure(rule, "server_error")
            elif rule.error and self._rng.random() < rule.error_probability:
                error = self._failure(rule, rule.error)
            return FaultDecision(latency_seconds=rule.latency_seconds, error=error)

    @staticmethod
    def _failure(rule: FaultRule, kind: str) -> BotApiError:
        if kind == "retry_after":
            return too_many_requests(rule.retry_after)
        if kind == "server_error":
            return server_error(rule.server_error_status)
        return CATALOGUE[kind]()
