"""The access log and the request id, as pure ASGI middleware (no web framework imported).

Every HTTP request gets a fresh log context with its request id (an incoming ``X-Request-ID`` that
looks like one is kept; the answer carries it back), and one line when it ends: method, path (the
query string with its credentials masked), status, duration, client address, and the context the
routes bound (tenant, chat, agent). WebSockets get a line when they close. Headers (Authorization,
cookies) and bodies are never logged. uvicorn's own access log stays off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from frontdesk.observability import context
from frontdesk.observability.logs import ensure_configured, log_direct

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ACCESS_LOGGER = "frontdesk.access"
# probes scraped every few seconds: logged at debug, so they do not drown the log
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _target(scope: Scope) -> str:
    """The path and query as requested (``log_direct`` masks the credentials in it)."""
    path = str(scope.get("path", ""))
    query = scope.get("query_string", b"")
    if query:
        path += "?" + bytes(query).decode("latin-1")
    return path


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else ""


class AccessLog:
    """Request ids and one access line per request (``frontdesk.access``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        ensure_configured()
        self._log = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = context.new_request_id(_header(scope, context.REQUEST_ID_HEADER.encode()))
        context.start_request(request_id)
        started = time.perf_counter()
        status = 0
        header = (context.REQUEST_ID_HEADER.encode(), request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), header]
            elif message["type"] == "websocket.accept":
                status = 101
                message["headers"] = [*message.get("headers", ()), header]
            elif message["type"] == "websocket.close" and not status:
                status = 403  # closed before it was accepted: refused
            await send(message)

        failed = False
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            failed = True
            raise
        finally:
            self._line(scope, status if status or not failed else 500, time.perf_counter() - started)

    def _line(self, scope: Scope, status: int, secs: float) -> None:
        if scope.get("path") in QUIET_PATHS and status < 500:
            level = logging.DEBUG
        elif status == 503:  # refused on purpose (overload, connection limit, database away): its cause is logged once
            level = logging.WARNING
        else:
            level = logging.ERROR if status >= 500 else logging.INFO
        if not self._log.isEnabledFor(level):
            return
        fields = {"method": scope.get("method", "WS") if scope["type"] == "http" else "WS",
                  "path": _target(scope), "status": status, "duration_ms": round(secs * 1000, 1),
                  "client": _client(scope)}
        # one line per request: written directly (same format, context and redaction as every line)
        log_direct(self._log, level, "request", fields)
