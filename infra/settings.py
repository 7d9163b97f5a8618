"""The one settings object of a process.

Only this module reads the environment (and `.env`, through python-dotenv). Every entry point
calls `settings_or_exit()` once and passes the result down. A bad value stops the process with
one line naming the variable and what is wrong; secrets are `SecretStr` and never printed.

Sandbox mode is derived, per side: without `BOT_TOKEN` the Telegram side talks to the local
Bot API stand-in with sandbox credentials; without the three CryptoCloud credentials the payment
side talks to the CryptoCloud stand-in. Nothing else changes between sandbox and production.

Secure by default: an empty value is exactly like an absent one, for every setting; a sandbox
credential never stands in for a production one; a placeholder (CHANGE_ME, the example ids) is
refused; a real bot with the payment stand-in needs ALLOW_PAYMENT_SANDBOX=true. Every problem is
reported, one line each, before anything starts.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from infra.embedded_redis import EmbeddedRedis, stored_password
from infra.redact import redact_url
from models.domain.ledger import DEFAULT_PAYOUT_MINIMUM
from models.domain.plans import PlanSpec, parse_plan_chats, parse_plans, wanted_chats

# Sandbox credentials: what `make run` and the tests use when no real ones are configured.
# They only ever reach the local stand-ins (infra/sandbox), never a real service.
SANDBOX_BOT_TOKEN = "123456789:SANDBOX-bot-token"  # noqa: S105 - reaches only the stand-in
SANDBOX_BOT_USERNAME = "sandbox_paywall_bot"
SANDBOX_CHANNEL_ID = -1001000000001
SANDBOX_CHANNEL_TITLE = "Sandbox private channel"
# The stand-in's second chat, so the sandbox can sell a bundle (PLAN_CHATS) out of the box.
SANDBOX_BUNDLE_CHAT_ID = -1001000000002
SANDBOX_BUNDLE_CHAT_TITLE = "Sandbox VIP group"
SANDBOX_ADMIN_ID = 100
SANDBOX_CRYPTOCLOUD_API_KEY = "sandbox-api-key"
SANDBOX_CRYPTOCLOUD_SHOP_ID = "SANDBOXSHOP00001"
SANDBOX_CRYPTOCLOUD_SECRET_KEY = "sandbox-secret-key-for-postback-jwt"  # noqa: S105
SANDBOX_TELEGRAM_API_BASE = "http://127.0.0.1:8081"
SANDBOX_CRYPTOCLOUD_API_BASE = "http://127.0.0.1:8082"

# With REDIS_URL unset, every process talks to the embedded Redis that `make run` starts on this
# port (see infra/embedded_redis.py), so an operator's `celery -A celery_app call …` in another
# terminal finds it too.
EMBEDDED_REDIS_PORT = 6399

PRODUCTION_TELEGRAM_API_BASE = "https://api.telegram.org"
PRODUCTION_CRYPTOCLOUD_API_BASE = "https://api.cryptocloud.plus"

CRYPTOCLOUD_CREDENTIALS = ("CRYPTOCLOUD_API_KEY", "CRYPTOCLOUD_SHOP_ID", "CRYPTOCLOUD_SECRET_KEY")

# `<bot id>:<35 characters>` as @BotFather hands it out; checked here so a mistyped token stops
# the process with one line instead of aiogram's traceback ten seconds later.
BOT_TOKEN_FORMAT = re.compile(r"[0-9]{3,20}:[A-Za-z0-9_-]{30,64}")
# Values that mean "not filled in yet": the word operators are told to replace, and the examples
# of .env.example and the deployment docs. Refused wherever they appear.
PLACEHOLDER_WORDS = ("CHANGE_ME", "CHANGEME", "REPLACE_ME")
PLACEHOLDER_IDS = frozenset({111111111, 222222222, 123456789, -1001234567890})
# The token of Telegram's own documentation, copied into many tutorials.
PLACEHOLDER_TOKENS = frozenset({"123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"})


class SettingsError(Exception):
    """Settings are missing or malformed; one line per problem for the operator."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _comma_separated(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _host_port(value: str, name: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port, got {value!r} ({name})")
    return value


class Settings(BaseSettings):
    """Every setting of CONTRACT.md plus their siblings; names are the environment names."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    # Telegram
    bot_token: SecretStr | None = None
    telegram_api_base: str | None = None
    channel_id: int | None = None
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    telegram_rate_per_sec: float = Field(default=25.0, gt=0, le=1000)
    telegram_per_chat_per_sec: float = Field(default=1.0, gt=0, le=100)
    bot_webhook_url: str | None = None
    bot_webhook_secret: SecretStr | None = None
    bot_webhook_bind: str = "127.0.0.1:8090"

    # CryptoCloud
    cryptocloud_api_key: SecretStr | None = None
    cryptocloud_shop_id: SecretStr | None = None
    cryptocloud_secret_key: SecretStr | None = None
    # During a secret rotation postbacks signed with the previous key are still accepted.
    cryptocloud_previous_secret_key: SecretStr | None = None
    cryptocloud_api_base: str | None = None
    invoice_ttl_minutes: int = Field(default=60, ge=5, le=7 * 24 * 60)
    postback_leeway_seconds: int = Field(default=30, ge=0, le=300)

    # Storage and queue
    database_url: str = "sqlite:///var/app.db"
    redis_url: str | None = None
    # Where the embedded Redis (REDIS_URL unset) listens and keeps its append-only file.
    embedded_redis_port: int = Field(default=EMBEDDED_REDIS_PORT, gt=0, lt=65536)
    embedded_redis_dir: str = "var/redis"
    # The bot's own spool of join requests the broker refused, sent when it is back.
    bot_spool_path: str = "var/bot_spool.db"

    # Product rules
    plans: Annotated[tuple[PlanSpec, ...], NoDecode] = parse_plans("month:30:10.00:1 month")
    # Bundles: `code=chat_id,chat_id;code=chat_id`; a plan not named grants CHANNEL_ID only.
    plan_chats: Annotated[dict[str, frozenset[int]], NoDecode] = Field(default_factory=dict)
    trial_days: int = Field(default=3, ge=0, le=365)
    grace_hours: int = Field(default=0, ge=0, le=24 * 30)
    reminder_days: Annotated[tuple[int, ...], NoDecode] = (3, 1)

    # Sweeps
    poll_interval_seconds: int = Field(default=60, ge=5, le=3600)
    # The fallback poll's bound on merchant/info calls (<= 100 invoices each) per minute; 120
    # covers 10,000 young open invoices asked about every minute (models.domain.polling).
    poll_max_calls_per_minute: int = Field(default=120, ge=1, le=6000)
    sweep_interval_seconds: int = Field(default=300, ge=10, le=86400)
    reminder_interval_seconds: int = Field(default=900, ge=10, le=86400)
    # The inbox relay re-queues events still unprocessed this long after they arrived.
    relay_interval_seconds: int = Field(default=30, ge=1, le=3600)
    relay_after_seconds: int = Field(default=120, ge=1, le=86400)
    # A task's claim on a Telegram effect lasts this long and is renewed while it works; once
    # it runs out (its worker died), or when nobody took the effect this long after it was
    # written, the relay re-queues it: a dead worker costs this plus one relay interval.
    effect_relay_after_seconds: int = Field(default=60, ge=3, le=86400)
    # The expiry sweep's circuit breaker (workers/sweeps/service.py, `breaker_reason`): a run
    # holds if it would remove more than SWEEP_MAX_REMOVALS (unset: no absolute ceiling), or,
    # from SWEEP_SHARE_MIN_DUE removals on, more than SWEEP_MAX_SHARE of the members or more
    # than SWEEP_MAX_CHURN_FACTOR times the recent churn per run (0 turns that rule off).
    sweep_max_removals: int | None = Field(default=None, ge=1)
    sweep_max_share: float = Field(default=0.2, gt=0, le=1)
    sweep_share_min_due: int = Field(default=10, ge=1)
    sweep_max_churn_factor: float = Field(default=10.0, ge=0)
    sweep_dry_run: bool = False

    # Processes
    webhook_bind: str = "127.0.0.1:8080"
    # Addresses whose X-Forwarded-For the gateway believes (nginx on this host); "none" for none.
    trusted_proxies: Annotated[frozenset[str], NoDecode] = frozenset({"127.0.0.1", "::1"})
    flower_basic_auth: SecretStr | None = None
    flower_port: int = Field(default=5555, gt=0, lt=65536)
    # The worker's Prometheus exporter on 127.0.0.1; 0 turns it off.
    worker_metrics_port: int = Field(default=9808, ge=0, le=65535)
    log_format: str = Field(default="auto", pattern="^(auto|json|console)$")
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")

    # Payment stand-in with a real bot: allowed only on purpose (nobody pays real money then).
    allow_payment_sandbox: bool = False

    # Referral rules: a commission becomes payable REFERRAL_HOLD_DAYS after the payment that
    # earned it (0: at once), and a payout request asks for at least PAYOUT_MIN_USD.
    referral_hold_days: int = Field(default=0, ge=0, le=3650)
    payout_min_usd: Decimal = Field(default=DEFAULT_PAYOUT_MINIMUM, gt=0, le=1_000_000,
                                    decimal_places=2, allow_inf_nan=False)

    # Telegram Stars: what one Star is worth in USD, the value a Stars payment gets in the USD
    # ledger (commissions, exports). The default is what a developer receives per Star.
    stars_usd_rate: Decimal = Field(default=Decimal("0.013"), gt=0, le=1000, max_digits=12,
                                    decimal_places=6, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_unset(cls, values: Any) -> Any:
        """`NAME=` (or only blanks) is exactly like no NAME: the default applies."""
        if isinstance(values, dict):
            return {key: value for key, value in values.items()
                    if not (isinstance(value, str) and not value.strip())}
        return values

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_placeholders(cls, value: Any) -> Any:
        shown = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(shown, str) and any(word in shown.upper() for word in PLACEHOLDER_WORDS):
            raise ValueError("is a placeholder: put the real value, or leave it empty")
        if isinstance(shown, str) and shown.strip() in PLACEHOLDER_TOKENS:
            raise ValueError("is the example from Telegram's documentation, not your token")
        return value

    @field_validator("bot_token")
    @classmethod
    def _check_bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not BOT_TOKEN_FORMAT.fullmatch(value.get_secret_value()):
            raise ValueError("not a bot token from @BotFather (expected <digits>:<35 characters>)")
        return value

    @field_validator("flower_basic_auth")
    @classmethod
    def _check_flower_login(cls, value: SecretStr | None) -> SecretStr | None:
        # Flower lets in whoever matches any entry: an entry without a password is a door.
        logins = value.get_secret_value().split(",") if value is not None else []
        if any(not user or not password for user, _, password in
               (login.strip().partition(":") for login in logins)):
            raise ValueError("expected user:password (each entry, comma-separated)")
        return value

    @field_validator("channel_id")
    @classmethod
    def _check_channel_id(cls, value: int | None) -> int | None:
        if value in PLACEHOLDER_IDS:
            raise ValueError(f"{value} is the example from .env.example: put your channel's id")
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: Any) -> Any:
        ids = []
        for part in _comma_separated(value):
            if isinstance(part, int):
                ids.append(part)
                continue
            if not str(part).isdigit() or int(part) == 0:
                raise ValueError(f"{part!r} is not a Telegram user id (positive whole number)")
            ids.append(int(part))
        examples = sorted(set(ids) & PLACEHOLDER_IDS)
        if examples:
            raise ValueError(f"{examples[0]} is the example from .env.example: put real user ids")
        return frozenset(ids)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_trusted_proxies(cls, value: Any) -> Any:
        parts = _comma_separated(value)
        if parts == ["none"]:
            return frozenset()
        try:
            return frozenset(str(ipaddress.ip_address(part)) for part in parts)
        except ValueError:
            raise ValueError(f"expected IP addresses separated by commas, or none, got {value!r}"
                             ) from None

    @field_validator("plans", mode="before")
    @classmethod
    def _parse_plans(cls, value: Any) -> Any:
        return parse_plans(value) if isinstance(value, str) else value

    @field_validator("plan_chats", mode="before")
    @classmethod
    def _parse_plan_chats(cls, value: Any) -> Any:
        return parse_plan_chats(value) if isinstance(value, str) else value

    @field_validator("reminder_days", mode="before")
    @classmethod
    def _parse_reminder_days(cls, value: Any) -> Any:
        days = []
        for part in _comma_separated(value):
            if not str(part).isdigit() or not 0 < int(part) <= 60:
                raise ValueError(f"{part!r} is not a number of days between 1 and 60")
            days.append(int(part))
        return tuple(sorted(set(days), reverse=True))

    @field_validator("webhook_bind", "bot_webhook_bind")
    @classmethod
    def _check_bind(cls, value: str) -> str:
        return _host_port(value, "host:port to listen on")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql", "postgres:")):
            raise ValueError(
                f"expected a sqlite:/// or postgresql:// URL, got {redact_url(value)!r}")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"expected a redis:// URL, got {redact_url(value)!r}")
        return value or None

    @field_validator("telegram_api_base", "cryptocloud_api_base", "bot_webhook_url")
    @classmethod
    def _check_http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s):// URL, got {redact_url(value)!r}")
        return value.rstrip("/") if value else None

    @model_validator(mode="after")
    def _check_credentials(self) -> Settings:
        problems = []
        given = [name for name in CRYPTOCLOUD_CREDENTIALS
                 if getattr(self, name.lower()) is not None]
        if given and len(given) != len(CRYPTOCLOUD_CREDENTIALS):
            missing = sorted(set(CRYPTOCLOUD_CREDENTIALS) - set(given))
            problems.append(f"{', '.join(missing)}: set all three CryptoCloud credentials, "
                            "or none of them for sandbox mode")
        if self.bot_token is not None and self.channel_id is None:
            problems.append("CHANNEL_ID: required when BOT_TOKEN is set")
        if self.bot_token is not None and not given and not self.allow_payment_sandbox:
            problems.append(
                "CRYPTOCLOUD_API_KEY: a real BOT_TOKEN needs the three CryptoCloud credentials "
                "(or ALLOW_PAYMENT_SANDBOX=true to try the bot with the payment stand-in)")
        unknown = sorted(set(self.plan_chats) - {plan.code for plan in self.plans})
        if unknown:
            problems.append(f"PLAN_CHATS: plan {unknown[0]!r} is not in PLANS "
                            f"({', '.join(plan.code for plan in self.plans)})")
        if self.bot_webhook_url and not self.bot_webhook_secret:
            problems.append("BOT_WEBHOOK_SECRET: required when BOT_WEBHOOK_URL is set")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # Derived values: the rest of the code reads these, never the raw optional fields.

    @property
    def telegram_sandbox(self) -> bool:
        return self.bot_token is None

    @property
    def cryptocloud_sandbox(self) -> bool:
        return self.cryptocloud_api_key is None

    @property
    def sandbox(self) -> bool:
        return self.telegram_sandbox or self.cryptocloud_sandbox

    @property
    def payment_sandbox_with_real_bot(self) -> bool:
        """A real bot sells through the CryptoCloud stand-in: announced wherever the run starts."""
        return not self.telegram_sandbox and self.cryptocloud_sandbox

    # A sandbox credential is used only when its side is in sandbox mode, never as a fallback
    # for an empty production value (empty is unset, and then the whole side is sandbox).

    @property
    def telegram_token(self) -> SecretStr:
        return SecretStr(SANDBOX_BOT_TOKEN) if self.bot_token is None else self.bot_token

    @property
    def telegram_base(self) -> str:
        if self.telegram_api_base:
            return self.telegram_api_base
        return SANDBOX_TELEGRAM_API_BASE if self.telegram_sandbox else PRODUCTION_TELEGRAM_API_BASE

    @property
    def channel(self) -> int:
        return self.channel_id if self.channel_id is not None else SANDBOX_CHANNEL_ID

    @property
    def chats_by_plan(self) -> dict[str, frozenset[int]]:
        """The chats each plan in PLANS grants: its PLAN_CHATS entry, else CHANNEL_ID alone."""
        return wanted_chats(self.plans, chat_id=self.channel, plan_chats=self.plan_chats)

    @property
    def chats(self) -> frozenset[int]:
        """Every chat the engine sells: CHANNEL_ID (trials, admin grants) and each plan's."""
        return frozenset({self.channel}).union(*self.chats_by_plan.values())

    @property
    def admins(self) -> frozenset[int]:
        if not self.admin_ids and self.telegram_sandbox:
            return frozenset({SANDBOX_ADMIN_ID})
        return self.admin_ids

    @property
    def cryptocloud_key(self) -> SecretStr:
        if self.cryptocloud_api_key is None:
            return SecretStr(SANDBOX_CRYPTOCLOUD_API_KEY)
        return self.cryptocloud_api_key

    @property
    def cryptocloud_shop(self) -> SecretStr:
        if self.cryptocloud_shop_id is None:
            return SecretStr(SANDBOX_CRYPTOCLOUD_SHOP_ID)
        return self.cryptocloud_shop_id

    @property
    def cryptocloud_secrets(self) -> tuple[SecretStr, ...]:
        """Keys a postback token may be signed with, current first."""
        if self.cryptocloud_secret_key is None:
            return (SecretStr(SANDBOX_CRYPTOCLOUD_SECRET_KEY),)
        current = self.cryptocloud_secret_key
        previous = self.cryptocloud_previous_secret_key
        return (current, previous) if previous else (current,)

    @property
    def cryptocloud_base(self) -> str:
        if self.cryptocloud_api_base:
            return self.cryptocloud_api_base
        if self.cryptocloud_sandbox:
            return SANDBOX_CRYPTOCLOUD_API_BASE
        return PRODUCTION_CRYPTOCLOUD_API_BASE

    @property
    def broker_url(self) -> str:
        """REDIS_URL, or the embedded Redis of `make run` with the password it keeps in var/."""
        if self.redis_url:
            return self.redis_url
        data_dir = Path(self.embedded_redis_dir)
        return EmbeddedRedis(port=self.embedded_redis_port, data_dir=data_dir,
                             password=stored_password(data_dir)).url

    @property
    def grace(self) -> timedelta:
        return timedelta(hours=self.grace_hours)

    @property
    def default_plan_price(self) -> Decimal:
        return self.plans[0].price_usd

    @property
    def referral_hold(self) -> timedelta:
        return timedelta(days=self.referral_hold_days)

    @property
    def payout_minimum(self) -> Decimal:
        """PAYOUT_MIN_USD in whole cents, as the ledger's rules take amounts."""
        return self.payout_min_usd.quantize(Decimal("0.01"))


def _problems(error: ValidationError) -> list[str]:
    """One line per problem, each starting with the variable's name; no secret value shown."""
    lines = []
    for problem in error.errors():
        message = str(problem["msg"]).removeprefix("Value error, ")
        if not problem["loc"] or problem["loc"][0] == "__root__":
            lines += message.splitlines()  # a cross-field rule names the variables itself
            continue
        name = str(problem["loc"][0]).upper()
        value = problem.get("input")
        secret = any(word in name for word in ("SECRET", "TOKEN", "KEY", "AUTH", "PASSWORD"))
        if isinstance(value, str | int | float) and not secret and "got" not in message:
            lines.append(f"{name}: {message} (got {redact_url(str(value))!r})")
        else:
            lines.append(f"{name}: {message}")
    return lines


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment, `.env` and `overrides`; raise SettingsError.

    ENV_FILE names another file than `.env`; empty reads none (tests run child processes so).
    Every problem is collected: the fields in error are set aside (empty means unset) and the
    rules between settings checked again, so one run names them all.
    """
    if "_env_file" not in overrides:
        overrides["_env_file"] = os.environ.get("ENV_FILE", ".env") or None
    problems: list[str] = []
    for _ in range(len(Settings.model_fields)):
        try:
            settings = Settings(**overrides)
        except ValidationError as error:
            problems += [p for p in _problems(error) if p not in problems]
            bad = {str(p["loc"][0]) for p in error.errors() if p["loc"]} - {"__root__"}
            if not bad - {k for k, v in overrides.items() if v == ""}:
                break
            overrides.update(dict.fromkeys(bad, ""))
            continue
        if not problems:
            return settings
        break
    raise SettingsError(problems)


def settings_or_exit(**overrides: Any) -> Settings:
    """Entry points call this: a bad setting ends the process with one line each, no traceback."""
    try:
        return load_settings(**overrides)
    except SettingsError as error:
        for problem in error.problems:
            print(f"configuration error: {problem}", file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from None
