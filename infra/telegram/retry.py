"""How long a Celery task waits before retrying a transient Telegram failure.

Telegram's `retry_after` is honoured as given; other transient failures back off exponentially
with full jitter (a uniform draw below 1, 2, 4 … s), so workers that failed together do not
come back together. Everything is capped: a countdown longer than the broker's visibility
timeout would have Redis hand the task to a second worker (reliability.md P4), so `cap` must
stay below it — `infra.celery_config.MAX_COUNTDOWN` is the value to pass.
"""

from __future__ import annotations

import random

from infra.telegram.errors import TelegramTransient

# 2**30 s is far beyond any cap; stopping the exponent there keeps the float finite.
_MAX_EXPONENT = 30


def retry_countdown(failure: TelegramTransient, attempt: int, *, cap: float = 300.0) -> float:
    """Seconds to wait before retry number `attempt` (0 for the first retry, Celery's numbering).

    A retry_after above `cap` is cut to `cap`: the early retry meets a fresh 429 that says how
    much longer to wait, which is harmless, whereas exceeding the visibility timeout is not.
    """
    if failure.retry_after is not None:
        return min(max(failure.retry_after, 0.0), cap)
    ceiling = min(float(2 ** min(max(attempt, 0), _MAX_EXPONENT)), cap)
    return random.uniform(0.0, ceiling)
