"""Connection bounds (frontdesk.connections), with real sockets against the real server: a header
deadline, a header size limit, an idle keep-alive bound and a connection limit answered with 503 JSON;
held long polls are not touched by any of them.

Waiting for the server to close a connection uses a generous timeout (``CLOSED_WITHIN_SECS``) and
never asserts how long it took."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from frontdesk.domain.config import ContactCenterConfig
from frontdesk.settings import ConfigError, Settings, parse_settings
from tests.conftest import LiveServer, StartServer

CLOSED_WITHIN_SECS = 15.0
AUTH = {"Authorization": 'MOBILE-API-140-327-PLAIN appId="demo", clientId="limits-1"'}
AVAILABILITY = b"GET /clientweb/api/v2/availability?tenantUrl=demo.local HTTP/1.1\r\nHost: 127.0.0.1\r\n" \
               b"Authorization: MOBILE-API-140-327-PLAIN appId=demo, clientId=raw\r\n"


def port_of(live: LiveServer) -> int:
    return int(live.base_url.rsplit(":", 1)[1])


@contextlib.asynccontextmanager
async def raw(live: LiveServer) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(live))
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (fails if it never does)."""
    return await asyncio.wait_for(reader.read(), CLOSED_WITHIN_SECS)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CLOSED_WITHIN_SECS)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), CLOSED_WITHIN_SECS)
    return status, headers, body


@pytest.fixture
async def bounded(start_server: StartServer, demo_config: ContactCenterConfig) -> LiveServer:
    return await start_server(settings=Settings(contact_center=demo_config, poll_hold_secs=2.0,
                                                header_timeout_secs=0.3, keep_alive_secs=1, max_header_bytes=2048))


async def test_a_connection_that_sends_half_a_header_is_closed(bounded: LiveServer) -> None:
    async with raw(bounded) as (reader, writer):
        writer.write(AVAILABILITY + b"X-Slow: ")
        await writer.drain()
        answer = await read_until_closed(reader)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"content-type: application/json" in answer
    assert orjson.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"detail": "The request headers did not arrive in time"}


async def test_trickling_headers_does_not_extend_the_deadline(bounded: LiveServer) -> None:
    async with raw(bounded) as (reader, writer):
        writer.write(AVAILABILITY)

        async def trickle() -> None:
            with contextlib.suppress(OSError):
                for _ in range(int(CLOSED_WITHIN_SECS * 10)):
                    writer.write(b"X-A: b\r\n")
                    await writer.drain()
                    await asyncio.sleep(0.1)

        trickling = asyncio.ensure_future(trickle())
        try:
            answer = await read_until_closed(reader)
        finally:
            trickling.cancel()
    assert answer.startswith(b"HTTP/1.1 408 ")


async def test_a_connection_that_sends_nothing_is_closed(bounded: LiveServer) -> None:
    async with raw(bounded) as (reader, _):
        assert await read_until_closed(reader) == b""


async def test_oversized_headers_are_refused(bounded: LiveServer) -> None:
    async with raw(bounded) as (reader, writer):
        writer.write(AVAILABILITY + b"X-Big: " + b"a" * 4096)
        await writer.drain()
        answer = await read_until_closed(reader)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"larger than 2048 bytes" in answer


async def test_a_body_answered_before_it_was_read_is_not_taken_for_headers(bounded: LiveServer) -> None:
    """A request refused on its declared length is answered while its body still streams in; the rest of
    the body (far more than max_header_bytes) is a body, and the connection serves the next request."""
    size = 2 * 1024 * 1024
    async with raw(bounded) as (reader, writer):
        writer.write(b"POST /clientweb/api/v2/chats?tenantUrl=demo.local HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Authorization: MOBILE-API-140-327-PLAIN appId=demo, clientId=raw\r\n"
                     b"Content-Type: application/json\r\nContent-Length: " + str(size).encode() + b"\r\n\r\n")
        writer.write(b" " * (64 * 1024))
        await writer.drain()
        status, _, body = await read_response(reader)
        assert (status, orjson.loads(body)["error_code"]) == (413, "5003")
        for _ in range(size // (64 * 1024) - 1):
            writer.write(b" " * (64 * 1024))
            await writer.drain()
        writer.write(AVAILABILITY + b"\r\n")
        await writer.drain()
        status, _, body = await read_response(reader)
        assert status == 200 and orjson.loads(body)["chat"] == "available"


async def test_an_idle_kept_alive_connection_is_closed_after_the_bound(bounded: LiveServer) -> None:
    async with raw(bounded) as (reader, writer):
        writer.write(AVAILABILITY + b"\r\n")
        status, headers, body = await read_response(reader)
        assert status == 200 and headers.get("connection") != "close"
        assert orjson.loads(body)["chat"] == "available"
        assert await read_until_closed(reader) == b""


async def test_held_polls_outlast_the_header_and_idle_bounds(bounded: LiveServer) -> None:
    """The hold (2 s) is longer than the header deadline (0.3 s) and the idle bound (1 s): a held
    poll is neither, and it answers normally on the same connection."""
    base = f"{bounded.base_url}/clientweb/api/v2"
    params = {"tenantUrl": "demo.local"}
    async with httpx.AsyncClient(timeout=CLOSED_WITHIN_SECS,
                                 limits=httpx.Limits(max_connections=1, max_keepalive_connections=1)) as http:
        chat_id = (await http.post(f"{base}/chats", params=params, headers=AUTH, json={})).json()["chat_id"]
        first = await http.get(f"{base}/chats/{chat_id}/events", params=params, headers=AUTH)
        assert first.status_code == 200 and first.json()["events"]
        for _ in range(2):
            held = await http.get(f"{base}/chats/{chat_id}/events", params=params, headers=AUTH)
            assert (held.status_code, held.json()) == (200, {"events": []})
        # an agent's message during a held poll is delivered by it
        agent = await bounded.agent()
        async with agent:
            await agent.accept(chat_id)
            joined = await http.get(f"{base}/chats/{chat_id}/events", params=params, headers=AUTH)
            assert "chat_session_party_joined" in [e["event"] for e in joined.json()["events"]]
            polling = asyncio.ensure_future(http.get(f"{base}/chats/{chat_id}/events", params=params, headers=AUTH))
            await asyncio.sleep(0.5)
            await agent.send_message(chat_id, "still there")
            delivered = await polling
        assert "still there" in [e.get("msg") for e in delivered.json()["events"]]


@pytest.fixture
async def small(start_server: StartServer, demo_config: ContactCenterConfig) -> LiveServer:
    return await start_server(settings=Settings(contact_center=demo_config, max_connections=3, poll_hold_secs=0.5,
                                                keep_alive_secs=60))


async def test_beyond_the_connection_limit_a_clean_503(small: LiveServer) -> None:
    async with contextlib.AsyncExitStack() as stack:
        # three kept-alive connections, each past a complete request, fill the limit
        writers = []
        for _ in range(3):
            reader, writer = await stack.enter_async_context(raw(small))
            writer.write(AVAILABILITY + b"\r\n")
            assert (await read_response(reader))[0] == 200
            writers.append(writer)
        async with httpx.AsyncClient(timeout=10.0) as http:
            customer = await http.get(f"{small.base_url}/clientweb/api/v2/availability",
                                      params={"tenantUrl": "demo.local"}, headers=AUTH)
        assert customer.status_code == 503
        assert customer.headers["content-type"] == "application/json"
        assert customer.headers["retry-after"] == "5"
        assert customer.json() == {"error_code": "5001",
                                   "error_message": "The server is at its connection limit; try again shortly"}
        async with httpx.AsyncClient(timeout=10.0) as http:
            agent = await http.post(f"{small.base_url}/agent/api/v1/login", json={})
        assert (agent.status_code, agent.json()) == (503, {"detail": "The server is at its connection limit; "
                                                                     "try again shortly"})
        # a WebSocket upgrade beyond the limit is refused the same way
        async with raw(small) as (reader, writer):
            writer.write(b"GET /agent/api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         b"Sec-WebSocket-Version: 13\r\n\r\n")
            assert (await read_until_closed(reader)).startswith(b"HTTP/1.1 503 ")
        # the admitted connections keep working
        reader, writer = await stack.enter_async_context(raw(small))  # (a 4th: refused, then closed)
        writer.write(AVAILABILITY + b"\r\n")
        assert (await read_response(reader))[0] == 503
    # once they are gone, new connections are served again
    async with httpx.AsyncClient(timeout=10.0) as http:
        for _ in range(int(CLOSED_WITHIN_SECS * 10)):
            again = await http.get(f"{small.base_url}/clientweb/api/v2/availability",
                                   params={"tenantUrl": "demo.local"}, headers=AUTH)
            if again.status_code == 200:
                break
            await asyncio.sleep(0.1)
    assert again.status_code == 200


async def test_admitted_connections_are_served_at_the_limit(small: LiveServer) -> None:
    async with contextlib.AsyncExitStack() as stack:
        connections = [await stack.enter_async_context(raw(small)) for _ in range(3)]
        for reader, writer in connections * 2:  # each, twice: kept alive, still admitted
            writer.write(AVAILABILITY + b"\r\n")
            assert (await read_response(reader))[0] == 200


SERVER = '[server]\n%s\n[[tenants]]\nname = "t.example"\n[[tenants.queues]]\nid = "q"\n'


@pytest.mark.parametrize(("line", "message"), [
    ("max_connections = 0", "server.max_connections: must be between 1 and 1000000"),
    ("header_timeout_secs = 0", "server.header_timeout_secs: must be between 0.1 and 300"),
    ('header_timeout_secs = "10"', "server.header_timeout_secs: expected int or float, got str"),
    ("keep_alive_secs = 0", "server.keep_alive_secs: must be between 1 and 3600"),
    ("keep_alive_secs = 1.5", "server.keep_alive_secs: expected int, got float"),
    ("max_header_bytes = 100", "server.max_header_bytes: must be between 1024 and 1048576"),
])
def test_bad_bounds_are_refused_naming_the_field(line: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(tomllib.loads(SERVER % line), tmp_path)
    assert str(caught.value) == message


def test_bounds_are_read_with_their_defaults(tmp_path: Path) -> None:
    defaults = parse_settings(tomllib.loads(SERVER % ""), tmp_path)
    assert (defaults.max_connections, defaults.header_timeout_secs, defaults.keep_alive_secs,
            defaults.max_header_bytes) == (16_000, 10.0, 30, 32 * 1024)
    chosen = parse_settings(tomllib.loads(SERVER % "max_connections = 20000\nheader_timeout_secs = 5\n"
                                                   "keep_alive_secs = 15\nmax_header_bytes = 16384"), tmp_path)
    assert (chosen.max_connections, chosen.header_timeout_secs, chosen.keep_alive_secs,
            chosen.max_header_bytes) == (20_000, 5.0, 15, 16384)


def test_the_open_file_limit_is_raised_or_the_connection_limit_fits_it() -> None:
    """In a child process (the limits are the process's): a soft limit below what the connection
    limit needs is raised to the hard limit; if that is still too low, the connection limit shrinks."""
    script = (
        "import resource\n"
        "from frontdesk.connections import ConnectionLimits, descriptors_needed, fit_descriptor_limit\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 1024))\n"
        "fitted = fit_descriptor_limit(ConnectionLimits(500, 10.0, 30, 32768))\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0], fitted.max_connections)\n"
        "fitted = fit_descriptor_limit(ConnectionLimits(16000, 10.0, 30, 32768))\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0], fitted.max_connections,"
        " descriptors_needed(fitted.max_connections) <= 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,  # noqa: S603
                          check=True)
    first, second = done.stdout.split("\n")[:2]
    assert first.split() == ["644", "500"]  # 500 + 16 refusal slots + 128 reserved
    soft, fitted, fits = second.split()
    assert soft == "1024" and 500 < int(fitted) < 1024 and fits == "True"
    assert "using max_connections" in done.stderr


QUEUED = 200  # connections waiting in the kernel's accept queue at once
TURNS = 20  # loop turns they get to be accepted: libuv alone accepts one per turn


def test_queued_connections_are_accepted_in_a_batch_on_uvloop(tmp_path: Path,
                                                            demo_config: ContactCenterConfig) -> None:
    """The server under uvloop, as ``frontdesk serve`` runs it: connections queued while the loop
    was busy are all taken in within a few loop turns (counted, not timed), not one per turn."""
    import socket

    import uvloop

    from frontdesk.app import build_app
    from frontdesk.server import make_server
    from tests.conftest import free_port

    async def scenario() -> tuple[int, list[int]]:
        port = free_port()
        frontdesk = build_app(Settings(contact_center=demo_config, data_dir=tmp_path / "data", port=port,
                                       timers_enabled=False))
        server = make_server(frontdesk, "127.0.0.1", port)
        task = asyncio.ensure_future(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        clients = []
        try:
            # the loop does not run while these connect (blocking calls): the kernel queues them all
            for _ in range(QUEUED):
                client = socket.create_connection(("127.0.0.1", port))
                client.sendall(AVAILABILITY + b"\r\n")
                clients.append(client)
            seen = []
            for _ in range(TURNS):
                await asyncio.sleep(0)
                seen.append(len(server.server_state.connections))
            for client in clients:
                client.settimeout(CLOSED_WITHIN_SECS)
            answered = sum(await asyncio.gather(*(asyncio.to_thread(_status, c) for c in clients)))
            return answered, seen
        finally:
            for client in clients:
                client.close()
            server.should_exit = True
            await task

    answered, seen = uvloop.run(scenario())
    assert seen[-1] == QUEUED, f"connections the server had taken in, turn by turn: {seen}"
    assert answered == QUEUED


def _status(client: object) -> int:
    """1 if the connection got a 200 (blocking read of the status line)."""
    import socket

    assert isinstance(client, socket.socket)
    return int(client.recv(12).startswith(b"HTTP/1.1 200"))
