"""``/healthz``, ``/readyz`` and ``/metrics`` as pure ASGI endpoints (no web framework imported).

- ``/healthz``: the process lives and its event loop answers: always 200 ``{"status": "alive"}``.
- ``/readyz``: 200 ``{"status": "ready"}`` when every readiness check passes (the server's: storage
  reachable with every migration applied, timers running, not draining), else 503
  ``{"status": "not ready", "reasons": [...]}``.
- ``/metrics``: the Prometheus text exposition of the server's registry.

GET and HEAD only (405 otherwise); never cached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson

from frontdesk.observability.access import Receive, Scope, Send
from frontdesk.observability.metrics import CONTENT_TYPE

ReadinessCheck = Callable[[], Awaitable[list[str]]]  # why the server is not ready; empty: ready
Scrape = Callable[[], Awaitable[bytes]]


async def _answer(scope: Scope, send: Send, status: int, body: bytes, content_type: str) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store")]
    if status == 405:
        headers.append((b"allow", b"GET, HEAD"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})


async def _json(scope: Scope, send: Send, status: int, body: object) -> None:
    await _answer(scope, send, status, orjson.dumps(body), "application/json")


def _readable(scope: Scope) -> bool:
    return scope.get("method") in ("GET", "HEAD")


Answer = Callable[[Scope, Send], Awaitable[None]]


class _Endpoint:
    """An ASGI application answering GET and HEAD with ``answer`` (an object, not a function, so
    that routers mount it as ASGI rather than as a request handler)."""

    def __init__(self, answer: Answer) -> None:
        self._answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _readable(scope):
            await _json(scope, send, 405, {"detail": "Method Not Allowed"})
            return
        await self._answer(scope, send)


class Probes:
    """The three endpoints of one server: ``healthz``, ``readyz`` and ``metrics`` (ASGI apps)."""

    def __init__(self, ready: ReadinessCheck, scrape: Scrape) -> None:
        self._ready = ready
        self._scrape = scrape
        self.healthz = _Endpoint(self._alive)
        self.readyz = _Endpoint(self._readiness)
        self.metrics = _Endpoint(self._metrics)

    @staticmethod
    async def _alive(scope: Scope, send: Send) -> None:
        await _json(scope, send, 200, {"status": "alive"})

    async def _readiness(self, scope: Scope, send: Send) -> None:
        reasons = await self._ready()
        if reasons:
            await _json(scope, send, 503, {"status": "not ready", "reasons": reasons})
        else:
            await _json(scope, send, 200, {"status": "ready"})

    async def _metrics(self, scope: Scope, send: Send) -> None:
        await _answer(scope, send, 200, await self._scrape(), CONTENT_TYPE)
