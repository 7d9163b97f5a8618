"""Fixtures of the deploy-file tests."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def procfile() -> dict[str, list[str]]:
    """The Procfile as {process name: command split into words}: what every deploy file runs."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name: _program(shlex.split(command)) for name, _, command in
            (line.partition(": ") for line in lines if line.strip())}


def _program(words: list[str]) -> list[str]:
    """The program invocation itself: a shell prelude ending in `exec` is set-up, not the command.

    (The web line prepares the Prometheus multiprocess directory first; the systemd unit and
    the compose file do the same with their own means.)
    """
    return words[words.index("exec") + 1:] if "exec" in words else words
