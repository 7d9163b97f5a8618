"""render_nginx.py, the operator's way of filling infra/deploy/nginx.conf (run as a script)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

RENDER = Path(__file__).resolve().parents[3] / "infra" / "deploy" / "render_nginx.py"


def render(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RENDER), *args], capture_output=True, text=True,
                          timeout=30, check=False)


def test_the_production_defaults_point_at_certbot_and_the_procfile_ports() -> None:
    """With only --domain: certbot's paths, 80/443 on IPv4 and IPv6, gateway on :8080."""
    result = render("--domain", "hooks.example.com")
    assert result.returncode == 0, result.stderr
    site = result.stdout
    assert not re.search(r"__[A-Z_]+__", site)
    assert "server_name hooks.example.com;" in site
    assert "ssl_certificate /etc/letsencrypt/live/hooks.example.com/fullchain.pem;" in site
    assert "ssl_certificate_key /etc/letsencrypt/live/hooks.example.com/privkey.pem;" in site
    assert "proxy_pass http://127.0.0.1:8080;" in site
    assert "listen 443 ssl;" in site
    assert "listen [::]:443 ssl;" in site
    assert "listen 80 default_server;" in site
    assert "root /var/www/certbot;" in site


def test_without_a_bot_path_there_is_no_telegram_location() -> None:
    """Long-polling deployments get no /telegram/ location at all."""
    site = render("--domain", "hooks.example.com").stdout
    assert "/telegram/" not in site
    assert "8090" not in site


def test_with_a_bot_path_the_telegram_location_goes_to_the_bot() -> None:
    """--bot-path adds `location = /telegram/<path>` proxied to BOT_WEBHOOK_BIND."""
    result = render("--domain", "hooks.example.com", "--bot-path", "A" * 32,
                    "--bot-upstream", "127.0.0.1:9001")
    assert result.returncode == 0, result.stderr
    assert f"location = /telegram/{'A' * 32} {{" in result.stdout
    assert "proxy_pass http://127.0.0.1:9001;" in result.stdout


def test_no_ipv6_leaves_out_every_ipv6_listener() -> None:
    """--no-ipv6 is for hosts (and test containers) without IPv6."""
    site = render("--domain", "hooks.example.com", "--no-ipv6").stdout
    assert "[::]" not in site
    assert site.count("listen ") == 4


@pytest.mark.parametrize(
    "args",
    [
        ("--domain", "not a domain"),
        ("--domain", "hooks.example.com;"),
        ("--domain", "hooks.example.com", "--bot-path", "short"),
        ("--domain", "hooks.example.com", "--bot-path", "has/slash/0123456789"),
        ("--domain", "hooks.example.com", "--gateway", "localhost:8080"),
        ("--domain", "hooks.example.com", "--tls-cert", "relative.pem"),
        ("--domain", "hooks.example.com", "--acme-root", "/var/www; return 200"),
    ],
)
def test_values_that_would_break_the_config_are_refused(args: tuple[str, ...]) -> None:
    """A bad option is a usage error (exit 2) and prints no site file."""
    result = render(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "error:" in result.stderr
