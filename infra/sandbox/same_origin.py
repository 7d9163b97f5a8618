"""The stand-ins' control APIs answer their own page and local programs only, not other sites.

While `make run` is up, any page open in the operator's browser could otherwise POST to
http://127.0.0.1:8081/control/reset or …/pay (a form or a `fetch` needs no permission for
that). Browsers mark such requests with an `Origin` header, and a form cannot send JSON, so a
request that changes something under /control/ must:

- carry no `Origin`, or the stand-in's own (its page's fetches, curl and tests pass),
- name a loopback host or the address it reached (no DNS rebinding: a foreign name that
  resolves to 127.0.0.1 is still refused),
- and send its body, if any, as `application/json`.

Reads (GET) stay open: the browser does not let another site read the answers.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

CONTROL_PREFIX = "/control/"
READS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _refused(reason: str) -> web.Response:
    return web.json_response({"ok": False, "error": f"cross-site request refused: {reason}"},
                             status=403)


def _host_is_ours(request: web.Request) -> bool:
    host = request.url.host or ""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    bound = str(sockname[0]) if sockname else ""
    return host in LOOPBACK_HOSTS or host == bound


@web.middleware
async def same_origin_control(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a changing /control/ request from another site (see the module docstring)."""
    if request.method in READS or not request.path.startswith(CONTROL_PREFIX):
        return await handler(request)
    if not _host_is_ours(request):
        return _refused(f"Host {request.host!r} is not this stand-in")
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        return _refused(f"Origin {origin!r} is another site")
    if request.body_exists and request.content_type != "application/json":
        return web.json_response(
            {"ok": False, "error": "the body must be sent as application/json"}, status=415)
    return await handler(request)
