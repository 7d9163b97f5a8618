"""`python -m infra.sandbox cryptocloud [...]`: serve the stand-in in the foreground."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from infra.sandbox.cryptocloud.app import create_app
from infra.sandbox.cryptocloud.config import DEFAULT_NOTIFY_URL, SandboxConfig
from infra.sandbox.cryptocloud.world import CryptoCloudWorld
from infra.sandbox.server import run_forever


def build_parser() -> argparse.ArgumentParser:
    defaults = SandboxConfig()
    parser = argparse.ArgumentParser(
        prog="python -m infra.sandbox cryptocloud",
        description="Local stand-in of the CryptoCloud v2 API with hosted pay pages.",
    )
    parser.add_argument("--bind", default="127.0.0.1:8082", help="host:port (default %(default)s)")
    parser.add_argument(
        "--notify-url", default=DEFAULT_NOTIFY_URL, help="postback URL (default %(default)s)"
    )
    parser.add_argument("--format", choices=("form", "json"), default="form", help="postback body")
    parser.add_argument("--api-key", default=defaults.api_key)
    parser.add_argument("--shop-id", default=defaults.shop_id)
    parser.add_argument("--secret-key", default=defaults.secret_key)
    parser.add_argument("--chat-url", help="where the pay pages' \"Back to the chat\" link goes")
    parser.add_argument("--on-partial", metavar="COMMAND",
                        help="run COMMAND after a part payment (e.g. the shop's poll), since "
                             "CryptoCloud sends no postback for one")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = SandboxConfig(
        api_key=args.api_key,
        shop_id=args.shop_id,
        secret_key=args.secret_key,
        notify_url=args.notify_url,
        postback_format=args.format,
    )
    base = f"http://{args.bind}"
    sys.stdout.write(
        f"CryptoCloud sandbox on {base}\n"
        f"  API base (CRYPTOCLOUD_API_BASE): {base}   paths /v2/...\n"
        f"  invoices and pay pages:          {base}/\n"
        f"  control API:                     {base}/control/invoices\n"
        f"  postbacks go to:                 {args.notify_url} ({args.format})\n"
    )
    sys.stdout.flush()
    on_partial = tuple(shlex.split(args.on_partial)) if args.on_partial else None
    app = create_app(CryptoCloudWorld(config=config), chat_url=args.chat_url,
                     on_partial=on_partial)
    run_forever(app, args.bind)
    return 0
