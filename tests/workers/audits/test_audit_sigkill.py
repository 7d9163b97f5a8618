"""A real Celery worker SIGKILLed in the middle of an audit, then /audit again once the run has
stalled: a new worker goes on from the committed cursor and the run ends with each person
checked and reported once (real Redis, the Telegram stand-in over HTTP, both databases)."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from infra import task_names
from infra.celery_config import create_celery
from infra.migrate import seed_plans
from infra.sandbox.telegram.people import add_started_users
from infra.settings import SANDBOX_CHANNEL_ID, load_settings
from models.schema import AuditFinding, AuditRun, User
from tests.fixtures.processes import ChildProcess, child_env, worker_command
from tests.fixtures.waiting import eventually

ADMIN = 100
FIRST = 971_000_000
PEOPLE = 120


def run_state(sessions: sessionmaker[Session]) -> tuple[str | None, int]:
    with sessions() as session:
        row = session.execute(select(AuditRun.status, AuditRun.checked)).first()
        return (row.status, row.checked) if row is not None else (None, 0)


@pytest.mark.slow
@pytest.mark.redis
def test_an_audit_survives_a_sigkill_and_goes_on_from_its_cursor(
        db_url: str, session_factory: sessionmaker[Session], redis_client: Any,
        redis_url: str, telegram_sandbox: Any, tmp_path: Path) -> None:
    """Kill the worker while Telegram is slow to answer about one person; /audit meanwhile
    reports progress, and after the stall restarts the run: everyone ends checked once (a
    finding each, since all were added by hand), nobody before the cursor is asked again, and
    the admin gets one CSV."""
    redis_client.flushdb()
    world = telegram_sandbox.world
    users = list(range(FIRST, FIRST + PEOPLE))
    add_started_users(world, [ADMIN, *users])
    with world.lock:  # everyone a member by hand: each is a finding, none paid
        for user in users:
            world.set_member_status(world.channel, user, "member", actor_id=ADMIN)
    slow = users[PEOPLE // 3]
    httpx.post(f"{telegram_sandbox.base_url}/control/faults", timeout=5.0, json={
        "method": "getChatMember", "user_id": slow, "latency_seconds": 3.0,
    }).raise_for_status()
    now = datetime.now(UTC)
    with session_factory.begin() as session:
        seed_plans(session, load_settings(_env_file=None, database_url=db_url))
        session.execute(insert(User), [{"id": u, "first_name": f"u{u}", "created_at": now}
                                       for u in users])
    env = child_env(DATABASE_URL=db_url, REDIS_URL=redis_url,
                    TELEGRAM_API_BASE=telegram_sandbox.base_url, ADMIN_IDS=str(ADMIN),
                    EFFECT_RELAY_AFTER_SECONDS="3", TELEGRAM_RATE_PER_SEC="40")
    producer = create_celery(load_settings(_env_file=None, database_url=db_url,
                                           redis_url=redis_url), main="producer")
    first = ChildProcess(worker_command(), env, tmp_path / "first.log")
    second = ChildProcess(worker_command(), env, tmp_path / "second.log")
    try:
        first.start()
        producer.send_task(task_names.AUDIT_START, args=[
            {"actor_id": ADMIN, "text": "/audit", "request_key": "kill-1"}])
        eventually(lambda: run_state(session_factory)[1] >= PEOPLE // 3, timeout=30,
                   what="the audit to reach the slow person")
        time.sleep(1.0)  # the question about them is in flight
        assert first.process is not None
        os.killpg(first.process.pid, signal.SIGKILL)
        first.process.wait()
        at_kill = run_state(session_factory)
        assert at_kill[0] == "running" and at_kill[1] < PEOPLE

        second.start()
        time.sleep(6.5)  # the run is quiet for longer than its stall time (2 x 3 s)
        producer.send_task(task_names.AUDIT_START, args=[
            {"actor_id": ADMIN, "text": "/audit", "request_key": "kill-2"}])
        eventually(lambda: run_state(session_factory)[0] == "finished", timeout=60,
                   what="the restarted audit to finish")
        eventually(lambda: any(m.document is not None for m in world.private_chat(
            world.default_bot.id, ADMIN).messages), timeout=20, what="the CSV")
    finally:
        producer.close()
        second.stop()
        first.stop()

    with session_factory() as session:
        found = session.execute(select(AuditFinding.user_id, func.count())
                                .group_by(AuditFinding.user_id)).all()
        checked = session.scalar(select(AuditRun.checked))
    # Everyone once, and the admin (the channel's creator: an admin finding).
    assert dict(found) == {ADMIN: 1, **{user: 1 for user in users}}
    assert checked == PEOPLE + 1
    asked: dict[str, int] = {}
    for call in world.calls:
        if call.method == "getChatMember" and call.params.get("chat_id") == str(
                SANDBOX_CHANNEL_ID):
            key = str(call.params.get("user_id"))
            asked[key] = asked.get(key, 0) + 1
    assert max(asked.values()) <= 2 and sum(asked.values()) <= PEOPLE + 1 + 2
    documents = [m for m in world.private_chat(world.default_bot.id, ADMIN).messages
                 if m.document is not None]
    assert len(documents) == 1
