"""Operator actions: page buttons that run only the commands configured at start-up."""

from __future__ import annotations

import sys

import httpx
import pytest

from infra.sandbox.telegram import TelegramSandbox
from infra.sandbox.telegram.operator_actions import OperatorAction


def test_a_configured_action_runs_its_command_and_shows_the_output() -> None:
    """POST /control/actions/0 runs the command and answers its exit code, its answer (stdout)
    and, apart, its log lines (stderr)."""
    script = "import sys; print('swept 2'); print('{\"event\": \"x\"}', file=sys.stderr)"
    action = OperatorAction(label="Sweep now", command=(sys.executable, "-c", script))
    with TelegramSandbox(actions=[action]) as sandbox, httpx.Client(
        base_url=sandbox.base_url, timeout=30
    ) as client:
        listed = client.get("/control/actions").json()["result"]
        assert listed == [{"id": 0, "label": "Sweep now"}]
        ran = client.post("/control/actions/0").json()["result"]
        assert ran["returncode"] == 0
        assert ran["output"] == "swept 2\n"
        assert ran["log"] == '{"event": "x"}\n'
        assert client.post("/control/actions/1").status_code == 404
        assert client.post("/control/actions/x").status_code == 404


def test_without_actions_the_list_is_empty() -> None:
    """A stand-in started without --action offers no button and runs nothing."""
    with TelegramSandbox() as sandbox:
        answer = httpx.get(f"{sandbox.base_url}/control/actions", timeout=10).json()
    assert answer == {"ok": True, "result": []}


@pytest.mark.parametrize("spec", ["no-equals-sign", "=python", "Label=", "  =  "])
def test_malformed_action_specs_are_refused(spec: str) -> None:
    """`--action` must be LABEL=COMMAND with both parts present."""
    with pytest.raises(ValueError, match="LABEL=COMMAND"):
        OperatorAction.parse(spec)


def test_a_spec_is_split_like_a_shell_would() -> None:
    """The command part is split with shell quoting rules, the label trimmed."""
    parsed = OperatorAction.parse(" Run sweep = celery -A celery_app call 'sweeps.x' ")
    assert parsed == OperatorAction(label="Run sweep",
                                    command=("celery", "-A", "celery_app", "call", "sweeps.x"))
