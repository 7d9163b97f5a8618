"""The base of the domain's refusals: a rule said no, with a machine-readable reason.

The reason is a `StrEnum` so the bot can pick a translated text for it; the message is one
English line for logs and operators.
"""

from enum import StrEnum
from typing import Generic, TypeVar

ReasonT = TypeVar("ReasonT", bound=StrEnum)


class Refusal(Exception, Generic[ReasonT]):
    """A business rule refused a request; `reason` says which rule, `message` says how."""

    def __init__(self, reason: ReasonT, message: str) -> None:
        # Both go to Exception.args so the error pickles (Celery results, logging handlers).
        super().__init__(reason, message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message
