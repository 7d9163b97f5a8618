"""Fixtures of the security matrix: the bot's real dispatcher (as its own tests drive it)."""

from __future__ import annotations

from tests.bot_frontend.conftest import anyio_backend, harness, settings

__all__ = ["anyio_backend", "harness", "settings"]
