"""The stand-in keeps its world across restarts (persistence.py), never hands out an id twice,
and resets together with the engine or not at all (world_reset.py) — through the real CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.embedded_redis import free_port
from infra.sandbox.telegram.persistence import restore, snapshot
from infra.sandbox.telegram.world import TelegramWorld
from infra.settings import SANDBOX_ADMIN_ID, SANDBOX_CHANNEL_ID
from tests.fixtures.processes import ROOT, child_env


class StandIn:
    """`python -m infra.sandbox telegram --state-dir …` in its own session."""

    def __init__(self, state_dir: Path, *extra: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = state_dir.parent / f"stand-in-{self.port}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "infra.sandbox", "telegram", "--bind",
                 f"127.0.0.1:{self.port}", "--state-dir", str(state_dir), *extra],
                cwd=ROOT, env=child_env(), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.base}/control/state", timeout=1)
                break
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(self.log.read_text()) from None
                time.sleep(0.1)

    def call(self, method: str, path: str, **kwargs: object) -> object:
        body = httpx.request(method, f"{self.base}{path}", timeout=70, **kwargs).json()  # type: ignore[arg-type]
        assert body["ok"], body
        return body["result"]

    def refused(self, method: str, path: str, **kwargs: object) -> str:
        body = httpx.request(method, f"{self.base}{path}", timeout=70, **kwargs).json()  # type: ignore[arg-type]
        assert not body["ok"], body
        return str(body["error"])

    def stop(self, signum: int = signal.SIGINT) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signum)
            self.process.wait(timeout=30)


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "var"


def _user_ids(stand_in: StandIn) -> list[int]:
    users = stand_in.call("GET", "/control/users")
    assert isinstance(users, list)
    return sorted(int(u["id"]) for u in users)


def test_a_restart_keeps_people_chats_the_channel_and_update_ids(state_dir: Path) -> None:
    """Stop (Ctrl-C) and start again: the same people, messages, member and pending updates."""
    first = StandIn(state_dir)
    try:
        ann = first.call("POST", "/control/users", json={"first_name": "Ann"})
        assert isinstance(ann, dict)
        first.call("POST", f"/control/users/{ann['id']}/messages", json={"text": "/start"})
        first.call("POST", f"/control/users/{ann['id']}/messages", json={"text": "hello"})
    finally:
        first.stop()
    second = StandIn(state_dir)
    try:
        assert _user_ids(second) == [SANDBOX_ADMIN_ID, ann["id"]]
        chat = second.call("GET", f"/control/users/{ann['id']}/chat")
        assert isinstance(chat, dict)
        assert [m["text"] for m in chat["messages"]] == ["/start", "hello"]
        assert chat["user"]["started"] is True
        token = "123456789:SANDBOX-bot-token"
        updates = httpx.post(f"{second.base}/bot{token}/getUpdates", timeout=5).json()["result"]
        assert [u["update_id"] for u in updates] == [1, 2]
        second.call("POST", f"/control/users/{ann['id']}/messages", json={"text": "again"})
        later = httpx.post(f"{second.base}/bot{token}/getUpdates", json={"offset": 3},
                           timeout=5).json()["result"]
        assert [u["update_id"] for u in later] == [3]
        channel = second.call("GET", "/control/channel")
        assert isinstance(channel, dict) and channel["id"] == SANDBOX_CHANNEL_ID
    finally:
        second.stop()


def test_ids_never_repeat_across_a_crash_a_reset_and_a_restart(state_dir: Path) -> None:
    """A killed stand-in, a reset and the engine's known ids: each new person gets a new id."""
    first = StandIn(state_dir, "--known-user-id", "1000040")
    try:
        ann = first.call("POST", "/control/users", json={"first_name": "Ann"})
        assert isinstance(ann, dict) and ann["id"] == 1000041
        time.sleep(1.5)  # the keeper saves within half a second of a change
    finally:
        first.stop(signal.SIGKILL)
    second = StandIn(state_dir)
    try:
        bob = second.call("POST", "/control/users", json={"first_name": "Bob"})
        second.call("POST", "/control/reset")
        assert _user_ids(second) == [SANDBOX_ADMIN_ID]
        cid = second.call("POST", "/control/users", json={"first_name": "Cid"})
    finally:
        second.stop()
    third = StandIn(state_dir)
    try:
        dan = third.call("POST", "/control/users", json={"first_name": "Dan"})
    finally:
        third.stop()
    ids = [p["id"] for p in (ann, bob, cid, dan) if isinstance(p, dict)]
    assert ids == [1000041, 1000042, 1000043, 1000044]


def test_reset_runs_the_engines_reset_first_and_resets_neither_when_it_fails(
    state_dir: Path, tmp_path: Path,
) -> None:
    """A failing on-reset command leaves the world as it was; a working one resets both."""
    failing = StandIn(state_dir, "--on-reset", "sh -c 'echo database unreachable; exit 3'")
    try:
        ann = failing.call("POST", "/control/users", json={"first_name": "Ann"})
        error = failing.refused("POST", "/control/reset")
        assert "nothing was reset" in error and "database unreachable" in error
        assert _user_ids(failing) == [SANDBOX_ADMIN_ID, ann["id"]]  # type: ignore[index]
    finally:
        failing.stop()
    marker = tmp_path / "engine-reset"
    working = StandIn(state_dir, "--on-reset", f"sh -c 'touch {marker}; echo 1 forgotten'")
    try:
        done = working.call("POST", "/control/reset")
        assert isinstance(done, dict) and done["engine"] == "1 forgotten"
        assert marker.exists()
        assert _user_ids(working) == [SANDBOX_ADMIN_ID]
    finally:
        working.stop()


def test_a_snapshot_restores_every_record_kind() -> None:
    """Join requests, links, members, files and callback answers survive a round trip."""
    from infra.sandbox.telegram import people
    from infra.sandbox.telegram.records import FileRecord, InviteLinkRecord

    world = TelegramWorld()
    ann = people.create_user(world, first_name="Ann")
    link = InviteLinkRecord(url="https://t.me/+abc", creator_id=world.default_bot.id,
                            created_at=world.now(), creates_join_request=True)
    world.channel.links[link.url] = link
    assert people.open_invite_link(world, user_id=ann.id, invite_link=link.url) == "requested"
    stored = FileRecord(file_id="f1", file_unique_id="u1", file_name="a.csv",
                        mime_type="text/csv", data=b"id\n1\n", file_path="documents/a.csv")
    world.files[stored.file_id] = stored
    world.add_message(world.private_chat(world.default_bot.id, ann.id),
                      sender_id=world.default_bot.id, from_bot=True, document=stored)
    copy = TelegramWorld()
    restore(copy, snapshot(world))
    assert snapshot(copy)["channels"] == snapshot(world)["channels"]
    assert snapshot(copy)["private_chats"] == snapshot(world)["private_chats"]
    assert copy.files["f1"].data == b"id\n1\n"
    assert copy.channel.join_requests[ann.id].link_url == link.url
