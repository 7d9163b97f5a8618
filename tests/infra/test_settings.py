"""Settings: every contract name, derived sandbox mode, and one-line errors for bad values."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from infra.settings import (
    SANDBOX_ADMIN_ID,
    SANDBOX_BOT_TOKEN,
    SANDBOX_CHANNEL_ID,
    SANDBOX_CRYPTOCLOUD_API_BASE,
    SANDBOX_CRYPTOCLOUD_API_KEY,
    SANDBOX_CRYPTOCLOUD_SECRET_KEY,
    SANDBOX_CRYPTOCLOUD_SHOP_ID,
    SANDBOX_TELEGRAM_API_BASE,
    Settings,
    SettingsError,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[2]
# Well-formed production values (none of them real).
TOKEN = "4242424242:AAF" + "x" * 32
PRODUCTION = {"BOT_TOKEN": TOKEN, "CHANNEL_ID": "-1005", "CRYPTOCLOUD_API_KEY": "k",
              "CRYPTOCLOUD_SHOP_ID": "s", "CRYPTOCLOUD_SECRET_KEY": "x"}


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
    settings = settings_from(monkeypatch, ADMIN_IDS="7, 8", **PRODUCTION)
    assert not settings.sandbox
    assert settings.telegram_base == "https://api.telegram.org"
    assert settings.cryptocloud_base == "https://api.cryptocloud.plus"
    assert settings.admins == frozenset({7, 8})
    assert settings.channel == -1005


def test_secrets_are_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secret values do not appear in the settings' repr."""
    settings = settings_from(
        monkeypatch, BOT_TOKEN="42424242:topsecret" + "x" * 30, CHANNEL_ID="-1",
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
        ({"BOT_TOKEN": TOKEN, "ALLOW_PAYMENT_SANDBOX": "true"},
         "CHANNEL_ID: required when BOT_TOKEN is set"),
        ({"TELEGRAM_RATE_PER_SEC": "0"}, "TELEGRAM_RATE_PER_SEC: Input should be greater than 0"),
        ({"TRUSTED_PROXIES": "nginx"}, "TRUSTED_PROXIES: expected IP addresses"),
        ({"FLOWER_BASIC_AUTH": "admin:,ops:pw"}, "FLOWER_BASIC_AUTH: expected user:password"),
        ({"FLOWER_BASIC_AUTH": "admin"}, "FLOWER_BASIC_AUTH: expected user:password"),
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


def run_entry_point(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module], cwd=ROOT, capture_output=True, text=True, check=False,
        env={"PATH": "/usr/bin:/bin", "ENV_FILE": "", **env}, timeout=60,
    )


@pytest.mark.parametrize("module", ["bot_frontend", "infra.run"])
def test_a_garbage_bot_token_stops_the_process_with_one_line(module: str) -> None:
    """BOT_TOKEN=garbage (channel set) stops the bot and `make run` with one line, no banner."""
    result = run_entry_point(module, {"BOT_TOKEN": "garbage", "CHANNEL_ID": "-1005",
                                      "ALLOW_PAYMENT_SANDBOX": "true"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "configuration error: BOT_TOKEN: not a bot token from @BotFather "
        "(expected <digits>:<35 characters>)"]
    assert result.stdout == ""


def test_a_half_filled_env_names_every_problem_on_its_own_line() -> None:
    """Several problems at once: each gets its line, so one run tells the operator everything."""
    result = run_entry_point("infra.run", {
        "BOT_TOKEN": "garbage", "ADMIN_IDS": "111111111", "TRIAL_DAYS": "-1",
        "CRYPTOCLOUD_API_KEY": "k", "REDIS_URL": "http://:hunter2@h/0"})
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and result.stdout == ""
    assert [line.split(":")[1].strip() for line in lines] == [
        "BOT_TOKEN", "ADMIN_IDS", "REDIS_URL", "TRIAL_DAYS", "CRYPTOCLOUD_SECRET_KEY, "
        "CRYPTOCLOUD_SHOP_ID"], result.stderr
    assert all(line.startswith("configuration error: ") for line in lines)
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize("name", sorted(name.upper() for name in Settings.model_fields))
def test_an_empty_value_is_exactly_like_an_absent_one(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """`NAME=` (even `NAME=  `) changes nothing: every setting keeps its default."""
    defaults = settings_from(monkeypatch)
    settings = settings_from(monkeypatch, **{name: "  " if name.endswith("ID") else ""})
    assert settings == defaults
    assert settings.telegram_sandbox and settings.cryptocloud_sandbox


def test_an_empty_credential_is_not_counted_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two CryptoCloud credentials and an empty secret key is a half-set side: refused."""
    env = {**PRODUCTION, "CRYPTOCLOUD_SECRET_KEY": ""}
    with pytest.raises(SettingsError, match=r"^CRYPTOCLOUD_SECRET_KEY: set all three"):
        settings_from(monkeypatch, **env)


def test_production_never_falls_back_to_a_sandbox_credential(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With production credentials only they are used: no sandbox key is ever accepted too."""
    settings = settings_from(monkeypatch, CRYPTOCLOUD_PREVIOUS_SECRET_KEY="", **PRODUCTION)
    sandbox = {SANDBOX_BOT_TOKEN, SANDBOX_CRYPTOCLOUD_API_KEY, SANDBOX_CRYPTOCLOUD_SHOP_ID,
               SANDBOX_CRYPTOCLOUD_SECRET_KEY}
    used = {settings.telegram_token.get_secret_value(), settings.cryptocloud_key.get_secret_value(),
            settings.cryptocloud_shop.get_secret_value(),
            *(key.get_secret_value() for key in settings.cryptocloud_secrets)}
    assert used == {TOKEN, "k", "s", "x"}
    assert not used & sandbox


def test_a_real_bot_with_the_payment_stand_in_needs_the_explicit_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real BOT_TOKEN without CryptoCloud credentials is refused unless ALLOW_PAYMENT_SANDBOX."""
    with pytest.raises(SettingsError, match=r"^CRYPTOCLOUD_API_KEY: a real BOT_TOKEN needs"):
        settings_from(monkeypatch, BOT_TOKEN=TOKEN, CHANNEL_ID="-1005")
    allowed = settings_from(monkeypatch, ALLOW_PAYMENT_SANDBOX="true")
    assert allowed.payment_sandbox_with_real_bot
    assert allowed.cryptocloud_base == SANDBOX_CRYPTOCLOUD_API_BASE


def test_trusted_proxies_default_to_loopback_and_can_be_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Empty trusts the local nginx only; `none` trusts nobody; addresses are normalised."""
    assert settings_from(monkeypatch).trusted_proxies == {"127.0.0.1", "::1"}
    assert settings_from(monkeypatch, TRUSTED_PROXIES="none").trusted_proxies == frozenset()
    assert settings_from(monkeypatch, TRUSTED_PROXIES="10.0.0.2, 0:0::1").trusted_proxies == {
        "10.0.0.2", "::1"}


def test_a_malformed_url_is_shown_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """The error for a malformed database URL names it, but never echoes its password."""
    with pytest.raises(SettingsError) as refused:
        settings_from(monkeypatch, DATABASE_URL="mysql://paywall:hunter2@db/paywall")
    assert str(refused.value).startswith("DATABASE_URL: expected a sqlite:///")
    assert "paywall:***@db" in str(refused.value) and "hunter2" not in str(refused.value)


def test_the_example_env_file_copied_as_it_is_runs_the_sandbox() -> None:
    """`cp .env.example .env` keeps a fresh clone in sandbox mode, as the file's comments say."""
    settings = load_settings(_env_file=ROOT / ".env.example")
    assert settings.telegram_sandbox and settings.cryptocloud_sandbox
    assert settings.telegram_base == SANDBOX_TELEGRAM_API_BASE
    assert settings.cryptocloud_base == SANDBOX_CRYPTOCLOUD_API_BASE
    assert settings.admins == frozenset({SANDBOX_ADMIN_ID})
    assert settings.flower_basic_auth is None and settings.redis_url is None


def test_tests_never_read_the_developers_exported_settings(pytester: pytest.Pytester,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """With ADMIN_IDS and BOT_TOKEN exported and a .env present, a test still sees the defaults."""
    monkeypatch.setenv("ADMIN_IDS", "7")
    monkeypatch.setenv("bot_token", TOKEN)
    pytester.makefile(".env", "CHANNEL_ID=-1009")
    pytester.makepyfile("""
        from infra.settings import SANDBOX_ADMIN_ID, load_settings

        def test_defaults():
            settings = load_settings()
            assert settings.admins == {SANDBOX_ADMIN_ID} and settings.telegram_sandbox
            assert settings.channel_id is None
    """)
    pytester.chdir()
    result = pytester.runpytest_inprocess("-p", "tests.fixtures.environment", "-q")
    result.assert_outcomes(passed=1)
