"""Runs a stand-in's aiohttp app: in a background thread (tests) or in the foreground (CLI)."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Self

from aiohttp import web


class BackgroundServer:
    """An aiohttp app served from a daemon thread with its own loop; port 0 picks a free port.

    `shutdown_timeout` bounds how long stop() lets in-flight requests (long polls) finish.
    """

    def __init__(
        self,
        app: web.Application,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout: float = 10.0,
        shutdown_timeout: float = 1.0,
    ) -> None:
        self._app, self._host, self._port = app, host, port
        self._timeout, self._shutdown_timeout = timeout, shutdown_timeout
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._port}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self._thread.start()
        if not self._ready.wait(self._timeout):
            raise TimeoutError(f"server on {self._host}:{self._port} did not start")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is None or self._stopping is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(self._timeout)
        self._loop = None
        if self._thread.is_alive():  # a hang must be loud, not a leaked thread
            raise TimeoutError(f"server on {self.base_url} did not stop in {self._timeout} s")

    async def _serve(self) -> None:
        runner = web.AppRunner(self._app, shutdown_timeout=self._shutdown_timeout)
        try:
            await runner.setup()
            await web.TCPSite(runner, self._host, self._port).start()
        except BaseException as exc:  # surfaced by start(), on the caller's thread
            self._error = exc
            self._ready.set()
            await runner.cleanup()
            return
        self._port = runner.addresses[0][1]
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await runner.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ServedSandbox:
    """A stand-in's app served in-process on a free port: what tests and fixtures hold on to."""

    def __init__(self, app: web.Application, *, host: str, port: int) -> None:
        self._server = BackgroundServer(app, host=host, port=port)

    @property
    def base_url(self) -> str:
        """Where the stand-in answers: its API base and its pages' host."""
        return self._server.base_url

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_forever(app: web.Application, bind: str) -> None:
    """Serve `app` on `host:port` until Ctrl-C (aiohttp turns the signal into a clean shutdown)."""
    host, _, port = bind.rpartition(":")
    web.run_app(app, host=host or "127.0.0.1", port=int(port), print=None, shutdown_timeout=5)
