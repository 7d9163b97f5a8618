"""Operator commands for the shell: `python -m infra.ops <command>` (see `--help`).

dead-letters list|replay, recheck-invoice, history, status, run (a periodic job now) and
reset-sandbox (sandbox only). Each command prints short lines to
stdout, one line per error to stderr, and exits 0 (done), 1 (not found or refused), 2 (usage or
configuration) or 3 (the database, Redis or CryptoCloud could not be reached).
"""

from infra.ops.cli import main

__all__ = ["main"]
