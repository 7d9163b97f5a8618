"""The Telegram gateway Celery workers use for every Bot API call.

`TelegramGateway` runs aiogram on one event loop per process, waits for the fleet-wide
`SendBudget` (Redis token buckets) before each call, and raises only the failures of
`errors`: transient (retry after `retry_countdown`), blocked, already done, unknown user, permanent.
Code that calls Telegram depends on `TelegramPort`; its unit tests use `FakeTelegramGateway`
from `infra.telegram.fake`.
"""

from infra.telegram.errors import (
    TelegramAlreadyDone,
    TelegramBlocked,
    TelegramFailure,
    TelegramPermanent,
    TelegramTransient,
    TelegramUnknownUser,
    classify,
)
from infra.telegram.gateway import TelegramGateway
from infra.telegram.port import TelegramPort, member_status
from infra.telegram.rate_limit import BudgetTimeout, Lane, SendBudget
from infra.telegram.retry import retry_countdown

__all__ = [
    "BudgetTimeout",
    "Lane",
    "SendBudget",
    "TelegramAlreadyDone",
    "TelegramBlocked",
    "TelegramFailure",
    "TelegramGateway",
    "TelegramPermanent",
    "TelegramPort",
    "TelegramTransient",
    "TelegramUnknownUser",
    "classify",
    "member_status",
    "retry_countdown",
]
