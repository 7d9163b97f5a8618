"""Operator actions: buttons on the sandbox page that run a command configured at start-up.

The stand-in knows nothing of the engine; `make run` hands it commands such as
`celery -A celery_app call sweeps.expire_subscriptions`, so a person can run the expiry sweep
now instead of waiting for beat. Only the commands given on the command line can run.
"""

from __future__ import annotations

import asyncio
import shlex
from dataclasses import dataclass

from aiohttp import web

OUTPUT_TAIL = 4000
TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class OperatorAction:
    label: str
    command: tuple[str, ...]

    @classmethod
    def parse(cls, spec: str) -> OperatorAction:
        """`LABEL=COMMAND ARGS…` as given to `--action`."""
        label, sep, command = spec.partition("=")
        words = tuple(shlex.split(command))
        if not sep or not label.strip() or not words:
            raise ValueError(f"expected LABEL=COMMAND, got {spec!r}")
        return cls(label=label.strip(), command=words)


ACTIONS = web.AppKey("operator_actions", list[OperatorAction])


def add_routes(app: web.Application, actions: list[OperatorAction]) -> None:
    app[ACTIONS] = actions
    app.router.add_get("/control/actions", _list)
    app.router.add_post("/control/actions/{index}", _run)


async def _list(request: web.Request) -> web.Response:
    actions = request.app[ACTIONS]
    listed = [{"id": index, "label": action.label} for index, action in enumerate(actions)]
    return web.json_response({"ok": True, "result": listed})


async def _run(request: web.Request) -> web.Response:
    actions = request.app[ACTIONS]
    try:
        action = actions[int(request.match_info["index"])]
    except (ValueError, IndexError):
        return web.json_response({"ok": False, "error": "no such action"}, status=404)
    # The answer (stdout) apart from the log lines (stderr): the page shows what happened.
    process = await asyncio.create_subprocess_exec(
        *action.command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        output, log = await asyncio.wait_for(process.communicate(), TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        return web.json_response(
            {"ok": False, "error": f"{action.label}: no answer within {TIMEOUT_SECONDS}s"},
            status=504,
        )
    return web.json_response(
        {"ok": True, "result": {"label": action.label, "returncode": process.returncode,
                                "output": output.decode(errors="replace")[-OUTPUT_TAIL:],
                                "log": log.decode(errors="replace")[-OUTPUT_TAIL:]}}
    )
