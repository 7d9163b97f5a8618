"""The supervisor under `make run`: a dead process is restarted with one line, a crash loop stops
everything with one line, and Ctrl-C stops everything and ends with status 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from infra.supervisor import parse_procfile
from tests.fixtures.processes import ROOT, child_env


class Run:
    """A supervisor over `procfile` in a child Python of its own session, its output kept."""

    def __init__(self, tmp: Path, procfile: str, **options: object) -> None:
        self.log_path = tmp / "supervisor.log"
        script = textwrap.dedent(f"""
            import os, sys
            from pathlib import Path
            from infra.supervisor import Supervisor, parse_procfile
            programs = parse_procfile({procfile!r})
            sys.exit(Supervisor(programs, cwd=Path({str(tmp)!r}), env=dict(os.environ),
                                **{options!r}).run())
        """)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", script], cwd=ROOT, env=child_env(), stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, *, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"never saw {text!r}:\n{self.log()}")
            time.sleep(0.05)

    def ctrl_c(self) -> int:
        os.kill(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _alive(pid_file: Path) -> bool:
    """Running, not a zombie (an orphan's zombie stays until an init reaps it, if ever)."""
    try:
        stat = Path(f"/proc/{int(pid_file.read_text())}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_a_process_that_dies_is_restarted_and_the_run_says_so_in_one_line(tmp_path: Path) -> None:
    """The first start of `flaky` exits 3; the supervisor names it once and it comes back up."""
    run = Run(tmp_path, "flaky: test -f once || { touch once; exit 3; }; echo up; exec sleep 60\n",
              restart_delay=0.1)
    try:
        run.wait_for("flaky | up")
        lines = [line for line in run.log().splitlines() if line.startswith("make run:")]
        assert len(lines) == 1, run.log()
        assert "flaky exited with code 3; restarting it" in lines[0]
        assert run.ctrl_c() == 0
    finally:
        run.kill()


def test_a_crash_loop_stops_everything_with_one_line(tmp_path: Path) -> None:
    """A program that keeps exiting ends the run with 1, one line naming it, its peers stopped."""
    procfile = "broken: echo failing; exit 2\nsteady: echo $$ > steady.pid; exec sleep 60\n"
    run = Run(tmp_path, procfile, max_restarts=2, window=60, restart_delay=0.05)
    try:
        assert run.process.wait(timeout=30) == 1
        log = run.log()
        assert "broken exited 3 times within 60 s (last code 2)" in log
        assert "keeps crashing" in log
        assert not _alive(tmp_path / "steady.pid")
    finally:
        run.kill()


def test_ctrl_c_stops_every_process_and_ends_with_status_0(tmp_path: Path) -> None:
    """SIGINT to the supervisor alone (programs have their own sessions) stops all, exit 0."""
    procfile = ("one: echo $$ > one.pid; echo ready-one; exec sleep 60\n"
                "two: trap 'echo two-stopping; exit 0' TERM; echo $$ > two.pid; echo ready-two;"
                " while :; do sleep 0.1; done\n")
    run = Run(tmp_path, procfile)
    try:
        run.wait_for("ready-one")
        run.wait_for("ready-two")
        assert run.ctrl_c() == 0
        log = run.log()
        assert "Traceback" not in log and "restarting" not in log
        assert "two-stopping" in log
        assert not _alive(tmp_path / "one.pid") and not _alive(tmp_path / "two.pid")
    finally:
        run.kill()


def test_sigterm_reaches_the_program_alone_and_it_stops_its_children_its_own_way(
    tmp_path: Path,
) -> None:
    """A Celery worker waits for its pool children to finish the task in hand; a SIGTERM of
    their own would kill them mid-task. Here the parent tells its child to finish (USR1): the
    child must never see SIGTERM, and both are gone afterwards."""
    (tmp_path / "child.sh").write_text(
        "trap 'echo child-got-term' TERM; trap 'stop=1' USR1; stop=\n"
        "echo $$ > child.pid; echo ready-child\n"
        "while [ -z \"$stop\" ]; do sleep 0.1; done; echo child-finishing\n")
    procfile = ("parent: sh child.sh & kid=$!;"
                " trap 'echo parent-stopping; kill -USR1 $kid; wait $kid; exit 0' TERM;"
                " echo ready-parent; wait\n")
    run = Run(tmp_path, procfile)
    try:
        run.wait_for("ready-child")
        run.wait_for("ready-parent")
        assert run.ctrl_c() == 0
        log = run.log()
        assert "parent-stopping" in log and "child-finishing" in log, log
        assert "child-got-term" not in log, log
        assert not _alive(tmp_path / "child.pid")
    finally:
        run.kill()


def test_what_outlives_its_program_is_stopped_too(tmp_path: Path) -> None:
    """A line whose shell leaves a child behind (no `exec`, no trap): the child is sent SIGTERM
    once its program is gone, and the run still ends with 0."""
    procfile = ("lazy: sh -c 'trap \"echo orphan-stopping; exit 0\" TERM; echo $$ > orphan.pid;"
                " echo ready-orphan; while :; do sleep 0.1; done' & wait\n")
    run = Run(tmp_path, procfile)
    try:
        run.wait_for("ready-orphan")
        assert run.ctrl_c() == 0
        assert "orphan-stopping" in run.log(), run.log()
        assert not _alive(tmp_path / "orphan.pid")
    finally:
        run.kill()


def test_procfile_lines_are_read_as_name_and_command() -> None:
    """Comments and blank lines are skipped; a line without a name is refused."""
    programs = parse_procfile("# comment\n\nweb: gunicorn app:x --bind a:1\nbot: python -m b\n")
    assert [(p.name, p.command) for p in programs] == [
        ("web", "gunicorn app:x --bind a:1"), ("bot", "python -m b")]
    with pytest.raises(ValueError, match="not a Procfile line"):
        parse_procfile("just a command\n")


def test_the_services_others_call_stop_after_them(tmp_path: Path) -> None:
    """`stop_last` programs get SIGTERM only once the others have stopped."""
    procfile = ("client: trap 'sleep 0.5; echo client-stopped; exit 0' TERM; echo ready-client;"
                " while :; do sleep 0.1; done\n"
                "service: trap 'echo service-stopped; exit 0' TERM; echo ready-service;"
                " while :; do sleep 0.1; done\n")
    run = Run(tmp_path, procfile, stop_last=("service",))
    try:
        run.wait_for("ready-client")
        run.wait_for("ready-service")
        assert run.ctrl_c() == 0
        log = run.log()
        assert log.index("client-stopped") < log.index("service-stopped"), log
    finally:
        run.kill()
