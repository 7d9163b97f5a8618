"""Keeps the processes of `make run` alive: one line when one dies and is restarted, a clean stop.

Each program runs in its own session, so a terminal's Ctrl-C reaches only the supervisor, which
then stops every program with SIGTERM (the way each of them shuts down gracefully) and returns 0:
stopping on purpose looks like success. SIGTERM goes to the program alone, never to its whole
process group: a Celery worker's pool children must finish the task in hand while the worker
waits for them (a warm shutdown); a SIGTERM of their own kills them mid-task (WorkerLostError).
So a Procfile line ends by `exec`-ing its program, and whatever of a group outlives its program
is sent SIGTERM next, then SIGKILL. A program that exits on its own is restarted and the
supervisor says so in one line; one that keeps dying (more than `max_restarts` exits within
`window` seconds) stops everything with one line naming it, and the run ends with 1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TextIO

POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Program:
    """One line of a Procfile: a name and the shell command that runs it."""

    name: str
    command: str


def parse_procfile(text: str) -> list[Program]:
    """`name: command` lines; blank lines and `#` comments are skipped."""
    programs = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, command = line.partition(":")
        if not sep or not name.strip() or not command.strip():
            raise ValueError(f"not a Procfile line: {line!r}")
        programs.append(Program(name.strip(), command.strip()))
    return programs


@dataclass
class _Running:
    program: Program
    process: subprocess.Popen[str]
    exits: deque[float] = field(default_factory=deque)


class Supervisor:
    """Runs programs until Ctrl-C/SIGTERM (returns 0) or until one keeps crashing (returns 1)."""

    def __init__(
        self, programs: Iterable[Program], *, cwd: Path, env: dict[str, str],
        out: TextIO | None = None, max_restarts: int = 5, window: float = 60.0,
        restart_delay: float = 1.0, stop_timeout: float = 20.0, label: str = "make run",
        stop_last: Iterable[str] = (),
    ) -> None:
        self._programs = list(programs)
        self._stop_last = frozenset(stop_last)
        self._cwd, self._env, self._out = cwd, env, out or sys.stdout
        self._max_restarts, self._window = max_restarts, window
        self._restart_delay, self._stop_timeout = restart_delay, stop_timeout
        self._label = label
        self._width = max((len(p.name) for p in self._programs), default=0)
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._pumps: list[threading.Thread] = []

    # -- output ------------------------------------------------------------------------------

    def say(self, line: str) -> None:
        """One line of the supervisor's own, prefixed like the runner's other messages."""
        self._write(f"{self._label}: {line}")

    def _write(self, line: str) -> None:
        with self._write_lock:
            self._out.write(line + "\n")
            self._out.flush()

    def _pump(self, name: str, stream: TextIO | None) -> None:
        if stream is None:
            return
        prefix = f"{name.ljust(self._width)} | "
        for raw in stream:
            self._write(prefix + raw.rstrip("\n"))

    # -- lifecycle ---------------------------------------------------------------------------

    def _start(self, program: Program) -> subprocess.Popen[str]:
        process = subprocess.Popen(  # noqa: S603 - the operator's own Procfile
            ["/bin/sh", "-c", program.command], cwd=self._cwd, env=self._env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            encoding="utf-8", errors="replace",
            # Its own session: Ctrl-C reaches the supervisor alone, which stops each program
            # with SIGTERM in turn (no KeyboardInterrupt tracebacks, no half-stopped run).
            start_new_session=True,
        )
        pump = threading.Thread(target=self._pump, args=(program.name, process.stdout),
                                daemon=True)
        pump.start()
        self._pumps.append(pump)
        return process

    def run(self) -> int:
        """Start everything, watch, and stop everything; the exit status of the whole run."""
        previous = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        running: list[_Running] = []
        try:
            for program in self._programs:
                running.append(_Running(program, self._start(program)))
            return self._watch(running)
        finally:
            self._stop_all(running)
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stop.set()

    def _watch(self, running: list[_Running]) -> int:
        while not self._stop.wait(POLL_SECONDS):
            for entry in running:
                code = entry.process.poll()
                if code is None or self._stop.is_set():
                    continue
                now = time.monotonic()
                entry.exits.append(now)
                while entry.exits and entry.exits[0] < now - self._window:
                    entry.exits.popleft()
                name = entry.program.name
                if len(entry.exits) > self._max_restarts:
                    self.say(f"{name} exited {len(entry.exits)} times within "
                             f"{self._window:.0f} s (last code {code}); it keeps crashing, so "
                             "everything stops. Its last lines above say why.")
                    return 1
                self.say(f"{name} exited with code {code}; restarting it "
                         f"({len(entry.exits)} of {self._max_restarts} restarts allowed "
                         f"within {self._window:.0f} s)")
                if self._stop.wait(self._restart_delay):
                    break
                entry.process = self._start(entry.program)
        self.say("stopping every process")
        return 0

    def _stop_all(self, running: list[_Running]) -> None:
        # Two waves: the programs in `stop_last` (services the others call) go once the
        # others are gone, so nobody's last request meets a closed port.
        first = [e for e in running if e.program.name not in self._stop_last]
        self._stop_wave(first)
        self._stop_wave([e for e in running if e.program.name in self._stop_last])
        for entry in running:  # the shell may be gone while a child it started lingers
            _signal_group(entry.process, signal.SIGKILL)
        for pump in self._pumps:
            pump.join(timeout=2)

    def _stop_wave(self, running: list[_Running]) -> None:
        alive = [entry for entry in running if entry.process.poll() is None]
        for entry in alive:
            with contextlib.suppress(ProcessLookupError):
                entry.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._stop_timeout
        for entry in alive:
            try:
                entry.process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.say(f"{entry.program.name} did not stop within "
                         f"{self._stop_timeout:.0f} s: killed")
                _signal_group(entry.process, signal.SIGKILL)
                entry.process.wait()
        # Left over by a program that did not stop its children (or a line that did not `exec`).
        leftovers = [entry for entry in alive if _group_alive(entry.process)]
        for entry in leftovers:
            _signal_group(entry.process, signal.SIGTERM)
        deadline = max(deadline, time.monotonic() + 1.0)
        for entry in leftovers:
            while _group_alive(entry.process) and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS / 4)


@contextlib.contextmanager
def terminal_interrupts_come_here() -> Iterator[None]:
    """While inside, Ctrl-C in the terminal reaches this process alone, not `make` above it.

    A terminal sends SIGINT to its whole foreground process group; `make` would then end by
    that signal (exit status 130) however cleanly we stop. So this process takes a group of
    its own and makes it the terminal's foreground group, and gives the terminal back on the
    way out. Without a terminal (tests, systemd) nothing changes.
    """
    try:
        tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        yield
        return
    try:
        previous = os.tcgetpgrp(tty)
        if previous != os.getpgrp():  # not in the foreground (e.g. `make run &`): leave it be
            yield
            return
        quiet = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background tcsetpgrp stops
        try:
            os.setpgid(0, 0)
            os.tcsetpgrp(tty, os.getpgrp())
        except OSError:  # a session leader, say: the terminal's group stays as it was
            signal.signal(signal.SIGTTOU, quiet)
            yield
            return
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.tcsetpgrp(tty, previous)
            signal.signal(signal.SIGTTOU, quiet)
    finally:
        os.close(tty)


def _group_alive(process: subprocess.Popen[str]) -> bool:
    """Whether anything of the program's group still runs (zombies do not count: an init that
    never reaps, as in some containers, would otherwise keep a finished group alive)."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: the kernel's own answer, zombies included
        try:
            os.killpg(process.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # "pid (comm) state ppid pgrp …"; comm may hold spaces, so split after its ')'.
            state, _ppid, pgrp = stat.read_text().rpartition(")")[2].split()[:3]
            if int(pgrp) == process.pid and state != "Z":
                return True
    return False


def _signal_group(process: subprocess.Popen[str], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(process.pid, signum)
