"""`python -m tests.chaos [--size N]` (`make chaos`): one chaos run; exit 1 on any miss.

Needs a PostgreSQL server: TEST_POSTGRES_URL, as for the test suite (a database of the run's
own is created there and dropped at the end).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tests.chaos.report import Check
from tests.chaos.run import Options, run

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--size", type=int, default=Options.size, help="subscribers")
    parser.add_argument("--seed", type=int, default=Options.seed)
    parser.add_argument("--concurrency", type=int, default=Options.concurrency,
                        help="subscribers walking to a pay link at once")
    parser.add_argument("--settle-timeout", type=float, default=Options.settle_timeout,
                        help="seconds to wait for quiescence after the last payment")
    parser.add_argument("--workdir", type=Path, help="where the process logs go")
    args = parser.parse_args(argv)
    server = os.environ.get("TEST_POSTGRES_URL") or DEFAULT_SERVER
    options = Options(size=args.size, seed=args.seed, concurrency=args.concurrency,
                      settle_timeout=args.settle_timeout, workdir=args.workdir)
    outcome = run(options, server_url=server)
    print(report(outcome.checks, outcome.notes, outcome.workdir))
    return 0 if outcome.ok else 1


def report(checks: list[Check], notes: list[str], workdir: Path) -> str:
    lines = ["", "chaos run:"]
    lines += [f"  {'ok  ' if c.ok else 'MISS'} {c.name}: {c.figures}" for c in checks]
    lines += [f"  note: {note}" for note in notes]
    lines.append(f"  logs: {workdir}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
