"""A poll's arrival is when the kernel received its bytes (frontdesk.connections.received_age, TCP's
own clock), so a poll that waited unseen — in the accept queue of a process too busy to accept, in its
socket — is known to be late although the event loop never lagged: its answer is withheld (empty, no
cursor moved) rather than written to a client that has probably given up."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest

from frontdesk import connections
from frontdesk.api.overload import LATE_POLL_SECS, OverloadMonitor, PollDeadline, ShedLimits
from frontdesk.client import AgentClient
from frontdesk.observability.metrics import Metrics
from tests.conftest import LiveServer
from tests.test_connection_limits import port_of, read_response
from tests.test_overload import connected, customer_texts, metric

WAITED_SECS = 0.3


def _tcp_pair() -> tuple[socket.socket, socket.socket, socket.socket]:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    return listener, client, server


@pytest.mark.skipif(not hasattr(socket, "TCP_INFO"), reason="TCP_INFO is Linux's")
async def test_the_received_age_counts_the_time_bytes_waited_in_the_kernel() -> None:
    listener, client, server = _tcp_pair()
    try:
        client.sendall(b"GET / HTTP/1.1\r\n\r\n")
        await asyncio.sleep(WAITED_SECS)  # nobody reads the server's socket meanwhile
        age = connections.received_age(server)
        assert age is not None and age >= WAITED_SECS - 0.01  # (TCP counts in milliseconds)
    finally:
        for sock in (client, server, listener):
            sock.close()


def test_a_socket_that_cannot_tell_has_no_age() -> None:
    left, right = socket.socketpair()  # a Unix socket: no TCP_INFO
    try:
        assert connections.received_age(left) is None
        assert connections.received_age(None) is None
    finally:
        left.close()
        right.close()


def test_a_poll_that_waited_past_the_limit_is_late_though_the_loop_never_lagged() -> None:
    monitor = OverloadMonitor(ShedLimits(0.25, 2.0, 0.5), Metrics())
    assert not monitor.poll_deadline(waited=0.0).passed()
    assert monitor.poll_deadline(waited=LATE_POLL_SECS + 1).passed()
    assert PollDeadline.from_now(waited=LATE_POLL_SECS + 1).passed()
    assert not PollDeadline.from_now().passed()


async def test_a_poll_whose_bytes_waited_unseen_is_answered_empty_and_moves_no_cursor(
        live: LiveServer, http: httpx.AsyncClient, anna: AgentClient, monkeypatch: pytest.MonkeyPatch) -> None:
    chat_id = await connected(http, live, anna)
    customer = live.customer(client_id="shed-1")
    try:
        while await customer.poll(chat_id):  # take what is waiting; an empty answer: nothing left
            pass
        await anna.send_message(chat_id, "waited in the accept queue")
        # the kernel says this poll's bytes arrived longer ago than the widget waits for an answer:
        # the poll comes on a new connection, whose first request may have waited in the accept queue
        def waited(sock: Any) -> float:
            return LATE_POLL_SECS + 1
        monkeypatch.setattr(connections, "received_age", waited)
        late = live.customer(client_id="shed-1")
        try:
            assert await late.poll(chat_id) == []
        finally:
            await late.aclose()
        monkeypatch.undo()
        assert customer_texts(await customer.poll(chat_id)) == ["waited in the accept queue"]
    finally:
        await customer.aclose()
    assert metric((await http.get(f"{live.base_url}/metrics")).text, "frontdesk_polls_withheld_late_total") == 1


AVAILABILITY = (b"GET /clientweb/api/v2/availability?tenantUrl=demo.local HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: MOBILE-API-140-327-PLAIN appId=demo, clientId=age-1\r\n\r\n")
POLL = ("GET /clientweb/api/v2/chats/{chat}/events?tenantUrl=demo.local HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Authorization: MOBILE-API-140-327-PLAIN appId=demo, clientId=age-1\r\n\r\n")


async def test_the_kernel_is_asked_only_while_it_may_have_held_a_request(
        live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kept-alive connection's later requests were read as they arrived: no system call for their
    age. Its first request, and every request once reading was paused (pipelining), ask the kernel."""
    asked: list[object] = []
    real = connections.received_age

    def counted(sock: Any) -> float | None:
        asked.append(sock)
        return real(sock)

    monkeypatch.setattr(connections, "received_age", counted)
    customer = live.customer("age-1")
    chat = await customer.request_chat()
    await customer.aclose()
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(live))
    try:
        poll = POLL.format(chat=chat["chat_id"]).encode()
        for n in range(3):  # one request at a time: only the first asks
            writer.write(poll)
            await read_response(reader)
            assert len(asked) == 1, n
        # two requests at once: the second is queued with reading paused, and from now on every
        # request of the connection asks the kernel
        writer.write(poll + AVAILABILITY)
        await read_response(reader)
        await read_response(reader)
        pipelined = len(asked)
        assert pipelined >= 2
        writer.write(poll)
        await read_response(reader)
        assert len(asked) == pipelined + 1
    finally:
        writer.close()
