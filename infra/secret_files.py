"""Secrets generated once and kept in a private file (mode 0600), for `make run`'s own services.

The embedded Redis's password and Flower's login are made on the first run and read back on the
next, so a browser's saved Flower login and an operator's celery CLI keep working.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def new_password() -> str:
    """A random password of hex digits: safe in a URL and a config file without escaping."""
    return secrets.token_hex(24)


def read_secret(path: Path) -> str | None:
    """The secret kept at `path`, or None when there is none yet."""
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file only its owner can read, private before the secret is in it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode through O_CREAT: fix it
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def kept_secret(path: Path, make: Callable[[], str] = new_password) -> str:
    """The secret at `path`, made with `make` and stored privately the first time."""
    stored = read_secret(path)
    if stored is None:
        stored = make()
        write_private(path, stored)
    return stored
