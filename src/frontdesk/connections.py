"""Bounds on HTTP connections, enforced in uvicorn's httptools protocol (docs/operations.md).

uvicorn closes a kept-alive connection that stays idle after a response (``timeout_keep_alive``), but
it has no bound on the time a client takes to send a request's headers, none on their size with
httptools, and its ``limit_concurrency`` answers a plain-text 503 counted at request time. Without
bounds, connections that never finish a request are held forever and exhaust the file descriptors.
``guarded_protocol`` returns uvicorn's protocol with:

- a **header deadline**: a connection must deliver a request's complete headers within
  ``header_timeout_secs`` of opening, or of the first byte of its next request; otherwise it is closed
  (with ``408`` if part of a request had arrived). A held long poll has long finished its headers,
  so the deadline never touches it, and the keep-alive idle timer only runs between requests;
- a **header size limit**: more than ``max_header_bytes`` before the headers end → ``431``, closed;
- a **connection limit**: a connection opened while ``max_connections`` are open is answered
  ``503`` (JSON, ``Retry-After``, ``Connection: close``) to its request; beyond a further
  ``refusal_slots`` connections are closed at once, which bounds the descriptors a flood can take.

It also keeps **accepting in batches** while the loop is saturated (``BacklogDrain``): libuv (under
uvloop) accepts one connection per loop turn, so a busy server would leave new connections waiting
unseen in the kernel's queue for seconds.

It also **writes each response in one system call** (``CoalescedWrites``): uvicorn writes a
response's status line and headers, then its body, each with a write of its own, so every answer
cost two writes and two TCP segments. The headers are held until the body's write in the same loop
turn and both go out together (one ``writev``); what is not followed by another write goes out on
the next loop turn at the latest.

It also offers the application the **disconnect watch** of ``frontdesk.protocol.asgi``: a held
long poll learns that its client went away from the connection's loss itself, not from a task of
its own awaiting ``receive()``.
"""

from __future__ import annotations

import asyncio
import errno
import os
import resource
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Protocol

import orjson
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from frontdesk.observability.logs import get_logger
from frontdesk.protocol.asgi import DISCONNECT_WATCH, REQUEST_AGE
from frontdesk.protocol.errors import ErrorCode

log = get_logger(__name__)

FD_RESERVE = 128  # descriptors kept for the database, files being served, the listening socket
RETRY_AFTER_SECS = 5
WARNING_INTERVAL_SECS = 10.0  # at most one "limit reached" line this often: a flood must not flood the log
BUSY_MESSAGE = "The server is at its connection limit; try again shortly"
DRAIN_BATCH = 1024  # at most this many queued connections accepted per drain (one loop turn's worth)
# accept() errors that concern only the connection being accepted: the next one may still succeed
TRANSIENT_ACCEPT_ERRNOS = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EINTR})


# Linux's struct tcp_info: tcpi_last_data_recv, milliseconds since the last data segment arrived
_TCP_INFO: int | None = getattr(socket, "TCP_INFO", None)
_LAST_DATA_RECV = struct.Struct("=I")
_LAST_DATA_RECV_OFFSET = 52
_TCP_INFO_BYTES = _LAST_DATA_RECV_OFFSET + _LAST_DATA_RECV.size


def received_age(sock: Any) -> float | None:
    """Seconds since the kernel last received data on the TCP socket ``sock`` — for a request whose
    bytes have all arrived, since its last bytes arrived, however long they then waited for the
    process (in the accept queue, in the socket); None where the socket cannot tell (not TCP, not
    Linux, closed)."""
    if sock is None or _TCP_INFO is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _TCP_INFO_BYTES)
    except OSError:  # a Unix socket, or closed meanwhile
        return None
    if len(info) < _TCP_INFO_BYTES:
        return None
    return int(_LAST_DATA_RECV.unpack_from(info, _LAST_DATA_RECV_OFFSET)[0]) / 1000


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """The bounds (the server settings of the same names; defaults in ``frontdesk.settings``)."""

    max_connections: int
    header_timeout_secs: float
    keep_alive_secs: int
    max_header_bytes: int


def _refusal(status: int, body: dict[str, str]) -> tuple[list[tuple[bytes, bytes]], bytes]:
    encoded = orjson.dumps(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(encoded)).encode()),
               (b"connection", b"close"), (b"cache-control", b"no-store")]
    if status == 503:
        headers.append((b"retry-after", str(RETRY_AFTER_SECS).encode()))
    return headers, encoded


def _raw_answer(status: int, reason: str, message: str) -> bytes:
    """A whole response for a connection whose request never got as far as a path."""
    headers, body = _refusal(status, {"detail": message})
    lines = [f"HTTP/1.1 {status} {reason}".encode()] + [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def _busy(scope: Scope, receive: Receive, send: Send) -> None:
    """The answer to a request on a connection opened beyond the limit: the Mobile/Web API's error
    shape (5001, "no server is available") under /clientweb, FastAPI's elsewhere."""
    if scope["type"] == "http" and scope["path"].startswith("/clientweb"):
        body = {"error_code": ErrorCode.SERVER_NOT_AVAILABLE.value, "error_message": BUSY_MESSAGE}
    else:
        body = {"detail": BUSY_MESSAGE}
    headers, encoded = _refusal(503, body)
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": encoded, "more_body": False})


def refusal_slots(max_connections: int) -> int:
    """How many connections past the limit are still answered 503 (about 3 %)."""
    return max(16, max_connections // 32)


def descriptors_needed(max_connections: int) -> int:
    return max_connections + refusal_slots(max_connections) + FD_RESERVE


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


class _ProtocolFactory(Protocol):
    def __call__(self) -> asyncio.Protocol: ...


class BacklogDrain:
    """Accepting the connections queued on the listening sockets, all at once.

    libuv (uvloop's core) accepts one connection each time it polls a listening socket, that is one
    per loop turn. On a saturated loop a turn lasts hundreds of ms, so new connections (an agent's
    next send, a customer reconnecting after an aborted poll) waited in the kernel's accept queue
    for tens of seconds, while the client believed itself connected, until the queue overflowed.
    uvloop's listener stays the trigger: every connection it accepts calls ``drain``, which accepts
    what else is queued on a non-blocking duplicate of each listening socket and hands it to the
    loop as uvloop's own would (``loop.connect_accepted_socket``). When nothing is queued, the usual
    case on a server that keeps up, the cost is one ``accept()`` answering EAGAIN."""

    def __init__(self) -> None:
        self._listeners: list[socket.socket] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_warning = float("-inf")

    def listen(self, sockets: Iterable[_HasFileno]) -> None:
        """Drain these listening sockets from now on (through duplicates of their descriptors: the
        loop's own socket objects are left as they are)."""
        for sock in sockets:
            listener = socket.socket(fileno=os.dup(sock.fileno()))
            listener.setblocking(False)
            self._listeners.append(listener)

    def close(self) -> None:
        """Accept nothing more (shutdown has begun)."""
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener.close()

    def drain(self, loop: asyncio.AbstractEventLoop, protocol_factory: _ProtocolFactory) -> int:
        """Accept up to ``DRAIN_BATCH`` queued connections; returns how many."""
        accepted = 0
        for listener in self._listeners:
            while accepted < DRAIN_BATCH:
                try:
                    conn, _ = listener.accept()
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno in TRANSIENT_ACCEPT_ERRNOS:
                        continue
                    self._warn_failed(loop, exc)  # out of descriptors or memory: uvloop's listener retries
                    break
                accepted += 1
                task = loop.create_task(loop.connect_accepted_socket(protocol_factory, conn))
                self._tasks.add(task)
                task.add_done_callback(self._handed_over)
        return accepted

    def _handed_over(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("an accepted connection failed before it was served", error=str(task.exception()))

    def _warn_failed(self, loop: asyncio.AbstractEventLoop, exc: OSError) -> None:
        now = loop.time()
        if now - self._last_warning > WARNING_INTERVAL_SECS:
            self._last_warning = now
            log.warning("accepting queued connections failed", error=exc.strerror or str(exc))


class CoalescedWrites:
    """A connection's transport whose writes of one loop turn go out together.

    A write with nothing held is held and its flush scheduled for the next loop turn; a write with
    something held sends both at once (``writelines``: one ``writev`` under uvloop, no copy). So a
    response's headers and its body leave in one call, and nothing waits longer than the rest of the
    current loop turn. ``close`` and ``write_eof`` send what is held first; ``abort`` drops it, as
    the transport drops its own buffer. Everything else is the transport's."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.writelines((held, data))
            return
        if not data:
            return
        # the caller may reuse a mutable buffer once the call returns: hold a copy of such
        self._held = data if type(data) is bytes else bytes(data)
        self._loop.call_soon(self.flush)

    def writelines(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(chunks))

    def flush(self) -> None:
        """Send what is held now (the scheduled end of a loop turn, or before closing)."""
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the bounds of this module (``limits`` set by
    ``guarded_protocol``'s subclass)."""

    limits: ClassVar[ConnectionLimits]
    backlog: ClassVar[BacklogDrain]
    _last_warning: ClassVar[float] = float("-inf")

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._in_headers = False  # from a request's first byte until its headers are complete
        self._message_done = True  # the parser has finished the last request, body included
        self._admitted = True
        self._on_lost: Callable[[], None] | None = None  # the disconnect watch of the request in progress
        # the kernel may have held this connection's request unseen: before its first response (the
        # accept queue), and for good once reading was ever paused (a pipelined request, a big body)
        self._first_response_done = False
        self._reading_paused_once = False
        # the ASGI scope extensions of this connection's requests: made once per connection, not per
        # request (every request's scope holds them; its app reads them, never changes them)
        self._extensions: dict[str, dict[object, object]] = {DISCONNECT_WATCH: {"watch": self._watch_disconnect},
                                               REQUEST_AGE: {"age": self._request_age}}

    # -- connection -------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescedWrites(transport, self.loop))  # type: ignore[arg-type]
        self.backlog.drain(self.loop, self._sibling)
        open_now = len(self.connections)
        if open_now > self.limits.max_connections + refusal_slots(self.limits.max_connections):
            transport.abort()
            return
        if open_now > self.limits.max_connections:
            self._admitted = False
            now = self.loop.time()
            if now - GuardedProtocol._last_warning > WARNING_INTERVAL_SECS:
                GuardedProtocol._last_warning = now
                log.warning("connection limit reached: new connections are answered 503",
                            max_connections=self.limits.max_connections)
        self._start_header_clock()

    def _sibling(self) -> GuardedProtocol:
        """A protocol for another connection of the same server (``BacklogDrain``)."""
        return type(self)(self.config, self.server_state, self.app_state, self.loop)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_clock()
        super().connection_lost(exc)
        on_lost, self._on_lost = self._on_lost, None
        if on_lost is not None:
            on_lost()

    def _watch_disconnect(self, callback: Callable[[], None]) -> Callable[[], None]:
        """``protocol.asgi.DisconnectWatch``: ``callback()`` when the connection is lost, until the
        returned function is called (a later request's watch is not stopped by an earlier one's)."""
        self._on_lost = callback

        def stop() -> None:
            if self._on_lost is callback:
                self._on_lost = None

        return stop

    def _request_age(self) -> float | None:
        """``protocol.asgi.RequestAge`` for this connection's request in progress. The kernel is
        asked (a system call) only while it may have held the request unseen: a connection's first
        request may have waited in the accept queue, and one that came while reading was paused
        in its socket. Any later request of a kept-alive connection was read the loop turn its bytes
        arrived in, which the loop-lag estimate of ``api.overload`` covers: None (no age) then."""
        if self._first_response_done and not self._reading_paused_once:
            return None
        return received_age(self.transport.get_extra_info("socket"))

    def on_response_complete(self) -> None:
        self._first_response_done = True
        super().on_response_complete()

    # -- reading headers ----------------------------------------------------------------------------------

    def _responding(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _start_header_clock(self) -> None:
        self._header_bytes = 0
        self._header_timer = self.loop.call_later(self.limits.header_timeout_secs, self._header_timeout)

    def _stop_header_clock(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self._message_done and not self._responding():
            # the first bytes after a finished exchange: the next request on a kept-alive connection
            self._start_header_clock()
        super().data_received(data)
        if self.flow.read_paused:  # (pipelined requests queued, or a body beyond uvicorn's high-water mark)
            self._reading_paused_once = True
        if self._in_headers and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                self._refuse(431, "Request Header Fields Too Large",
                             f"The request headers are larger than {self.limits.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._message_done = False
        if self._header_timer is None:
            self._start_header_clock()  # a pipelined request

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._stop_header_clock()
        self.scope["extensions"] = self._extensions
        if self._admitted:
            super().on_headers_complete()
            return
        admitted_app = self.app
        self.app = _busy
        try:
            super().on_headers_complete()
        finally:
            self.app = admitted_app

    def on_message_complete(self) -> None:
        self._message_done = True
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        if not self._admitted:
            self._refuse(503, "Service Unavailable", BUSY_MESSAGE)
            return
        super().handle_websocket_upgrade()

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self._in_headers:
            self._refuse(408, "Request Timeout", "The request headers did not arrive in time")
        else:
            self.transport.close()

    def _refuse(self, status: int, reason: str, message: str) -> None:
        """Answer (unless a response is under way on this connection) and close."""
        self._stop_header_clock()
        if not self._responding():
            self.transport.write(_raw_answer(status, reason, message))
        self.transport.close()


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedProtocol]:
    """uvicorn's ``http`` protocol class bound to ``limits`` (and to a ``BacklogDrain`` of its own,
    which drains nothing until the server gives it its listening sockets)."""
    return type("BoundGuardedProtocol", (GuardedProtocol,), {"limits": limits, "backlog": BacklogDrain()})


def backlog_drain(config: Config) -> BacklogDrain | None:
    """The ``BacklogDrain`` of the server configured by ``config`` (None: not ``guarded_protocol``'s)."""
    protocol = config.http
    return protocol.backlog if isinstance(protocol, type) and issubclass(protocol, GuardedProtocol) else None


def fit_descriptor_limit(limits: ConnectionLimits) -> ConnectionLimits:
    """Raise the process's soft limit on open files as far as the connection limit needs (up to the
    hard limit); if even the hard limit is too low, lower the connection limit to what fits and say so."""
    needed = descriptors_needed(limits.max_connections)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit", target=target, error=str(exc))
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return limits
    fitting = limits.max_connections
    while fitting > 1 and descriptors_needed(fitting) > soft:
        fitting = max(1, fitting - max(1, (descriptors_needed(fitting) - soft) // 2))
    log.warning(f"max_connections {limits.max_connections} needs {needed} open files but the limit is {soft}: "
                f"using max_connections {fitting} (raise `ulimit -n` / LimitNOFILE)",
                max_connections=limits.max_connections, needed=needed, limit=soft, using=fitting)
    return replace(limits, max_connections=fitting)
