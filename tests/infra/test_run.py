"""The `make run` runner: port checks that name the setting, the processes it starts."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import run
from infra.embedded_redis import free_port
from infra.settings import load_settings


@pytest.fixture
def occupied_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_taken_port_is_named_with_the_setting_to_change(occupied_port: int) -> None:
    """Each taken port gets one line saying what needs it and which setting moves it."""
    settings = load_settings(_env_file=None, webhook_bind=f"127.0.0.1:{occupied_port}",
                             telegram_api_base=f"http://127.0.0.1:{free_port()}",
                             cryptocloud_api_base=f"http://127.0.0.1:{occupied_port}",
                             embedded_redis_port=free_port(), flower_port=free_port())
    problems = run.taken_ports(settings)
    assert any("the webhook gateway" in p and "WEBHOOK_BIND" in p for p in problems)
    assert any("CryptoCloud stand-in" in p and "CRYPTOCLOUD_API_BASE" in p for p in problems)
    assert all(str(occupied_port) in p for p in problems)


def test_sandbox_mode_adds_both_stand_ins_with_the_sweep_button() -> None:
    """Without credentials the run adds the stand-ins; the page's operator actions call Celery."""
    procfile = run.procfile(load_settings(_env_file=None))
    names = [line.split(":", 1)[0] for line in procfile.splitlines()]
    assert names == ["web", "worker", "beat", "bot", "flower", "telegram-sandbox",
                     "cryptocloud-sandbox"]
    assert "Run the expiry sweep now=" in procfile and "-m infra.ops run expiry-sweep" in procfile
    assert "--notify-url http://127.0.0.1:8080/cryptocloud_webhook" in procfile
    assert "--on-partial" in procfile and "-m infra.ops run poll" in procfile
    assert "--chat-url http://127.0.0.1:8081/" in procfile


def test_production_credentials_start_no_stand_in() -> None:
    """With real credentials only the Procfile's processes run."""
    settings = load_settings(
        _env_file=None, bot_token="4242424242:AAF" + "x" * 32, channel_id=-1005,
        cryptocloud_api_key="k",
        cryptocloud_shop_id="s", cryptocloud_secret_key="x", redis_url="redis://127.0.0.1:1/0",
    )
    names = [line.split(":", 1)[0] for line in run.procfile(settings).splitlines()]
    assert names == ["web", "worker", "beat", "bot", "flower"]
    assert all(port.setting != "TELEGRAM_API_BASE" for port in run.needed_ports(settings))


def test_flower_login_is_generated_once_and_kept(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Without FLOWER_BASIC_AUTH a password is made once, kept private, and reused."""
    monkeypatch.setattr(run, "VAR", tmp_path)
    settings = load_settings(_env_file=None)
    first, second = run.flower_auth(settings), run.flower_auth(settings)
    assert first == second and first.startswith("admin:") and len(first) > 10
    assert (tmp_path / "flower.auth").stat().st_mode & 0o077 == 0
    given = load_settings(_env_file=None, flower_basic_auth="ops:secret")
    assert run.flower_auth(given) == "ops:secret"


def test_the_banner_shows_no_password_and_names_where_flowers_is() -> None:
    """Database and Redis URLs are shown without passwords, Flower's login by where it is kept."""
    settings = load_settings(_env_file=None, database_url="postgresql://pw:db-secret@db/pw",
                             flower_basic_auth="ops:flower-secret")
    shown = run.banner(settings, redis_url="redis://:redis-secret@127.0.0.1:6399/0",
                       flower_login="ops:flower-secret")
    assert "postgresql://pw:***@db/pw" in shown and "redis://:***@127.0.0.1:6399/0" in shown
    assert "(login ops, password in FLOWER_BASIC_AUTH)" in shown
    for secret in ("db-secret", "flower-secret", "redis-secret"):
        assert secret not in shown


def test_a_real_bot_with_the_payment_stand_in_is_announced() -> None:
    """ALLOW_PAYMENT_SANDBOX=true with a real bot puts a warning at the top of the banner."""
    settings = load_settings(_env_file=None, bot_token="4242424242:AAF" + "x" * 32,
                             channel_id=-1005, allow_payment_sandbox=True)
    shown = run.banner(settings, redis_url=settings.broker_url, flower_login="admin:x")
    assert "WARNING: a real Telegram bot with the CryptoCloud stand-in" in shown
    assert "Sandbox mode: local stand-ins" not in shown


def test_var_and_what_is_made_in_it_are_private(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """var/ is 0700, and files this run (and its children) make are 0600, whatever the umask."""
    monkeypatch.setattr(run, "VAR", tmp_path / "var")
    before = os.umask(0o022)
    try:
        run.private_var()
        (tmp_path / "var" / "app.db").write_text("")
    finally:
        os.umask(before)
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "var" / "app.db").stat().st_mode) == 0o600


def test_the_telegram_stand_in_keeps_its_world_beside_the_database(tmp_path: Path) -> None:
    """The stand-in's world lives next to SQLite (var/ otherwise), starts above the ids the
    database knows, and resets the database with it."""
    settings = load_settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'app.db'}")
    line = next(x for x in run.procfile(settings, known_user=1000077).splitlines()
                if x.startswith("telegram-sandbox:"))
    assert f"--state-dir {tmp_path}" in line
    assert "--known-user-id 1000077" in line
    assert "-m infra.ops reset-sandbox --yes" in line
    assert run.sandbox_state_dir(load_settings(_env_file=None)) == run.ROOT / "var"
    postgres = load_settings(_env_file=None, database_url="postgresql+psycopg://u@h/db")
    assert run.sandbox_state_dir(postgres) == run.VAR


def test_the_highest_known_user_id_counts_the_history_too(db_url: str) -> None:
    """Ids of users that a reset forgot are still in the history, so they are never reused."""
    from datetime import UTC, datetime

    from infra.db import create_engine, make_session_factory
    from models.history import record_history

    settings = load_settings(_env_file=None, database_url=db_url)
    assert run.known_user_id(settings) == 0
    engine = create_engine(db_url)
    with make_session_factory(engine).begin() as session:
        record_history(session, user_id=1000123, action="sandbox_reset", source="system",
                       now=datetime.now(UTC))
    engine.dispose()
    assert run.known_user_id(settings) == 1000123
