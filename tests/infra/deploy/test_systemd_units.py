"""infra/deploy/systemd/: one unit per Procfile process, hardened alike, accepted by systemd.

What is checked, honestly:
- statically (always): each unit's directives, and that its ExecStart runs the same program
  and arguments as the Procfile line of its process;
- by `systemd-analyze verify` (fails under CI=true without it, else skips): the units are
  copied with /opt/paywall replaced by a temp dir holding stub executables, a var/ and an
  empty .env, because verify refuses an ExecStart whose binary does not exist. Verify must
  print nothing at all: an unknown directive, a bad value or a typo in a section only produces
  a warning (exit status 0), so silence is the assertion. It does not check that the `paywall`
  user exists, nor start anything.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.services import unavailable

ROOT = Path(__file__).resolve().parents[3]
UNITS = ROOT / "infra" / "deploy" / "systemd"
PROCESSES = ("web", "worker", "beat", "bot", "flower")
VENV_BIN = "/opt/paywall/.venv/bin/"


def directives(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) in file order; keys may repeat (ExecStartPre)."""
    section, found = "", []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.append((section, key, value))
    return found


def values(path: Path, key: str, section: str = "Service") -> list[str]:
    return [value for sec, name, value in directives(path) if sec == section and name == key]


def unit(name: str) -> Path:
    return UNITS / f"paywall-{name}.service"


@pytest.mark.parametrize("name", PROCESSES)
def test_every_unit_runs_as_paywall_hardened_and_restarting(name: str) -> None:
    """The shared settings of the brief, on every unit, once each."""
    path = unit(name)
    expected = {
        "User": "paywall",
        "WorkingDirectory": "/opt/paywall",
        "EnvironmentFile": "/opt/paywall/.env",
        "Restart": "always",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ReadWritePaths": "/opt/paywall/var",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "UMask": "0077",
    }
    for key, value in expected.items():
        assert values(path, key) == [value], f"{path.name}: {key}"
    assert values(path, "PartOf", "Unit") == ["paywall.target"]
    assert values(path, "WantedBy", "Install") == ["paywall.target"]
    assert int(values(path, "TimeoutStopSec")[0]) >= 30


@pytest.mark.parametrize("name", PROCESSES)
def test_exec_start_is_the_procfile_command_from_the_venv(
    procfile: dict[str, list[str]], name: str,
) -> None:
    """Same program, subcommand and options as the Procfile (systemd spelling of variables)."""
    exec_start = shlex.split(values(unit(name), "ExecStart")[0])
    assert exec_start[0].startswith(VENV_BIN)
    program, *arguments = procfile[name]
    assert exec_start[0] == VENV_BIN + program
    # Procfile shell defaults and systemd specifiers differ in spelling only.
    spelled = {
        "${WEBHOOK_BIND:-127.0.0.1:8080}": "${WEBHOOK_BIND}",
        "--port=${FLOWER_PORT:-5555}": "--port=${FLOWER_PORT}",
        "worker@%h": "worker@%%h",
    }
    expected = [spelled.get(argument, argument) for argument in arguments]
    if name == "flower":
        # The unit lets Flower read FLOWER_BASIC_AUTH from the environment (no password in ps).
        expected = [a for a in expected if not a.startswith("--basic-auth=")]
    assert exec_start[1:] == expected


def test_web_cleans_its_prometheus_directory_before_starting() -> None:
    """PROMETHEUS_MULTIPROC_DIR is set, emptied and recreated before gunicorn starts."""
    path = unit("web")
    assert "PROMETHEUS_MULTIPROC_DIR=/opt/paywall/var/prometheus" in values(path, "Environment")
    assert values(path, "ExecStartPre") == [
        "/bin/rm -rf /opt/paywall/var/prometheus",
        "/bin/mkdir -p /opt/paywall/var/prometheus",
    ]
    assert values(path, "Environment")[0] == "WEBHOOK_BIND=127.0.0.1:8080"


def test_the_worker_stops_warmly() -> None:
    """SIGTERM to the main process only, and minutes for running tasks to finish."""
    path = unit("worker")
    assert values(path, "KillMode") == ["mixed"]
    assert int(values(path, "TimeoutStopSec")[0]) >= 120


@pytest.mark.parametrize(("login", "starts"), [
    (None, False), ("", False), (":", False), ("admin:", False), (":secret", False),
    ("admin", False), ("admin:secret", True),
])
def test_flower_refuses_to_start_without_basic_auth(login: str | None, starts: bool) -> None:
    """The ExecStartPre, run by a shell, lets Flower start only with a user and a password."""
    (check,) = values(unit("flower"), "ExecStartPre")
    assert '"$$FLOWER_BASIC_AUTH"' in check  # `$$`: expanded by the shell, never on argv
    command = shlex.split(check.replace("$$", "$"))
    env = {"PATH": "/usr/bin:/bin"} | ({} if login is None else {"FLOWER_BASIC_AUTH": login})
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert (result.returncode == 0) is starts
    assert starts or "FLOWER_BASIC_AUTH" in result.stderr


def test_the_target_wants_every_process() -> None:
    """`systemctl start paywall.target` starts all five; it is enabled for multi-user boot."""
    target = UNITS / "paywall.target"
    wanted = values(target, "Wants", "Unit")[0].split()
    assert sorted(wanted) == sorted(f"paywall-{name}.service" for name in PROCESSES)
    assert values(target, "WantedBy", "Install") == ["multi-user.target"]
    assert sorted(path.name for path in UNITS.iterdir()) == sorted(
        [*wanted, "paywall.target"])


def test_systemd_analyze_verify_is_silent(tmp_path: Path) -> None:
    """`systemd-analyze verify` loads every unit without a single warning."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        unavailable("systemd-analyze is not installed")
        return
    root = tmp_path / "opt-paywall"
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / "var").mkdir()
    (root / ".env").write_text("")
    for program in ("gunicorn", "celery", "python"):
        stub = root / ".venv" / "bin" / program
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    units = tmp_path / "units"
    units.mkdir()
    for path in UNITS.iterdir():
        (units / path.name).write_text(path.read_text().replace("/opt/paywall", str(root)))
    result = subprocess.run(
        [analyze, "verify", "--man=no", *sorted(str(path) for path in units.iterdir())],
        capture_output=True, text=True, timeout=60, check=False,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    assert output == "", output
