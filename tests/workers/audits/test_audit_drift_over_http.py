"""/audit and /audit fix against the Telegram stand-in over HTTP, on a channel whose members
were made to drift on purpose (people added, removed and banned by hand, behind the bot's
back), with getChatMember's real refusals and a 429 switched on."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.migrate import seed_plans
from infra.sandbox.telegram import TelegramSandbox, people
from infra.settings import SANDBOX_CHANNEL_ID
from models.schema import Access, AccessHistory, AuditFinding, AuditRun, Plan, PlanChat, User
from tests.fixtures.sandboxes import TelegramFaults
from tests.workers.harness import Pipeline, make_pipeline, over_http

ADMIN = 100  # the stand-in's channel owner
CHAT = SANDBOX_CHANNEL_ID
GONE_CHAT = -1009999999999  # a chat a plan names that Telegram does not know (the bot is not in)
# Who is who in the drifted channel:
HANDY = 701  # added by hand, never paid: member without access
LAPSED = 702  # paid once, expired in our records, still a member: member without access
PAID_LATER = 703  # like LAPSED, but pays between the audit and the fix: kept
LEFT = 704  # paying, left the channel: payer not in the chat
BANNED = 705  # paying, banned by hand: banned while covered
PROMOTED = 706  # paying, made an administrator by hand: admin, never acted on
GHOST = 707  # paying; Telegram answers "member not found" about them: payer not in the chat
FLAKY = 708  # paying member; one PARTICIPANT_ID_INVALID: reported out, fix finds them in
SLOW = 709  # paying member; a 429 on the first question about them: fine once retried
FINE = 710  # paying member: records agree
PEOPLE = (HANDY, LAPSED, PAID_LATER, LEFT, BANNED, PROMOTED, GHOST, FLAKY, SLOW, FINE)


def command(text: str, key: str) -> dict[str, Any]:
    return {"actor_id": ADMIN, "text": text, "request_key": key}


@pytest.fixture
def live(db_url: str, engine: Any, session_factory: sessionmaker[Session],
         telegram_sandbox: TelegramSandbox, redis_url: str) -> Iterator[Pipeline]:
    """Workers on the stand-in over HTTP; a later page runs at once instead of after its wait."""
    world = telegram_sandbox.world
    people.add_started_users(world, [ADMIN, *PEOPLE])
    ctx = make_pipeline(db_url=db_url, sessions=session_factory, engine=engine,
                        admin_ids=str(ADMIN))
    ctx.send_later = lambda name, *args, countdown: ctx.queued.append(  # type: ignore[method-assign]
        (name, args))
    with over_http(ctx, api_base=telegram_sandbox.base_url, redis_url=redis_url) as pipeline:
        yield pipeline


def drift(base_url: str, user_id: int, status: str) -> None:
    """The owner changes someone's standing by hand, through the stand-in's control API."""
    answer = httpx.post(f"{base_url}/control/users/{user_id}/standing",
                        json={"status": status}, timeout=5.0)
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["channel_status"] == status


def records(sessions: sessionmaker[Session]) -> None:
    """Our side: a plan on two chats (one unknown to Telegram), and each person's access."""
    now = datetime.now(UTC)
    with sessions.begin() as session:
        seed_plans(session, make_settings())
        plan_id = session.scalars(select(Plan.id)).first()
        session.add(PlanChat(plan_id=plan_id, chat_id=GONE_CHAT))
        session.add_all(User(id=p, first_name=f"u{p}", username=f"user{p}", created_at=now)
                        for p in PEOPLE)
        session.flush()
        for person, days, status in ((LAPSED, -3, "expired"), (PAID_LATER, -3, "expired"),
                                     *((p, 20, "active") for p in
                                       (LEFT, BANNED, PROMOTED, GHOST, FLAKY, SLOW, FINE))):
            session.add(Access(user_id=person, chat_id=CHAT, status=status,
                               paid_through=now + timedelta(days=days), created_at=now,
                               updated_at=now))


def make_settings() -> Any:
    from infra.settings import load_settings
    return load_settings(_env_file=None)


def bot_messages(sandbox: TelegramSandbox, user_id: int) -> list[Any]:
    world = sandbox.world
    return [m for m in world.private_chat(world.default_bot.id, user_id).messages if m.from_bot]


@pytest.mark.redis
def test_an_audit_of_a_drifted_channel_reports_it_and_the_fix_repairs_it_once(
    live: Pipeline, telegram_sandbox: TelegramSandbox, telegram_faults: TelegramFaults,
) -> None:
    """Every kind of drift is found and reported (summary and CSV); the fix removes members
    without access, re-invites the payers who are out (unbanning the banned one), keeps the
    one who paid in between and the admin, and a second fix changes nothing."""
    base, world = telegram_sandbox.base_url, telegram_sandbox.world
    records(live.sessions)
    for person in (HANDY, LAPSED, PAID_LATER, FLAKY, SLOW, FINE):
        drift(base, person, "member")
    drift(base, PROMOTED, "administrator")
    drift(base, BANNED, "kicked")  # LEFT, GHOST: never joined
    telegram_faults.fail("getChatMember", "member_not_found", user_id=GHOST)
    telegram_faults.fail("getChatMember", "participant_id_invalid", user_id=FLAKY, times=1)
    telegram_faults.fail("getChatMember", "retry_after", user_id=SLOW, times=1)

    live.send(task_names.AUDIT_START, command("/audit", "a:1"))
    live.drain(limit=50)

    with live.sessions() as session:
        run = session.scalars(select(AuditRun)).one()
        found = {(f.user_id, f.chat_id): (f.actual, f.finding)
                 for f in session.scalars(select(AuditFinding))}
    assert (run.status, run.checked) == ("finished", len(PEOPLE) + 1)  # + the admin
    asked = [(str(c.params.get("user_id")), c.status) for c in world.calls
             if c.method == "getChatMember"]
    assert [status for user, status in asked if user == str(SLOW)] == [429, 200]
    assert [status for user, status in asked if user in (str(GHOST), str(FLAKY))] == [400, 400]
    assert found == {
        (ADMIN, CHAT): ("creator", "admin"),
        (HANDY, CHAT): ("member", "member_without_access"),
        (LAPSED, CHAT): ("member", "member_without_access"),
        (PAID_LATER, CHAT): ("member", "member_without_access"),
        (LEFT, CHAT): ("left", "payer_not_in_chat"),
        (BANNED, CHAT): ("kicked", "banned_while_covered"),
        (PROMOTED, CHAT): ("administrator", "admin"),
        (GHOST, CHAT): ("not_found", "payer_not_in_chat"),
        (FLAKY, CHAT): ("not_found", "payer_not_in_chat"),
    }
    sent = bot_messages(telegram_sandbox, ADMIN)
    summary = next(m.text for m in sent if m.text and "finished" in m.text)
    assert (f"Chat {CHAT}: members without access: 3; payers not in the chat: 3; "
            "banned while covered: 1; admins: 2.") in summary
    assert f"Chat {GONE_CHAT} was not checked" in summary and "chat not found" in summary
    (document,) = [m.document for m in sent if m.document is not None]
    rows = list(csv.DictReader(io.StringIO(document.data.decode())))
    assert {(int(r["user_id"]), r["finding"]) for r in rows} == {
        (user, kind) for (user, _), (_, kind) in found.items()}
    banned_row = next(r for r in rows if int(r["user_id"]) == BANNED)
    assert (banned_row["username"], banned_row["actual"], banned_row["recorded"]) == (
        f"user{BANNED}", "kicked", "active")
    assert banned_row["paid_through"] and banned_row["chat_id"] == str(CHAT)

    with live.sessions.begin() as session:  # a payment lands between the audit and the fix
        session.execute(update(Access).where(Access.user_id == PAID_LATER).values(
            status="active", paid_through=datetime.now(UTC) + timedelta(days=30),
            version=Access.version + 1))
    live.send(task_names.AUDIT_FIX, command("/audit fix", "f:1"), False)
    live.drain(limit=50)

    standing = {p: world.member(world.channel, p).status for p in PEOPLE}
    assert standing == {HANDY: "left", LAPSED: "left", PAID_LATER: "member", LEFT: "left",
                        BANNED: "left", PROMOTED: "administrator", GHOST: "left",
                        FLAKY: "member", SLOW: "member", FINE: "member"}
    for person in (LEFT, BANNED, GHOST):
        assert any("https://t.me/+" in (m.text or "") for m in bot_messages(
            telegram_sandbox, person)), person
    with live.sessions() as session:
        outcomes = {f.user_id: f.fix_outcome for f in session.scalars(select(AuditFinding))}
        history = {(h.user_id, h.action) for h in session.scalars(
            select(AccessHistory).where(AccessHistory.action.like("audit_%")))}
    assert outcomes == {ADMIN: None, PROMOTED: None, HANDY: "removed", LAPSED: "removed",
                        PAID_LATER: "skipped", LEFT: "invited", BANNED: "invited",
                        GHOST: "invited", FLAKY: "skipped"}
    assert history == {(HANDY, "audit_removed"), (LAPSED, "audit_removed"),
                       (LEFT, "audit_reinvited"), (BANNED, "audit_reinvited"),
                       (GHOST, "audit_reinvited"), (ADMIN, "audit_started"),
                       (ADMIN, "audit_fix")}
    fixed = bot_messages(telegram_sandbox, ADMIN)[-1].text
    assert fixed is not None and fixed.startswith("Audit #1 fix: 2 removed, 3 invited, 2 skipped")

    calls_before = len(world.calls)
    live.send(task_names.AUDIT_FIX, command("/audit fix", "f:2"), False)
    live.drain(limit=50)
    again = bot_messages(telegram_sandbox, ADMIN)[-1].text
    assert again is not None and again.startswith("Audit #1 fix: nothing new to fix")
    assert [c.method for c in list(world.calls)[calls_before:]] == ["sendMessage"]
