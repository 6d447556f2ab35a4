"""ASGI middleware for the customer API: path clean-up and credentialed CORS on every path."""

from __future__ import annotations

import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SLASHES = re.compile(r"/{2,}")

ALLOW_METHODS = "GET, POST, OPTIONS"
DEFAULT_ALLOW_HEADERS = "Authorization, Content-Type, Cache-Control, User-Agent, UserAgent, X-Requested-With"
PREFLIGHT_MAX_AGE_SECS = "600"


class CollapseSlashes:
    """``/clientweb/api/v1//iceservers`` (sent by the v4 widget) routes like ``.../v1/iceservers``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and "//" in scope["path"]:
            scope = dict(scope)
            scope["path"] = _SLASHES.sub("/", scope["path"])
            scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)


class CredentialedCors:
    """Answers every ``OPTIONS`` preflight without authentication and adds credentialed CORS
    headers (the request's Origin echoed, never ``*``) to every response under ``prefix``."""

    def __init__(self, app: ASGIApp, prefix: str = "/clientweb") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS":
            await self._preflight(headers, origin, send)
            return
        if origin is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["Access-Control-Allow-Origin"] = origin
                out["Access-Control-Allow-Credentials"] = "true"
                out["Access-Control-Expose-Headers"] = "Content-Disposition"
                out.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(headers: Headers, origin: str | None, send: Send) -> None:
        requested = headers.get("access-control-request-headers")
        out: list[tuple[bytes, bytes]] = [
            (b"access-control-allow-methods", ALLOW_METHODS.encode()),
            (b"access-control-allow-headers", (requested or DEFAULT_ALLOW_HEADERS).encode("latin-1")),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE_SECS.encode()),
            (b"vary", b"Origin, Access-Control-Request-Headers"),
            (b"content-length", b"0"),
        ]
        if origin is not None:
            out.append((b"access-control-allow-origin", origin.encode("latin-1")))
            out.append((b"access-control-allow-credentials", b"true"))
        await send({"type": "http.response.start", "status": 204, "headers": out})
        await send({"type": "http.response.body", "body": b""})


class BodySizeLimit:
    """Refuses request bodies above ``limit_bytes`` with 413 while they stream in, before any
    parser buffers them (the agent API's uploads; the customer API checks its own limits)."""

    def __init__(self, app: ASGIApp, limit_bytes: int) -> None:
        self.app = app
        self.limit_bytes = limit_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit_bytes:
            await self._refuse(send)
            return
        seen = 0
        exceeded = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit_bytes:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # frameworks turn a failing body read into their own 400: answer 413 instead
            nonlocal refused
            if exceeded:
                if not refused:
                    refused = True
                    await self._refuse(send)
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not refused:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = f'{{"detail": "request body larger than {self.limit_bytes} bytes"}}'.encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
