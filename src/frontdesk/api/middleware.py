"""ASGI middleware: path clean-up, the customer API's CORS (by origin), request body limits."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontdesk.api.identity import VISITOR_COOKIE
from frontdesk.api.origins import judge_request
from frontdesk.api.wire import json_error
from frontdesk.domain.config import LiveConfig
from frontdesk.protocol.errors import ApiError, ErrorCode
from frontdesk.protocol.origins import OriginVerdict

_SLASHES = re.compile(r"/{2,}")

ALLOW_METHODS = "GET, POST, OPTIONS"
DEFAULT_ALLOW_HEADERS = "Authorization, Content-Type, Cache-Control, User-Agent, UserAgent, X-Requested-With"
PREFLIGHT_MAX_AGE_SECS = "600"


class CollapseSlashes:
    """``/clientweb/api/v1//iceservers`` (sent by the v4 widget) routes like ``.../v1/iceservers``.

    A plain callable returning the inner app's awaitable, not a coroutine of its own (as the
    other pass-through layers here): a held long poll keeps every coroutine of its middleware
    chain alive for the whole hold, and each is one more object for every pass of the cyclic
    garbage collector over the young objects (docs/architecture.md, "Memory and the collector")."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] in ("http", "websocket") and "//" in scope["path"]:
            scope = dict(scope)
            scope["path"] = _SLASHES.sub("/", scope["path"])
            scope["raw_path"] = scope["path"].encode()
        return self.app(scope, receive, send)


class CustomerCors:
    """CORS for the customer API (docs/customer-api.md, "CORS model").

    Every ``OPTIONS`` under ``prefix`` is answered here, without authentication. A page of a
    trusted origin (the server's own, or one of the entry's ``allowed_origins``; see
    ``frontdesk.api.origins``) gets credentialed CORS: its Origin echoed with
    ``Access-Control-Allow-Credentials: true``. Any other site gets ``Access-Control-Allow-Origin: *``
    without credentials, which a browser honours only for requests that carry no cookie; one that
    does carry the visitor cookie is refused with 403 / 3000 before any route sees it. Requests
    without an Origin (SDKs, bridges, ``<img>`` loads) pass untouched but for ``Vary: Origin``."""

    def __init__(self, app: ASGIApp, live: LiveConfig, prefix: str = "/clientweb") -> None:
        self.app = app
        self.live = live
        self.prefix = prefix

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """A plain callable returning the awaitable that answers (see ``CollapseSlashes``)."""
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            return self.app(scope, receive, send)
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        verdict = judge_request(self.live.current, scope, headers)
        if scope["method"] == "OPTIONS":
            return self._preflight(headers, origin, verdict, send)
        if verdict is OriginVerdict.FOREIGN and VISITOR_COOKIE in cookie_parser(headers.get("cookie", "")):
            return self._refuse(scope, receive, send)
        return self.app(scope, receive, _SendWithCors(send, origin, verdict))

    @staticmethod
    async def _preflight(headers: Headers, origin: str | None, verdict: OriginVerdict, send: Send) -> None:
        requested = headers.get("access-control-request-headers")
        out = MutableHeaders(raw=[])
        out["Access-Control-Allow-Methods"] = ALLOW_METHODS
        out["Access-Control-Allow-Headers"] = requested or DEFAULT_ALLOW_HEADERS
        out["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE_SECS
        out["Vary"] = "Origin, Access-Control-Request-Headers"
        out["Content-Length"] = "0"
        _allow(out, origin, verdict)
        await send({"type": "http.response.start", "status": 204, "headers": out.raw})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
        response = json_error(ApiError(ErrorCode.BAD_APP_ID, FOREIGN_COOKIE_MESSAGE))
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers.add_vary_header("Origin")
        await response(scope, receive, send)


class _SendWithCors:
    """``send`` that adds the CORS headers to the response start: one object per request where a
    closure would be a function and a cell per captured name."""

    __slots__ = ("_origin", "_send", "_verdict")

    def __init__(self, send: Send, origin: str | None, verdict: OriginVerdict) -> None:
        self._send = send
        self._origin = origin
        self._verdict = verdict

    def __call__(self, message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.start":
            _add_cors(message, self._origin, self._verdict)
        return self._send(message)


FOREIGN_COOKIE_MESSAGE = ("This site may not send the chat visitor's cookie: its origin is not in the entry's "
                          "allowed_origins")


# the headers ``_add_cors`` sets: an answer that has one of them already is merged with it
_CORS_HEADER_NAMES = frozenset({b"access-control-allow-origin", b"access-control-allow-credentials",
                                b"access-control-expose-headers", b"vary"})


def _add_cors(message: Message, origin: str | None, verdict: OriginVerdict) -> None:
    """Add the CORS headers for ``origin`` to a response start. Most answers have none of them
    yet, and get a list of them appended that is built once per origin and verdict."""
    raw = message.get("headers", ())
    if not any(name in _CORS_HEADER_NAMES for name, _ in raw):
        message["headers"] = [*raw, *_cors_headers(origin, verdict)]
        return
    out = MutableHeaders(scope=message)
    _cors(out, origin, verdict)


@functools.lru_cache(maxsize=256)
def _cors_headers(origin: str | None, verdict: OriginVerdict) -> tuple[tuple[bytes, bytes], ...]:
    out = MutableHeaders(raw=[])
    _cors(out, origin, verdict)
    return tuple(out.raw)


def _cors(out: MutableHeaders, origin: str | None, verdict: OriginVerdict) -> None:
    _allow(out, origin, verdict)
    if verdict is not OriginVerdict.ABSENT:
        out["Access-Control-Expose-Headers"] = "Content-Disposition"
    out.add_vary_header("Origin")


def _allow(out: MutableHeaders, origin: str | None, verdict: OriginVerdict) -> None:
    if verdict is OriginVerdict.TRUSTED and origin is not None:
        out["Access-Control-Allow-Origin"] = origin
        out["Access-Control-Allow-Credentials"] = "true"
    elif verdict is OriginVerdict.FOREIGN:
        out["Access-Control-Allow-Origin"] = "*"


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
