"""The client's real address behind nginx: X-Forwarded-For believed from trusted proxies only.

nginx (infra/deploy/nginx.conf) appends the address it saw to X-Forwarded-For; the gateway,
reached from 127.0.0.1, would otherwise log every request as coming from there. Anyone else
could write any X-Forwarded-For they like, so the header is read only when the request came
from an address in TRUSTED_PROXIES, and then only its last entry (what our nginx added).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class TrustedProxies:
    """WSGI middleware: werkzeug's ProxyFix (one hop) for requests from a trusted proxy."""

    def __init__(self, app: WSGIApplication, *, trusted: Iterable[str]) -> None:
        self._direct = app
        self._behind_proxy = ProxyFix(app, x_for=1, x_proto=1)
        self._trusted = frozenset(trusted)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REMOTE_ADDR") in self._trusted:
            return self._behind_proxy(environ, start_response)
        return self._direct(environ, start_response)
