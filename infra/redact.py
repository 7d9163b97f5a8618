"""Rendering URLs without their passwords: the one helper every banner, log and error uses.

A database or broker URL carries its password in the user-info part
(`postgresql://user:password@host/db`, `redis://:password@host:6379/0`). Anything printed for a
person goes through `redact_url`, so the password never reaches a terminal, a log file or
`docker compose logs`.
"""

from __future__ import annotations

import re

MASK = "***"
# "//user:" up to the last "@" before the path. A regular expression rather than urlsplit: a
# malformed URL (a port that is not a number, an unescaped "@" in the password) is exactly what
# an error message shows, and it must be masked too.
_USERINFO_PASSWORD = re.compile(r"(?P<head>//[^/:@]*:)[^/]*@")


def redact_url(url: str) -> str:
    """`url` with any password replaced by ***; the rest (user, host, port, path) stays."""
    return _USERINFO_PASSWORD.sub(lambda match: f"{match['head']}{MASK}@", url)
