"""`python -m infra.sandbox <stand-in> [options]`: run one local stand-in in the foreground.

Each stand-in is imported only when chosen, so one's dependencies never slow the other. A
stand-in's CLI module exposes `main(argv) -> int` and parses its own options.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

STAND_INS = {
    "telegram": "infra.sandbox.telegram.cli",
    "cryptocloud": "infra.sandbox.cryptocloud.cli",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.sandbox", description="Run a local stand-in of an outside service."
    )
    parser.add_argument("stand_in", choices=sorted(STAND_INS), help="which stand-in to run")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="its options (see --help)")
    args = parser.parse_args(argv)
    cli = importlib.import_module(STAND_INS[args.stand_in])
    return int(cli.main(args.options))


if __name__ == "__main__":
    sys.exit(main())
