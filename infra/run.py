"""`make run`: the whole system on one machine.

Checks the ports, starts the embedded Redis when REDIS_URL is unset, migrates and seeds the
database, then hands the Procfile (plus both stand-ins in sandbox mode) to the supervisor, which
restarts a process that dies and says so. Ctrl-C stops the supervised processes first and the
embedded Redis last, so nothing is left running, and the run ends with status 0.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import make_url

from infra.db import create_engine, make_session_factory
from infra.embedded_redis import PASSWORD_FILE, EmbeddedRedis, EmbeddedRedisError, port_is_free
from infra.migrate import NotConfirmed, migrate_and_seed
from infra.redact import redact_url
from infra.secret_files import kept_secret, new_password
from infra.settings import SANDBOX_BUNDLE_CHAT_ID, Settings, settings_or_exit
from infra.supervisor import Supervisor, parse_procfile, terminal_interrupts_come_here
from models.sandbox_reset import highest_known_user_id

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
# Buttons on the sandbox page, so a person need not wait for beat to see a sweep's effect;
# `infra.ops run` runs the job now and answers what it did in words.
OPERATOR_ACTIONS = (
    ("Run the expiry sweep now", "expiry-sweep"),
    ("Send renewal reminders now", "reminders"),
    ("Poll open invoices now", "poll"),
)


# The bundle `make run` adds in sandbox mode (see sandbox_bundle).
SANDBOX_BUNDLE_PLAN = "vip:30:25.00:VIP bundle (channel + group)"

# The stand-ins stop after the processes that call them, whose last requests then still land.
STAND_INS = ("telegram-sandbox", "cryptocloud-sandbox")


@dataclass(frozen=True)
class Port:
    """A port this run needs, and the setting an operator changes when it is taken."""

    port: int
    what: str
    setting: str


def _port_of(url_or_bind: str) -> int:
    if "://" in url_or_bind:
        return urlsplit(url_or_bind).port or 80
    return int(url_or_bind.rpartition(":")[2])


def needed_ports(settings: Settings) -> list[Port]:
    ports = [
        Port(_port_of(settings.webhook_bind), "the webhook gateway", "WEBHOOK_BIND"),
        Port(settings.flower_port, "Flower", "FLOWER_PORT"),
    ]
    if settings.redis_url is None:
        ports.append(Port(settings.embedded_redis_port, "the embedded Redis",
                          "EMBEDDED_REDIS_PORT (or set REDIS_URL)"))
    if settings.telegram_sandbox:
        ports.append(
            Port(_port_of(settings.telegram_base), "the Telegram stand-in", "TELEGRAM_API_BASE")
        )
    if settings.cryptocloud_sandbox:
        ports.append(
            Port(
                _port_of(settings.cryptocloud_base),
                "the CryptoCloud stand-in",
                "CRYPTOCLOUD_API_BASE",
            )
        )
    if settings.bot_webhook_url:
        ports.append(Port(_port_of(settings.bot_webhook_bind), "the bot", "BOT_WEBHOOK_BIND"))
    return ports


def taken_ports(settings: Settings) -> list[str]:
    return [
        f"port {p.port} ({p.what}) is already taken: free it or change {p.setting}"
        for p in needed_ports(settings)
        if not port_is_free(p.port)
    ]


FLOWER_AUTH_FILE = "flower.auth"


def flower_auth(settings: Settings) -> str:
    """FLOWER_BASIC_AUTH, or a login generated once and kept in var/ (mode 0600)."""
    if settings.flower_basic_auth is not None:
        return settings.flower_basic_auth.get_secret_value()
    return kept_secret(VAR / FLOWER_AUTH_FILE, lambda: f"admin:{new_password()}")


def private_var() -> None:
    """var/ (database, Redis data, passwords) readable by this user only, and all made in it.

    The umask is inherited by every process this run starts, so their files are 0600 too.
    """
    os.umask(0o077)
    VAR.mkdir(mode=0o700, exist_ok=True)  # a fresh clone has none
    VAR.chmod(0o700)


def embedded_redis(settings: Settings) -> EmbeddedRedis:
    """The embedded Redis behind a password made once and kept beside its data (mode 0600)."""
    data_dir = ROOT / settings.embedded_redis_dir
    return EmbeddedRedis(port=settings.embedded_redis_port, data_dir=data_dir,
                         password=kept_secret(data_dir / PASSWORD_FILE))


def sandbox_state_dir(settings: Settings) -> Path:
    """Where the Telegram stand-in keeps its world: beside the SQLite database, else var/."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return (ROOT / url.database).parent  # an absolute path stays as it is
    return VAR


def known_user_id(settings: Settings) -> int:
    """The highest Telegram id the database knows: the stand-in hands out only higher ones."""
    engine = create_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            return highest_known_user_id(session)
    finally:
        engine.dispose()


def procfile(settings: Settings, *, known_user: int = 0) -> str:
    """The repository's Procfile plus the stand-ins this run needs."""
    lines = [(ROOT / "Procfile").read_text().rstrip()]
    python = sys.executable
    if settings.telegram_sandbox:
        bind = urlsplit(settings.telegram_base).netloc
        actions = " ".join(
            f"--action {shlex.quote(f'{label}={python} -m infra.ops run {job}')}"
            for label, job in OPERATOR_ACTIONS
        )
        # "Reset world" empties the database's subscribers too, or nothing at all.
        on_reset = shlex.quote(f"{python} -m infra.ops reset-sandbox --yes")
        lines.append(
            f"telegram-sandbox: exec {python} -m infra.sandbox telegram --bind {bind} {actions} "
            f"--state-dir {shlex.quote(str(sandbox_state_dir(settings)))} "
            f"--known-user-id {known_user} --on-reset {on_reset}"
        )
    if settings.cryptocloud_sandbox:
        bind = urlsplit(settings.cryptocloud_base).netloc
        notify = f"http://{settings.webhook_bind}/cryptocloud_webhook"
        # A part payment sends no postback: the pay page runs the poll at once instead of
        # leaving the person to wait for beat's next one.
        poll = shlex.quote(f"{python} -m infra.ops run poll")
        back = f" --chat-url {settings.telegram_base}/" if settings.telegram_sandbox else ""
        lines.append(
            f"cryptocloud-sandbox: exec {python} -m infra.sandbox cryptocloud --bind {bind} "
            f"--notify-url {notify} --on-partial {poll}{back}"
        )
    return "\n".join(lines) + "\n"


def banner(settings: Settings, *, redis_url: str, flower_login: str) -> str:
    """What runs where; no password in it (Flower's is in var/ or FLOWER_BASIC_AUTH)."""
    user = flower_login.partition(":")[0]
    where = ("FLOWER_BASIC_AUTH" if settings.flower_basic_auth is not None
             else f"var/{FLOWER_AUTH_FILE}")
    lines = ["", "=" * 72]
    if settings.payment_sandbox_with_real_bot:
        lines.append("WARNING: a real Telegram bot with the CryptoCloud stand-in "
                     "(ALLOW_PAYMENT_SANDBOX=true): nobody pays real money.")
    elif settings.sandbox:
        lines.append("Sandbox mode: local stand-ins, no real Telegram or CryptoCloud.")
    if settings.telegram_sandbox:
        lines.append(f"  Open the sandbox page:  {settings.telegram_base}/")
    if settings.cryptocloud_sandbox:
        lines.append(f"  CryptoCloud stand-in:   {settings.cryptocloud_base}/")
    lines += [
        f"  Flower:                 http://127.0.0.1:{settings.flower_port}/  "
        f"(login {user}, password in {where})",
        f"  Webhook gateway:        http://{settings.webhook_bind}/healthz",
        f"  Data:                   {redact_url(settings.database_url)}  ·  "
        f"Redis {redact_url(redis_url)}",
        "  Stop:                   Ctrl-C (stops every process, the embedded Redis too)",
        "=" * 72,
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    with terminal_interrupts_come_here():
        return _run()


def sandbox_bundle(settings: Settings) -> dict[str, str]:
    """In sandbox mode with neither PLANS nor PLAN_CHATS set, sell a bundle too, so the page
    shows one working: `vip` grants the stand-in's channel and its second chat. {} otherwise."""
    if not settings.telegram_sandbox or {"plans", "plan_chats"} & settings.model_fields_set:
        return {}
    plans = ",".join(f"{plan.code}:{plan.days}:{plan.price_usd}:{plan.title}"
                     for plan in settings.plans)
    return {"PLANS": f"{plans},{SANDBOX_BUNDLE_PLAN}",
            "PLAN_CHATS": f"vip={settings.channel},{SANDBOX_BUNDLE_CHAT_ID}"}


def _run() -> int:
    settings = settings_or_exit()
    bundle = sandbox_bundle(settings)
    if bundle:  # the child processes read it from their environment, as any setting
        settings = settings_or_exit(**{name.lower(): value for name, value in bundle.items()})
    problems = taken_ports(settings)
    if problems:
        for problem in problems:
            print(f"make run: {problem}", file=sys.stderr)  # noqa: T201
        return 2

    private_var()
    redis: EmbeddedRedis | None = None
    env = dict(os.environ) | bundle
    # The Procfile names `celery`, `gunicorn` and `python`: they are the virtualenv's.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if settings.redis_url is None:
        redis = embedded_redis(settings)
        try:
            env["REDIS_URL"] = redis.start()
        except EmbeddedRedisError as error:
            print(f"make run: {error}", file=sys.stderr)  # noqa: T201
            return 2
    try:
        try:
            changes = migrate_and_seed(settings)  # e.g. the plans of a freshly copied .env
        except NotConfirmed as pending:
            # Taking or giving subscribers' access is the operator's call, made in make migrate.
            print(f"make run: PLAN_CHATS changes subscribers' access ({pending}): "  # noqa: T201
                  "run `make migrate` to see and confirm it", file=sys.stderr)
            return 2
        for change in changes:
            print(f"make run: {change}", flush=True)  # noqa: T201
        env["FLOWER_BASIC_AUTH"] = flower_auth(settings)
        env["FLOWER_PORT"] = str(settings.flower_port)
        env.setdefault("WEBHOOK_BIND", settings.webhook_bind)
        known = known_user_id(settings) if settings.telegram_sandbox else 0
        programs = parse_procfile(procfile(settings, known_user=known))
        print(  # noqa: T201
            banner(settings, redis_url=env.get("REDIS_URL", settings.broker_url),
                   flower_login=env["FLOWER_BASIC_AUTH"]),
            flush=True,
        )
        return Supervisor(programs, cwd=ROOT, env=env, stop_last=STAND_INS).run()
    except KeyboardInterrupt:  # Ctrl-C before the processes started: nothing to stop yet
        return 0
    finally:
        if redis is not None:
            redis.stop()


if __name__ == "__main__":
    raise SystemExit(main())
