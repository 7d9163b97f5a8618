"""Settings: every contract name, derived sandbox mode, and one-line errors for bad values."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from infra.settings import (
    SANDBOX_ADMIN_ID,
    SANDBOX_CHANNEL_ID,
    SANDBOX_CRYPTOCLOUD_API_BASE,
    SANDBOX_TELEGRAM_API_BASE,
    SettingsError,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_ENV = (
    "BOT_TOKEN", "TELEGRAM_API_BASE", "CHANNEL_ID", "ADMIN_IDS", "CRYPTOCLOUD_API_KEY",
    "CRYPTOCLOUD_SHOP_ID", "CRYPTOCLOUD_SECRET_KEY", "CRYPTOCLOUD_API_BASE", "DATABASE_URL",
    "REDIS_URL", "PLANS", "TRIAL_DAYS", "WEBHOOK_BIND", "TELEGRAM_RATE_PER_SEC",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an environment without any of the project's settings."""
    for name in CONTRACT_ENV:
        monkeypatch.delenv(name, raising=False)


def settings_from(monkeypatch: pytest.MonkeyPatch, **env: str):  # type: ignore[no-untyped-def]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings(_env_file=None)


def test_defaults_are_the_contract_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing set, the defaults of CONTRACT.md apply and both sides run in sandbox mode."""
    settings = settings_from(monkeypatch)
    assert settings.database_url == "sqlite:///var/app.db"
    assert settings.trial_days == 3
    assert settings.webhook_bind == "127.0.0.1:8080"
    assert settings.telegram_rate_per_sec == 25
    assert [(p.code, p.days, p.price_usd, p.title) for p in settings.plans] == [
        ("month", 30, Decimal("10.00"), "1 month")
    ]
    assert settings.sandbox and settings.telegram_sandbox and settings.cryptocloud_sandbox
    assert settings.telegram_base == SANDBOX_TELEGRAM_API_BASE
    assert settings.cryptocloud_base == SANDBOX_CRYPTOCLOUD_API_BASE
    assert settings.channel == SANDBOX_CHANNEL_ID
    assert settings.admins == frozenset({SANDBOX_ADMIN_ID})


def test_production_credentials_leave_sandbox_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """With all credentials set, the real services' base URLs are used and no sandbox is on."""
    settings = settings_from(
        monkeypatch, BOT_TOKEN="42:real", CHANNEL_ID="-1005", ADMIN_IDS="7, 8",
        CRYPTOCLOUD_API_KEY="k", CRYPTOCLOUD_SHOP_ID="s", CRYPTOCLOUD_SECRET_KEY="x",
    )
    assert not settings.sandbox
    assert settings.telegram_base == "https://api.telegram.org"
    assert settings.cryptocloud_base == "https://api.cryptocloud.plus"
    assert settings.admins == frozenset({7, 8})
    assert settings.channel == -1005


def test_secrets_are_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secret values do not appear in the settings' repr."""
    settings = settings_from(
        monkeypatch, BOT_TOKEN="42:topsecret", CHANNEL_ID="-1",
        CRYPTOCLOUD_API_KEY="apikey-secret", CRYPTOCLOUD_SHOP_ID="shop-secret",
        CRYPTOCLOUD_SECRET_KEY="jwt-secret",
    )
    shown = repr(settings) + str(settings)
    for secret in ("topsecret", "apikey-secret", "shop-secret", "jwt-secret"):
        assert secret not in shown


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ADMIN_IDS": "abc"}, "ADMIN_IDS: 'abc' is not a Telegram user id"),
        ({"PLANS": "month:x:10"}, "PLANS: entry 'month:x:10': days must be a whole number"),
        ({"TRIAL_DAYS": "-1"}, "TRIAL_DAYS: Input should be greater than or equal to 0"),
        ({"WEBHOOK_BIND": "8080"}, "WEBHOOK_BIND: expected host:port"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL: expected a sqlite:/// or postgresql://"),
        ({"CRYPTOCLOUD_API_KEY": "k"}, "CRYPTOCLOUD_SECRET_KEY, CRYPTOCLOUD_SHOP_ID: set all"),
        ({"BOT_TOKEN": "1:x"}, "CHANNEL_ID: required when BOT_TOKEN is set"),
        ({"TELEGRAM_RATE_PER_SEC": "0"}, "TELEGRAM_RATE_PER_SEC: Input should be greater than 0"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    """A bad value is refused with one line that starts with the variable's name."""
    with pytest.raises(SettingsError) as refused:
        settings_from(monkeypatch, **env)
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ("ADMIN_IDS=abc", "ADMIN_IDS"),
        ("PLANS=month:x:10", "PLANS"),
        ("TRIAL_DAYS=-1", "TRIAL_DAYS"),
    ],
)
def test_a_process_with_a_bad_value_stops_with_one_line(env: str, expected: str) -> None:
    """An entry point exits with status 2 and a single line on stderr, no traceback."""
    name, _, value = env.partition("=")
    result = subprocess.run(
        [sys.executable, "-c", "from infra.settings import settings_or_exit; settings_or_exit()"],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", name: value}, capture_output=True, text=True,
        check=False, timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error: {expected}:")
    assert "Traceback" not in result.stderr
