"""The client's failure tree: callers decide from the class alone whether to retry.

- `CryptoCloudUnavailable`: transient (network error, timeout, HTTP 408/429/5xx). Retry with
  backoff, after `retry_after` seconds when the provider said so.
- `CryptoCloudRejected`: the provider refused the request (auth or validation). Record, never
  retry: the same request will be refused again.
- `CryptoCloudProtocolError`: the provider answered in a shape this client does not understand.
  Permanent for that call; the message names the field.
- `CryptoCloudMoved` (a protocol error): the API host answers with a redirect, as the old host
  may once CryptoCloud is fully renamed Trybit (reference §0). The redirect is not followed (the
  API key would ride along to wherever it points); the message names the new location and the
  setting to change.

Messages carry the provider's words, never a credential. The errors pickle, so a Celery pool child
can hand them to its parent intact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class CryptoCloudError(Exception):
    """A CryptoCloud call failed; `operation` is the API path it called, e.g. "invoice/create"."""

    def __init__(self, message: str, *, operation: str = "") -> None:
        super().__init__(message)
        self.operation = operation

    def __reduce__(self) -> tuple[Any, ...]:
        # The default reduce re-calls __init__ with args only; keep the attributes too.
        return (_rebuild, (type(self), str(self), self.__dict__))


class CryptoCloudUnavailable(CryptoCloudError):
    """Transient: retry with backoff (at least `retry_after` seconds when it is set)."""

    def __init__(
        self, message: str, *, operation: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message, operation=operation)
        self.retry_after = retry_after


class CryptoCloudRejected(CryptoCloudError):
    """Permanent: the provider refused; `details` is its error object, e.g. {"amount": "..."}."""

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        status_code: int = 400,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, operation=operation)
        self.status_code = status_code
        self.details: dict[str, Any] = dict(details or {})


class CryptoCloudProtocolError(CryptoCloudError):
    """The answer did not have the documented shape; permanent for that call."""


class CryptoCloudMoved(CryptoCloudProtocolError):
    """The API base answered with a redirect to `location`; `new_base` is the base it implies."""

    def __init__(self, message: str, *, operation: str = "", location: str = "",
                 new_base: str = "") -> None:
        super().__init__(message, operation=operation)
        self.location = location
        self.new_base = new_base


def _rebuild(cls: type[CryptoCloudError], message: str, state: dict[str, Any]) -> CryptoCloudError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error
