"""The stand-in's command line (infra/sandbox/telegram/cli.py) and its place in the dispatcher."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web

from infra.sandbox.telegram import cli
from infra.sandbox.telegram.bot_api import WORLD

ROOT = Path(__file__).resolve().parents[4]


def test_main_builds_the_world_from_flags_and_prints_the_page(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """Flags reach the world; the output says where to open the page and the API base."""
    served: list[tuple[web.Application, str]] = []
    monkeypatch.setattr(cli, "run_forever", lambda app, bind: served.append((app, bind)))
    code = cli.main(["--bind", "127.0.0.1:9181", "--token", "77:abc", "--channel-id", "-1002",
                     "--admin-id", "9", "--flood-limits"])
    assert code == 0
    (app, bind), = served
    world = app[WORLD]
    assert bind == "127.0.0.1:9181"
    assert (world.token, world.channel_id, world.admin_id, world.flood.enabled) == (
        "77:abc", -1002, 9, True,
    )
    out = capsys.readouterr().out
    assert "open the page:" in out and "http://127.0.0.1:9181/" in out


def test_a_malformed_token_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """A token without the numeric bot id is an error before anything starts."""
    assert cli.main(["--token", "nope"]) == 2
    assert "--token" in capsys.readouterr().err


def test_the_dispatcher_knows_the_telegram_stand_in() -> None:
    """`python -m infra.sandbox telegram --help` reaches this stand-in's own options."""
    done = subprocess.run(
        [sys.executable, "-m", "infra.sandbox", "telegram", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--flood-limits" in done.stdout and "--channel-id" in done.stdout
