"""The stand-in's notion of "now": real UTC time plus an offset that tests may move forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SandboxClock:
    """Aware UTC time shifted by `offset`, so expiry can be tested without sleeping."""

    def __init__(self, *, offset: timedelta = timedelta(0)) -> None:
        self._offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    @property
    def offset(self) -> timedelta:
        return self._offset

    def set_offset(self, offset: timedelta) -> None:
        self._offset = offset

    def advance(self, delta: timedelta) -> None:
        self._offset += delta
