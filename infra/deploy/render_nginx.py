#!/usr/bin/env python3
"""Fill the __PLACEHOLDERS__ of infra/deploy/nginx.conf and print the site file.

Standard library only, so the server's system python3 runs it:

    python3 infra/deploy/render_nginx.py --domain hooks.example.com \
        [--bot-path <BOT SECRET PATH>] > /etc/nginx/sites-available/paywall

Without --bot-path the bot's webhook location is left out (the bot uses long polling). The
tests render the same template with a throwaway certificate and free ports.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).with_name("nginx.conf")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
# Telegram allows these characters in a secret token; the path is a secret of the same kind.
_BOT_PATH = re.compile(r"[A-Za-z0-9_-]{16,256}")
_BIND = re.compile(r"((\d{1,3}\.){3}\d{1,3}:)?\d{1,5}")
_RENDERED_HEADER = (
    "# Rendered by infra/deploy/render_nginx.py from infra/deploy/nginx.conf of the paywall\n"
    "# engine: change the template or the options and render again rather than editing this.\n\n"
)
_BLOCK = re.compile(r"^[ \t]*# BEGIN bot-webhook\n.*?^[ \t]*# END bot-webhook\n", re.S | re.M)


def render(
    template: str,
    *,
    domain: str,
    bot_path: str | None = None,
    http_listen: str = "80",
    https_listen: str = "443",
    ipv6: bool = True,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    acme_root: str = "/var/www/certbot",
    gateway: str = "127.0.0.1:8080",
    bot_upstream: str = "127.0.0.1:8090",
) -> str:
    """Return the site file; ValueError for a value that would not make a sane nginx config."""
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"--domain: not a DNS name: {domain!r}")
    if bot_path is not None and not _BOT_PATH.fullmatch(bot_path):
        raise ValueError("--bot-path: 16-256 characters of A-Z a-z 0-9 _ -")
    for name, bind in (("--http-listen", http_listen), ("--https-listen", https_listen),
                       ("--gateway", gateway), ("--bot-upstream", bot_upstream)):
        if not _BIND.fullmatch(bind):
            raise ValueError(f"{name}: expected PORT or IPv4:PORT, got {bind!r}")
    for name, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key),
                       ("--acme-root", acme_root)):
        if path is not None and (not path.startswith("/") or re.search(r"[\s;{}'\"]", path)):
            raise ValueError(f"{name}: expected an absolute path without spaces, got {path!r}")

    # The template's header explains the placeholders; the rendered file says where it came from.
    _notes, _, body = template.partition("\n\n")
    text = _RENDERED_HEADER + (body if bot_path else _BLOCK.sub("", body))
    if not ipv6:
        text = "".join(line for line in text.splitlines(keepends=True)
                       if not line.rstrip().endswith("# ipv6"))
    values = {
        "__HTTP_LISTEN__": http_listen,
        "__HTTPS_LISTEN__": https_listen,
        "__HTTP_PORT__": http_listen.rpartition(":")[2],
        "__HTTPS_PORT__": https_listen.rpartition(":")[2],
        "__TLS_CERT__": tls_cert or "/etc/letsencrypt/live/__DOMAIN__/fullchain.pem",
        "__TLS_KEY__": tls_key or "/etc/letsencrypt/live/__DOMAIN__/privkey.pem",
        "__ACME_ROOT__": acme_root,
        "__GATEWAY_UPSTREAM__": gateway,
        "__BOT_UPSTREAM__": bot_upstream,
        "__BOT_WEBHOOK_PATH__": bot_path or "",
        "__DOMAIN__": domain,  # last: the certificate defaults above contain it
    }
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    left = sorted(set(re.findall(r"__[A-Z0-9_]+__", text)))
    if left:
        raise ValueError(f"unfilled placeholders: {', '.join(left)}")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", required=True, help="the webhook domain")
    parser.add_argument("--bot-path", help="secret path segment of BOT_WEBHOOK_URL")
    parser.add_argument("--http-listen", default="80", help="default: %(default)s")
    parser.add_argument("--https-listen", default="443", help="default: %(default)s")
    parser.add_argument("--no-ipv6", dest="ipv6", action="store_false",
                        help="leave out the [::] listeners")
    parser.add_argument("--tls-cert", help="default: certbot's fullchain.pem of the domain")
    parser.add_argument("--tls-key", help="default: certbot's privkey.pem of the domain")
    parser.add_argument("--acme-root", default="/var/www/certbot", help="default: %(default)s")
    parser.add_argument("--gateway", default="127.0.0.1:8080",
                        help="WEBHOOK_BIND of the gateway; default: %(default)s")
    parser.add_argument("--bot-upstream", default="127.0.0.1:8090",
                        help="BOT_WEBHOOK_BIND of the bot; default: %(default)s")
    args = vars(parser.parse_args(argv))
    try:
        sys.stdout.write(render(TEMPLATE.read_text(encoding="utf-8"), **args))
    except ValueError as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
