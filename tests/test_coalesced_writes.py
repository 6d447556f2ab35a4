"""One write per response (frontdesk.connections.CoalescedWrites): what a loop turn writes goes out
together, nothing waits beyond the turn, closing sends what is held and aborting drops it. The
rules are checked on a transport that records its calls; real sockets against the real server
check that responses still arrive whole and in order, kept alive or closed."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from frontdesk.connections import CoalescedWrites
from tests.conftest import LiveServer
from tests.test_connection_limits import port_of, read_response


class RecordingTransport:
    """What CoalescedWrites asks of its transport, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def writelines(self, chunks: Any) -> None:
        self.calls.append(("writelines", [bytes(chunk) for chunk in chunks]))

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close", None))

    def write_eof(self) -> None:
        self.calls.append(("write_eof", None))

    def abort(self) -> None:
        self.closing = True
        self.calls.append(("abort", None))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def coalesced() -> tuple[CoalescedWrites, RecordingTransport]:
    transport = RecordingTransport()
    return CoalescedWrites(transport, asyncio.get_running_loop()), transport  # type: ignore[arg-type]


async def next_turn() -> None:
    await asyncio.sleep(0)


async def test_headers_and_body_of_one_turn_leave_in_one_call() -> None:
    writes, transport = coalesced()
    writes.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert transport.calls == []
    writes.write(b'{"events":[]}')
    assert transport.calls == [("writelines", [b"HTTP/1.1 200 OK\r\n\r\n", b'{"events":[]}'])]
    await next_turn()
    assert len(transport.calls) == 1  # the scheduled flush finds nothing left


async def test_a_lone_write_leaves_on_the_next_loop_turn() -> None:
    writes, transport = coalesced()
    writes.write(b"headers of a streamed answer")
    assert writes.get_write_buffer_size() == 7 + len(b"headers of a streamed answer")
    await next_turn()
    assert transport.calls == [("write", b"headers of a streamed answer")]
    writes.write(b"chunk")
    await next_turn()
    assert transport.calls[-1] == ("write", b"chunk")


async def test_a_mutable_buffer_is_held_as_it_was_written() -> None:
    writes, transport = coalesced()
    buffer = bytearray(b"frame")
    writes.write(buffer)
    buffer[:] = b"XXXXX"  # the caller reuses its buffer once write returned
    await next_turn()
    assert transport.calls == [("write", b"frame")]


async def test_close_and_eof_send_what_is_held_first_and_abort_drops_it() -> None:
    writes, transport = coalesced()
    writes.write(b"last words")
    writes.close()
    assert transport.calls == [("write", b"last words"), ("close", None)]
    await next_turn()
    assert len(transport.calls) == 2

    writes, transport = coalesced()
    writes.write(b"before eof")
    writes.write_eof()
    assert transport.calls == [("write", b"before eof"), ("write_eof", None)]

    writes, transport = coalesced()
    writes.write(b"never sent")
    writes.abort()
    await next_turn()
    assert transport.calls == [("abort", None)]


async def test_nothing_is_written_to_a_closing_transport_and_empty_writes_are_nothing() -> None:
    writes, transport = coalesced()
    writes.write(b"")
    writes.write(b"late")
    transport.closing = True  # the connection was lost before the turn ended
    await next_turn()
    assert transport.calls == []


async def test_writelines_and_everything_else_reach_the_transport() -> None:
    writes, transport = coalesced()
    writes.writelines([b"a", b"b"])
    writes.writelines([b"c"])
    assert transport.calls == [("writelines", [b"ab", b"c"])]
    assert writes.get_extra_info("peername") == "info:peername"
    assert not writes.is_closing()


POLL = "/clientweb/api/v2/chats/{chat}/events?tenantUrl=demo.local"


def request(target: str, client: str, extra: str = "") -> bytes:
    return (f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: MOBILE-API-140-327-PLAIN appId=demo, clientId={client}\r\n{extra}\r\n").encode()


async def test_kept_alive_responses_arrive_whole_and_in_order(live: LiveServer) -> None:
    customer = live.customer("coalesce-1")
    chat = await customer.request_chat()
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(live))
    try:
        # three requests on one connection, the second an unknown method (a JSON error answer)
        writer.write(request("/clientweb/api/v2/availability?tenantUrl=demo.local", "coalesce-1"))
        status, _, body = await read_response(reader)
        assert status == 200 and "chat" in orjson.loads(body)
        writer.write(request("/clientweb/api/v2/no-such-method?tenantUrl=demo.local", "coalesce-1"))
        status, headers, body = await read_response(reader)
        assert status == 404 and orjson.loads(body)["error_code"] == "5955"
        assert headers["content-type"] == "application/json"
        writer.write(request(POLL.format(chat=chat["chat_id"]), "coalesce-1"))
        status, _, body = await read_response(reader)
        events = orjson.loads(body)["events"]
        assert status == 200 and "chat_session_status" in [event["event"] for event in events]
        # a request asking to close: the whole answer, then the end of the connection
        writer.write(request("/clientweb/api/v2/availability?tenantUrl=demo.local", "coalesce-1",
                             "Connection: close\r\n"))
        status, headers, body = await read_response(reader)
        assert status == 200 and headers["connection"] == "close" and orjson.loads(body)
        assert await asyncio.wait_for(reader.read(), 15) == b""
    finally:
        writer.close()
        await customer.aclose()
