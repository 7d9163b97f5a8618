"""`python -m infra.sandbox telegram [...]`: serve the Bot API stand-in in the foreground."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from infra.sandbox.server import run_forever
from infra.sandbox.telegram.app import create_app
from infra.sandbox.telegram.operator_actions import OperatorAction
from infra.sandbox.telegram.persistence import WorldFile, WorldFileError
from infra.sandbox.telegram.world import TelegramWorld
from infra.settings import (
    SANDBOX_ADMIN_ID,
    SANDBOX_BOT_TOKEN,
    SANDBOX_BOT_USERNAME,
    SANDBOX_CHANNEL_ID,
    SANDBOX_CHANNEL_TITLE,
)

WORLD_FILE_NAME = "telegram-world.json"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra.sandbox telegram",
        description="Local stand-in of the Telegram Bot API with a page to play the users.",
    )
    parser.add_argument("--bind", default="127.0.0.1:8081", help="host:port (default %(default)s)")
    parser.add_argument("--token", default=SANDBOX_BOT_TOKEN, help="the bot's token")
    parser.add_argument("--username", default=SANDBOX_BOT_USERNAME, help="the bot's username")
    parser.add_argument("--channel-id", type=int, default=SANDBOX_CHANNEL_ID)
    parser.add_argument("--channel-title", default=SANDBOX_CHANNEL_TITLE)
    parser.add_argument("--admin-id", type=int, default=SANDBOX_ADMIN_ID,
                        help="the channel owner, who may use admin commands")
    parser.add_argument("--flood-limits", action="store_true",
                        help="answer bursts with 429 like Telegram (off by default)")
    parser.add_argument("--action", action="append", default=[], metavar="LABEL=COMMAND",
                        help="a button on the page that runs COMMAND (repeatable)")
    parser.add_argument("--state-dir", type=Path, metavar="DIR",
                        help=f"keep the world in DIR/{WORLD_FILE_NAME} across restarts "
                             "(default: in memory only)")
    parser.add_argument("--known-user-id", type=int, default=0, metavar="ID",
                        help="the highest user id the engine already knows: new people get "
                             "higher ids")
    parser.add_argument("--on-reset", metavar="COMMAND",
                        help="run COMMAND before \"Reset world\"; if it fails, nothing is reset")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if ":" not in args.token or not args.token.split(":", 1)[0].isdigit():
        sys.stderr.write("--token must look like <digits>:<secret>\n")
        return 2
    try:
        actions = [OperatorAction.parse(spec) for spec in args.action]
    except ValueError as error:
        sys.stderr.write(f"--action: {error}\n")
        return 2
    world = TelegramWorld(
        token=args.token, bot_username=args.username, channel_id=args.channel_id,
        channel_title=args.channel_title, admin_id=args.admin_id, flood_limits=args.flood_limits,
    )
    world.note_user_id(args.known_user_id)
    world_file = WorldFile(args.state_dir / WORLD_FILE_NAME) if args.state_dir else None
    try:
        restored = world_file is not None and world_file.load_into(world)
    except WorldFileError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    base = f"http://{args.bind}"
    sys.stdout.write(
        f"Telegram sandbox on {base}\n"
        f"  open the page:                   {base}/\n"
        f"  Bot API base (TELEGRAM_API_BASE): {base}   as {base}/bot<token>/<method>\n"
        f"  control API:                     {base}/control/state\n"
        f"  bot @{args.username}, channel {args.channel_id}, admin {args.admin_id}"
        f"{', flood limits on' if args.flood_limits else ''}\n"
    )
    if world_file is not None:
        sys.stdout.write(f"  world kept in {world_file.path}"
                         f"{' (restored)' if restored else ' (new)'}\n")
    sys.stdout.flush()
    on_reset = tuple(shlex.split(args.on_reset)) if args.on_reset else None
    run_forever(create_app(world, actions=actions, world_file=world_file, on_reset=on_reset),
                args.bind)
    return 0
