"""A small asyncio HTTP/1.1 keep-alive client and WebSocket client written for the load generator.

Requests are prebuilt bytes; a connection carries one request at a time (no pipelining), parses the
status line and headers by hand and reads a ``Content-Length`` or chunked body. The time a
response completed is taken in ``data_received`` (``time.monotonic_ns``), before any decoding, so
latency figures do not include the load generator's own JSON work.
"""

from __future__ import annotations

import asyncio
import base64
import os
import resource
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

_HEAD_END = b"\r\n\r\n"


class HttpError(Exception):
    """A broken or unexpected HTTP exchange (connection lost, unparseable response, timeout)."""


class RequestTimeout(HttpError):
    """The request was given up after its timeout and its connection closed (an aborted poll)."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    done_ns: int  # time.monotonic_ns() when the last byte of the response arrived


def build_request(method: str, target: str, host: str, headers: Iterable[tuple[str, str]] = (),
                  body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def raise_nofile_limit() -> int:
    """Raise this process's open-file limit to its hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def _parse_chunked(buf: bytearray, start: int) -> tuple[bytes, int] | None:
    """Decode a complete chunked body at ``buf[start:]``: (body, end offset), or None if incomplete."""
    parts: list[bytes] = []
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
        pos = eol + 2
        if size == 0:
            end = buf.find(_HEAD_END, pos - 2)  # no trailers expected: the last CRLF follows at once
            return (b"".join(parts), end + 4) if end >= 0 else None
        if len(buf) < pos + size + 2:
            return None
        parts.append(bytes(buf[pos:pos + size]))
        pos += size + 2


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection; ``request`` sends prebuilt bytes and resolves with the reply."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buf = bytearray()
        self._pending: asyncio.Future[Reply] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._head: tuple[int, int, bool, int] | None = None  # status, body start, chunked, length

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, host, port)
        return protocol

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        pending = self._pending
        if pending is not None and not pending.done():
            head = self._head
            if head is not None and head[3] < 0 and not head[2]:  # body delimited by the close
                self._finish(head[0], bytes(self._buf[head[1]:]), head[1] + len(self._buf))
            else:
                self._fail(HttpError(f"connection lost: {exc or 'closed by server'}"))

    def eof_received(self) -> bool | None:
        return None

    def request(self, data: bytes, timeout_secs: float | None = None) -> asyncio.Future[Reply]:
        if self._pending is not None:
            raise RuntimeError("a request is already in flight on this connection")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reply] = loop.create_future()
        if self.closed or self.transport is None:
            future.set_exception(HttpError("connection is closed"))
            return future
        self._pending = future
        self._head = None
        if timeout_secs is not None:
            self._timer = loop.call_later(timeout_secs, self._time_out)
        self.transport.write(data)
        return future

    def close(self) -> None:
        """Close the connection (FIN), abandoning any request in flight."""
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True
        if self._pending is not None and not self._pending.done():
            self._fail(HttpError("closed by client"))

    def _time_out(self) -> None:
        self._timer = None
        if self._pending is not None and not self._pending.done():
            self._fail(RequestTimeout("request timed out; connection closed"))
        if self.transport is not None:
            self.transport.close()
        self.closed = True

    def _fail(self, error: Exception) -> None:
        future = self._pending
        self._pending = None
        self._cancel_timer()
        if future is not None and not future.done():
            future.set_exception(error)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _finish(self, status: int, body: bytes, end: int) -> None:
        done_ns = time.monotonic_ns()
        future = self._pending
        self._pending = None
        self._head = None
        del self._buf[:end]
        self._cancel_timer()
        if future is not None and not future.done():
            future.set_result(Reply(status, body, done_ns))

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._pending is None:
            return
        buf = self._buf
        head = self._head
        if head is None:
            end = buf.find(_HEAD_END)
            if end < 0:
                return
            try:
                head = self._head = _parse_head(bytes(buf[:end]), end + 4)
            except (ValueError, IndexError) as exc:
                self._fail(HttpError(f"bad response head: {exc}"))
                self.close()
                return
        status, start, chunked, length = head
        if chunked:
            decoded = _parse_chunked(buf, start)
            if decoded is not None:
                self._finish(status, decoded[0], decoded[1])
        elif length >= 0 and len(buf) >= start + length:
            self._finish(status, bytes(buf[start:start + length]), start + length)


def _parse_head(head: bytes, body_start: int) -> tuple[int, int, bool, int]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = -1
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        if key == "content-length":
            length = int(value)
        elif key == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if length < 0 and not chunked and (status in (204, 304) or status < 200):
        length = 0
    return status, body_start, chunked, length


class ConnectionPool:
    """Keep-alive connections shared by independent requests (agent sends, customer posts).

    Opens a new connection whenever none is free, up to ``max_size``; beyond that requests wait
    for a free one (the wait shows up in their latency, as it would for a real client)."""

    def __init__(self, host: str, port: int, max_size: int) -> None:
        self.host = host
        self.port = port
        self.max_size = max_size
        self.size = 0
        self._free: list[HttpConnection] = []
        self._waiters: list[asyncio.Future[HttpConnection]] = []
        self._opening: set[asyncio.Task[None]] = set()

    async def acquire(self) -> HttpConnection:
        while self._free:
            conn = self._free.pop()
            if not conn.closed:
                return conn
            self.size -= 1
        if self.size < self.max_size:
            self.size += 1
            try:
                return await HttpConnection.open(self.host, self.port)
            except BaseException:
                self.size -= 1
                raise
        waiter: asyncio.Future[HttpConnection] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return await waiter

    def release(self, conn: HttpConnection) -> None:
        if conn.closed:
            self.size -= 1
            if self._waiters and self.size < self.max_size:
                # a waiter gets a fresh connection slot: open it on its behalf
                waiter = self._waiters.pop(0)
                self.size += 1
                task = asyncio.ensure_future(self._open_for(waiter))
                self._opening.add(task)
                task.add_done_callback(self._opening.discard)
            return
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._free.append(conn)

    async def _open_for(self, waiter: asyncio.Future[HttpConnection]) -> None:
        try:
            conn = await HttpConnection.open(self.host, self.port)
        except OSError as exc:
            self.size -= 1
            if not waiter.done():
                waiter.set_exception(HttpError(f"connect failed: {exc}"))
            return
        if waiter.done():
            self.release(conn)
        else:
            waiter.set_result(conn)

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def close(self) -> None:
        for conn in self._free:
            conn.close()
        self._free.clear()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(HttpError("pool closed"))
        self._waiters.clear()


# ---- WebSocket ----------------------------------------------------------------------------------

OnText = Callable[[str, int], None]  # message text, monotonic_ns when its last frame arrived


class WsConnection(asyncio.Protocol):
    """A minimal RFC 6455 client: text messages only, no extensions; answers pings and closes."""

    def __init__(self, on_text: OnText) -> None:
        self.on_text = on_text
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buf = bytearray()
        self._upgraded: asyncio.Future[int] | None = None
        self._fragments: list[bytes] = []
        self.done: asyncio.Future[None] | None = None

    @classmethod
    async def open(cls, host: str, port: int, target: str, on_text: OnText, timeout_secs: float = 10.0) -> WsConnection:
        loop = asyncio.get_running_loop()
        _, ws = await loop.create_connection(lambda: cls(on_text), host, port)
        ws._upgraded = loop.create_future()
        ws.done = loop.create_future()
        key = base64.b64encode(os.urandom(16)).decode()
        assert ws.transport is not None
        ws.transport.write(build_request("GET", target, f"{host}:{port}", [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13")]))
        async with asyncio.timeout(timeout_secs):
            status = await ws._upgraded
        if status != 101:
            ws.close()
            raise HttpError(f"WebSocket upgrade refused with HTTP {status}")
        return ws

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._upgraded is not None and not self._upgraded.done():
            self._upgraded.set_exception(HttpError("connection lost during the WebSocket handshake"))
        if self.done is not None and not self.done.done():
            self.done.set_result(None)

    def send_text(self, text: str) -> None:
        self._send_frame(0x1, text.encode())

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self._send_frame(0x8, b"\x03\xe8")
            self.transport.close()
        self.closed = True

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = bytes([0x80 | opcode, 0x80 | n])
        elif n < 65536:
            header = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            header = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
        key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
        masked = (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big") if n else b""
        self.transport.write(header + mask + masked)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._upgraded is not None and not self._upgraded.done():
            end = self._buf.find(_HEAD_END)
            if end < 0:
                return
            status = int(bytes(self._buf[:end]).split(b" ", 2)[1])
            del self._buf[:end + 4]
            self._upgraded.set_result(status)
        now = time.monotonic_ns()
        buf = self._buf
        while len(buf) >= 2:
            fin = buf[0] & 0x80
            opcode = buf[0] & 0x0F
            length = buf[1] & 0x7F
            pos = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length = int.from_bytes(buf[2:4], "big")
                pos = 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length = int.from_bytes(buf[2:10], "big")
                pos = 10
            if len(buf) < pos + length:
                return
            payload = bytes(buf[pos:pos + length])
            del buf[:pos + length]
            if opcode == 0x9:
                self._send_frame(0xA, payload)
            elif opcode == 0x8:
                self.close()
                return
            elif opcode in (0x0, 0x1):
                self._fragments.append(payload)
                if fin:
                    text = b"".join(self._fragments).decode()
                    self._fragments.clear()
                    self.on_text(text, now)
