"""The first hour of a new operator, played as one would: a fresh clone and `make run`.

The clone is a copy of this tree's tracked files (no var/, no .env), with the shared virtualenv
linked in; `make` is told the virtualenv is up to date so no test ever installs anything. Only
the ports are moved (tests run side by side). Everything else is what the README promises:
the sandbox comes up, a process that dies comes back with one line, Ctrl-C ends with status 0
and no traceback, a restart continues both worlds and never hands out an id twice, and
"Reset world" resets the stand-in and the database together.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.make_run import RunningSystem, free_ports
from tests.fixtures.processes import ROOT

pytestmark = pytest.mark.slow

MAKE_RUN = ["make", "--old-file", ".venv/.runtime-installed", "run"]


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A fresh clone of this tree: its tracked (and new, not ignored) files, nothing else."""
    target = tmp_path / "clone"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    return target


def _person_env() -> dict[str, str]:
    """A shell's environment: no project settings but the ports this test moves."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
            "PYTHONUNBUFFERED": "1", **free_ports()}


@pytest.fixture
def runs(clone: Path, tmp_path: Path) -> Iterator[list[RunningSystem]]:
    """Every `make run` a test starts; any still running is stopped at the end."""
    started: list[RunningSystem] = []
    yield started
    for run in started:
        run.stop()


def make_run(clone: Path, env: dict[str, str], runs: list[RunningSystem]) -> RunningSystem:
    run = RunningSystem(MAKE_RUN, cwd=clone, env=env, terminal=True,
                        log_path=clone.parent / f"make-run-{len(runs) + 1}.log")
    runs.append(run)
    return run.start()


def stop_cleanly(run: RunningSystem) -> None:
    """Ctrl-C: status 0, no `make: *** … Error`, no traceback, nothing left running."""
    assert run.stop() == 0, run.log()[-4000:]
    log = run.log()
    problems = [line for line in log.splitlines() if "make: ***" in line or "Traceback" in line]
    assert problems == [], log[-4000:]
    run.assert_nothing_left()


class Person:
    """Plays a Telegram user on the stand-in's control API (what the page does)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def call(self, method: str, path: str, body: dict[str, object] | None = None) -> object:
        answer = httpx.request(method, f"{self.base}{path}", json=body, timeout=70).json()
        assert answer["ok"], answer
        return answer["result"]

    def create(self, name: str) -> int:
        user = self.call("POST", "/control/users", {"first_name": name})
        assert isinstance(user, dict)
        return int(user["id"])

    def users(self) -> list[int]:
        listed = self.call("GET", "/control/users")
        assert isinstance(listed, list)
        return sorted(int(u["id"]) for u in listed)

    def say(self, user_id: int, text: str) -> None:
        self.call("POST", f"/control/users/{user_id}/messages", {"text": text})

    def bot_messages(self, user_id: int) -> list[dict[str, object]]:
        chat = self.call("GET", f"/control/users/{user_id}/chat")
        assert isinstance(chat, dict)
        return [m for m in chat["messages"] if m["direction"] == "bot_to_user"]

    def bot_said(self, user_id: int, words: str) -> dict[str, object] | None:
        return next((m for m in reversed(self.bot_messages(user_id))
                     if words in str(m["text"])), None)

    def press(self, user_id: int, message: dict[str, object], data: str) -> None:
        self.call("POST", f"/control/users/{user_id}/callbacks",
                  {"message_id": message["message_id"], "data": data})


def test_a_fresh_clone_with_the_example_env_runs_the_sandbox(
    clone: Path, runs: list[RunningSystem],
) -> None:
    """`cp .env.example .env` (Going live, step 3) and `make run`: still the sandbox, whose
    banner says so, whose bot answers on the page; Ctrl-C ends it cleanly."""
    shutil.copy(clone / ".env.example", clone / ".env")
    run = make_run(clone, _person_env(), runs)
    assert "sandbox mode" in run.log().lower()
    # The example's two plans are put on sale, and the run says so.
    assert "make run: plan 'quarter': new (90 days, $27.00, '3 months')" in run.log()
    person = Person(run.telegram)
    ann = person.create("Ann")
    person.say(ann, "/start")
    run.wait_until(lambda: person.bot_said(ann, "Terms"), "the bot's terms")
    stop_cleanly(run)


def test_restart_keeps_both_worlds_ids_never_repeat_and_a_crash_is_survived(
    clone: Path, runs: list[RunningSystem],
) -> None:
    """A trial taken, the bot killed (it comes back, said in one line), Ctrl-C, `make run`
    again: the person, their chat and their trial are still there; a new person gets a new
    id; "Reset world" empties both sides and ids still never repeat."""
    env = _person_env()
    first = make_run(clone, env, runs)
    person = Person(first.telegram)
    ann = person.create("Ann")
    person.say(ann, "/start")
    first.wait_until(lambda: person.bot_said(ann, "Terms"), "the terms")
    terms = person.bot_said(ann, "Terms")
    assert terms is not None
    person.press(ann, terms, "terms")
    first.wait_until(lambda: person.bot_said(ann, "Choose a plan"), "the plans")
    plans = person.bot_said(ann, "Choose a plan")
    assert plans is not None
    person.press(ann, plans, "trial")
    first.wait_until(lambda: person.bot_said(ann, "personal invite link"), "the trial's invite")

    os.kill(first.program_pid("bot_frontend"), signal.SIGKILL)
    first.wait_until(lambda: "bot exited with code" in first.log(), "the restart line")
    restarts = [line.strip() for line in first.log().splitlines()
                if line.startswith("make run: ") and " exited " in line]
    assert len(restarts) == 1 and "restarting it" in restarts[0], restarts
    person.say(ann, "/help")
    first.wait_until(lambda: person.bot_said(ann, "/myplan:"), "the restarted bot's answer")
    stop_cleanly(first)

    second = make_run(clone, env, runs)
    assert ann in person.users()
    assert person.bot_said(ann, "personal invite link") is not None  # the chat is kept
    person.say(ann, "/myplan")
    second.wait_until(lambda: person.bot_said(ann, "Status:"), "/myplan")
    status = person.bot_said(ann, "Status:")
    assert status is not None and "free trial" in str(status["text"])  # the database is kept
    bob = person.create("Bob")
    assert bob > ann

    reset = person.call("POST", "/control/reset")
    assert isinstance(reset, dict) and "1 subscriber forgotten" in str(reset["engine"])
    assert ann not in person.users()
    cid = person.create("Cid")
    assert cid > bob
    person.say(cid, "/start")
    second.wait_until(lambda: person.bot_said(cid, "Terms"), "the terms for a new person")
    stop_cleanly(second)
