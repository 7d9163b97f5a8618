"""infra/deploy/ufw-setup.sh: its --dry-run plan, its refusals, and shellcheck.

The script runs with PATH pointing at an empty directory: it finds no ufw (nor anything else),
so the dry run proves it needs no ufw and no test can ever touch this machine's firewall.
Applying the rules to a real firewall is not tested here.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.fixtures.services import unavailable

SCRIPT = Path(__file__).resolve().parents[3] / "infra" / "deploy" / "ufw-setup.sh"


BASH = shutil.which("bash") or "/bin/bash"


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="no-ufw-") as empty:
        return subprocess.run([BASH, str(SCRIPT), *args], capture_output=True, text=True,
                              timeout=30, env={"PATH": empty, **env}, check=False)


def test_dry_run_prints_the_rules_without_ufw() -> None:
    """Deny by default; allow 22, 80, 443; deny 8080 and 5555; then enable, in that order."""
    result = run("--dry-run")
    assert result.returncode == 0, result.stderr
    commands = [line.split(" comment ")[0] for line in result.stdout.splitlines()]
    assert commands == [
        "ufw default deny incoming",
        "ufw default allow outgoing",
        "ufw allow 22/tcp",
        "ufw allow 80/tcp",
        "ufw allow 443/tcp",
        "ufw deny 8080/tcp",
        "ufw deny 5555/tcp",
        "ufw --force enable",
        "ufw status verbose",
    ]


def test_ssh_port_can_be_moved_and_must_be_a_number() -> None:
    """SSH_PORT changes the allowed SSH port; garbage in it stops the script (exit 2)."""
    moved = run("--dry-run", SSH_PORT="2222")
    assert "ufw allow 2222/tcp comment paywall-ssh" in moved.stdout.splitlines()
    assert "22/tcp" not in moved.stdout.replace("2222/tcp", "")
    refused = run("--dry-run", SSH_PORT="22; reboot")
    assert refused.returncode == 2
    assert refused.stdout == ""


@pytest.mark.parametrize("args", [("--apply",), ("--dry-run", "extra")])
def test_unknown_arguments_are_refused(args: tuple[str, ...]) -> None:
    """Anything but no argument or --dry-run is a usage error and runs nothing."""
    result = run(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "usage:" in result.stderr


def test_without_dry_run_it_needs_ufw() -> None:
    """A real run on a host without ufw stops before doing anything."""
    result = run()
    assert result.returncode == 1
    assert "ufw is not installed" in result.stderr


def test_shellcheck_passes() -> None:
    """shellcheck reports nothing (fails under CI=true without shellcheck, else skips)."""
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        unavailable("shellcheck is not installed")
        return
    result = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout
