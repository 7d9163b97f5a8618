"""`POST /control/reset`: forget the world, and with `--on-reset` the engine's side first.

Under `make run` the stand-in is started with a command that empties the engine's subscriber
data (`python -m infra.ops reset-sandbox --yes`). It runs first; if it fails, the world is left
as it was, so the two sides are reset together or not at all.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from infra.sandbox.telegram import control_views as views
from infra.sandbox.telegram.bot_api import WORLD

RESET_TIMEOUT_SECONDS = 60
OUTPUT_TAIL = 2000
ON_RESET = web.AppKey("on_reset", tuple)


def add_routes(app: web.Application, on_reset: tuple[str, ...] | None) -> None:
    app[ON_RESET] = on_reset or ()
    app.router.add_post("/control/reset", _reset)


async def _reset(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    command: tuple[str, ...] = request.app[ON_RESET]
    engine_said = ""
    if command:
        failed, engine_said = await _run(command)
        if failed:
            return web.json_response({
                "ok": False,
                "error": f"nothing was reset: the engine's database could not be reset "
                         f"({engine_said.strip() or 'no output'})",
            }, status=502)
    world.reset()
    with world.lock:
        state = views.state(world)
    return web.json_response({"ok": True, "result": {**state, "engine": engine_said.strip()}})


async def _run(command: tuple[str, ...]) -> tuple[bool, str]:
    """(failed, output) of the on-reset command."""
    try:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    except OSError as error:
        return True, str(error)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), RESET_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        return True, f"no answer within {RESET_TIMEOUT_SECONDS} s"
    text = output.decode(errors="replace")[-OUTPUT_TAIL:]
    return process.returncode != 0, text
