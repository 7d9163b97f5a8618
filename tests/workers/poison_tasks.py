"""Test-only tasks for a real worker (loaded with `--include`): one kills its own process."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from celery import shared_task

from workers import lifecycle  # noqa: F401 - registers the hooks, as every tasks module does


@shared_task(name="tests.poison.kill_self")  # type: ignore[untyped-decorator]
def kill_self(marker: str) -> None:
    """Leave a line per start in `marker`, then die as an OOM kill or a segfault would."""
    with Path(marker).open("a") as file:
        file.write("started\n")
    os.kill(os.getpid(), signal.SIGKILL)


@shared_task(name="tests.poison.touch")  # type: ignore[untyped-decorator]
def touch(marker: str) -> str:
    Path(marker).write_text("done")
    return "done"


@shared_task(name="tests.poison.fail")  # type: ignore[untyped-decorator]
def fail(reason: str) -> None:
    raise ValueError(reason)


@shared_task(name="tests.poison.slow")  # type: ignore[untyped-decorator]
def slow(marker_dir: str, key: str, seconds: float) -> None:
    """Hold the message for `seconds`, then apply its effect once per key, as the database would.

    Under `marker_dir`: a `run-<key>-*` file per start, `done-<key>` once, `again-<key>-*` for
    every later completion (a redelivered message whose effect was already applied).
    """
    import time
    import uuid

    folder = Path(marker_dir)
    (folder / f"run-{key}-{uuid.uuid4().hex}").touch()
    time.sleep(seconds)
    try:
        (folder / f"done-{key}").open("x").close()
    except FileExistsError:
        (folder / f"again-{key}-{uuid.uuid4().hex}").touch()


@shared_task(name="tests.poison.hold_effect", bind=True)  # type: ignore[untyped-decorator]
def hold_effect(self: Any, effect_id: int, marker_dir: str, seconds: float) -> str:
    """Perform an outbox effect the way every Telegram effect is performed, slowly.

    The "send" is a file per start (`perform-*`) and one per completed send (`sent-*`), so a
    test sees a worker that died holding the effect, and any duplicate send.
    """
    import time
    import uuid

    from workers.effects import run_effect

    def perform(_ctx: Any, effect: Any) -> dict[str, Any]:
        folder = Path(marker_dir)
        (folder / f"perform-{uuid.uuid4().hex}").touch()
        time.sleep(seconds)
        (folder / f"sent-{uuid.uuid4().hex}").touch()
        return {"key": effect.key}

    return run_effect(self, effect_id, perform)
