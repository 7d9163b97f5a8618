"""Argument parsing and error handling of `python -m infra.ops`; the commands live beside it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TextIO

from kombu.exceptions import OperationalError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from infra.cryptocloud import CryptoCloudError, CryptoCloudRejected
from infra.ops import dead_letters, recheck, reports, reset, run_now
from infra.ops.tools import OK, REFUSED, UNAVAILABLE, USAGE, OpsError, Tools
from infra.redact import redact_url
from infra.settings import Settings, settings_or_exit


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra.ops",
        description="Operator commands. Exit codes: 0 done, 1 not found or refused, "
                    "2 usage or configuration, 3 database/Redis/CryptoCloud unreachable.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    letters = commands.add_parser("dead-letters", help="list or replay parked tasks")
    actions = letters.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="dead letters not replayed yet")
    listing.add_argument("--all", action="store_true", help="include replayed ones")
    replaying = actions.add_parser("replay", help="send a dead letter's task again")
    which = replaying.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", type=int, help="the dead letter's #id")
    which.add_argument("--all", action="store_true", help="every dead letter not replayed yet")

    rechecking = commands.add_parser(
        "recheck-invoice", help="ask CryptoCloud about an invoice now and settle it")
    rechecking.add_argument("invoice", help="INV-XXXXXXXX or XXXXXXXX")

    showing = commands.add_parser("history", help="a user's access history, newest first")
    showing.add_argument("user_id", type=int, help="Telegram user id")

    commands.add_parser("status", help="open invoices, inbox, outbox, dead letters, queues")

    running = commands.add_parser(
        "run", help="run a periodic job now and say what it did (the page's operator buttons)")
    running.add_argument("job", choices=sorted(run_now.JOBS))

    resetting = commands.add_parser(
        "reset-sandbox", help="sandbox only: forget every subscriber (the page's Reset world)")
    resetting.add_argument("--yes", action="store_true", help="confirm")
    return parser


_COMMANDS: dict[str, Callable[[Tools, argparse.Namespace], int]] = {
    "recheck-invoice": lambda tools, args: recheck.recheck(tools, invoice=args.invoice),
    "history": lambda tools, args: reports.history(tools, user_id=args.user_id),
    "run": lambda tools, args: run_now.run_job(tools, job=args.job),
    "reset-sandbox": lambda tools, args: reset.reset_sandbox(tools, confirmed=args.yes),
    "status": lambda tools, args: reports.status(tools),
}


def _run(tools: Tools, args: argparse.Namespace) -> int:
    if args.command == "dead-letters" and args.action == "list":
        return dead_letters.list_letters(tools, include_replayed=args.all)
    if args.command == "dead-letters":
        return dead_letters.replay(tools, letter_id=None if args.all else args.id)
    return _COMMANDS[args.command](tools, args)


def _explain(error: Exception, settings: Settings) -> tuple[str, int]:
    """The operator's one line, and the exit code, for a failure of a command."""
    if isinstance(error, OpsError):
        return str(error), error.code
    if isinstance(error, SQLAlchemyError):
        first = str(error).splitlines()[0] if str(error) else ""
        return f"database unavailable: {type(error).__name__}: {first}", UNAVAILABLE
    if isinstance(error, OperationalError | RedisError):
        return f"Redis at {redact_url(settings.broker_url)} unavailable: {error}", UNAVAILABLE
    if isinstance(error, CryptoCloudRejected):
        return f"CryptoCloud refused: {error}", REFUSED
    return f"CryptoCloud unavailable: {error}", UNAVAILABLE


def main(
    argv: list[str] | None = None, *, settings: Settings | None = None,
    out: TextIO | None = None, err: TextIO | None = None,
) -> int:
    """Run one command; return its exit code. Tests pass settings and streams."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # argparse has printed the usage line already
        return int(stop.code or 0) and USAGE
    tools = Tools(settings=settings or settings_or_exit(), out=out)

    try:
        return _run(tools, args)
    except (OpsError, SQLAlchemyError, OperationalError, RedisError, CryptoCloudError) as error:
        message, code = _explain(error, tools.settings)
        err.write(f"error: {message}\n")
        return code
    finally:
        tools.close()


__all__ = ["OK", "main"]
