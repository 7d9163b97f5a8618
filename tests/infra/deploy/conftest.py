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
    return {name: shlex.split(command) for name, _, command in
            (line.partition(": ") for line in lines if line.strip())}
