"""The customer long poll over real HTTP: holding, waking, superseding, aborted polls, exactly-once
in-order delivery (server cursor and explicit ``after`` cursor), terminal chats, draining, and the
event names each kind of client may receive."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import pytest

from frontdesk.bus.interfaces import chat_topic
from frontdesk.client import AgentClient, CustomerClient
from frontdesk.domain.config import ContactCenterConfig
from frontdesk.protocol.events import MOBILE_EVENT_NAMES, WEB_EVENT_NAMES
from frontdesk.settings import Settings
from tests.conftest import LiveServer, StartServer

JsonObject = dict[str, Any]

TENANT = {"tenantUrl": "demo.local"}
# a hold that never runs out during a test: a poll held this long that answers was woken, superseded or
# drained, never timed out, so "answered early" needs no stopwatch (and passes on a loaded machine)
NEVER_SECS = 3600.0
GUARD_SECS = 60.0  # only against a hang: a test that gets here has failed anyway


def auth(client_id: str) -> dict[str, str]:
    return {"Authorization": f'MOBILE-API-140-327-PLAIN appId="demo", clientId="{client_id}"'}


def events_url(live: LiveServer, chat_id: str) -> str:
    return f"{live.base_url}/clientweb/api/v2/chats/{chat_id}/events"


def messages(events: list[JsonObject]) -> list[str]:
    return [str(e["msg_text"]) for e in events if e["event"] == "chat_session_message"]


async def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait (briefly, for real) until the server reaches a state; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("the server did not reach the expected state in time")
        await asyncio.sleep(0.005)


async def drain_customer(customer: CustomerClient, chat_id: str) -> list[JsonObject]:
    """Poll (server cursor) until the chat's setup events up to ``status connected`` arrived."""
    seen: list[JsonObject] = []
    for _ in range(10):
        seen += await customer.poll(chat_id)
        if any(e["event"] == "chat_session_status" and e["state"] == "connected" for e in seen):
            return seen
    pytest.fail(f"the chat never became connected: {seen}")


async def connected_chat(live: LiveServer, client_id: str) -> tuple[CustomerClient, AgentClient, str]:
    """A chat the demo agent accepted, whose setup events the customer already received."""
    customer = live.customer(client_id=client_id)
    chat = await customer.request_chat({"first_name": "Ada"})
    chat_id = str(chat["chat_id"])
    agent = await live.agent()
    await agent.accept(chat_id)
    await drain_customer(customer, chat_id)
    return customer, agent, chat_id


async def long_hold_server(start_server: StartServer, demo_config: ContactCenterConfig) -> LiveServer:
    """A server whose polls are held until something happens (the settings' bound is for real clients)."""
    live = await start_server(settings=Settings(contact_center=demo_config))
    live.frontdesk.polls.hold_secs = NEVER_SECS
    return live


async def answered(poll: Awaitable[httpx.Response]) -> httpx.Response:
    return await asyncio.wait_for(poll, timeout=GUARD_SECS)


async def collect_messages(customer: CustomerClient, chat_id: str, count: int, max_polls: int = 200) -> list[str]:
    """Poll with the server cursor until ``count`` messages arrived (fails on more or fewer)."""
    got: list[str] = []
    for _ in range(max_polls):
        got += messages(await customer.poll(chat_id))
        if len(got) >= count:
            return got
    pytest.fail(f"only {len(got)} of {count} messages arrived: {got}")


# ---- holding and waking ---------------------------------------------------------------------------


async def test_idle_poll_holds_then_answers_empty_json(live: LiveServer, http: httpx.AsyncClient) -> None:
    customer, agent, chat_id = await connected_chat(live, "hold-1")
    poll = asyncio.ensure_future(http.get(events_url(live, chat_id), params=TENANT, headers=auth("hold-1")))
    await wait_until(lambda: live.frontdesk.polls.held == 1)
    assert not poll.done()  # held, with nothing to say
    response = await answered(poll)  # until the (short, test) hold runs out
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"events": []}
    assert live.frontdesk.polls.held == 0
    await customer.aclose()
    await agent.aclose()


async def test_held_poll_wakes_early_with_the_agents_message(start_server: StartServer,
                                                            demo_config: ContactCenterConfig,
                                                            http: httpx.AsyncClient) -> None:
    live = await long_hold_server(start_server, demo_config)
    customer, agent, chat_id = await connected_chat(live, "wake-1")
    poll = asyncio.ensure_future(http.get(events_url(live, chat_id), params=TENANT, headers=auth("wake-1")))
    await wait_until(lambda: live.frontdesk.polls.held == 1)
    await agent.send_message(chat_id, "wake up")
    response = await answered(poll)  # the hold never runs out: the message woke it
    assert response.status_code == 200
    assert messages(response.json()["events"]) == ["wake up"]
    await customer.aclose()
    await agent.aclose()


# ---- superseding -------------------------------------------------------------------------------------


async def test_newer_poll_completes_the_older_one_and_gets_the_next_event(
        start_server: StartServer, demo_config: ContactCenterConfig, http: httpx.AsyncClient) -> None:
    live = await long_hold_server(start_server, demo_config)
    customer, agent, chat_id = await connected_chat(live, "supersede-1")
    url, headers = events_url(live, chat_id), auth("supersede-1")
    poll_a = asyncio.ensure_future(http.get(url, params=TENANT, headers=headers))
    await wait_until(lambda: live.frontdesk.polls.held == 1)
    poll_b = asyncio.ensure_future(http.get(url, params=TENANT, headers=headers))
    response_a = await answered(poll_a)  # completed by B, not by a hold that never runs out
    assert response_a.status_code == 200
    assert response_a.json() == {"events": []}
    await wait_until(lambda: live.frontdesk.polls.held == 1)
    assert not poll_b.done()
    await agent.send_message(chat_id, "for B")
    response_b = await answered(poll_b)
    assert response_b.status_code == 200
    assert messages(response_b.json()["events"]) == ["for B"]
    # nothing is delivered twice: the next event is the only thing the next poll gets
    await agent.send_message(chat_id, "after B")
    assert messages(await customer.poll(chat_id)) == ["after B"]
    await customer.aclose()
    await agent.aclose()


# ---- aborted polls ----------------------------------------------------------------------------------


async def abort_held_poll(live: LiveServer, chat_id: str, client_id: str) -> None:
    """Start a poll on its own connection, wait until the server holds it, then abort it."""
    async with httpx.AsyncClient(timeout=10.0) as own:
        task = asyncio.ensure_future(own.get(events_url(live, chat_id), params=TENANT, headers=auth(client_id)))
        await wait_until(lambda: live.frontdesk.polls.held >= 1 or task.done())
        assert not task.done(), "the poll was answered before it could be aborted"
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert task.cancelled()


async def test_aborted_poll_loses_nothing(live: LiveServer) -> None:
    customer, agent, chat_id = await connected_chat(live, "abort-1")
    await abort_held_poll(live, chat_id, "abort-1")
    for text in ("one", "two", "three"):
        await agent.send_message(chat_id, text)
    assert await collect_messages(customer, chat_id, 3) == ["one", "two", "three"]
    assert await customer.poll(chat_id) == []
    await customer.aclose()
    await agent.aclose()


async def test_aborted_poll_noticed_by_the_server_before_the_message_loses_nothing(live: LiveServer) -> None:
    customer, agent, chat_id = await connected_chat(live, "abort-2")
    await abort_held_poll(live, chat_id, "abort-2")
    await wait_until(lambda: live.frontdesk.polls.held == 0)
    await agent.send_message(chat_id, "still here")
    assert messages(await customer.poll(chat_id)) == ["still here"]
    await customer.aclose()
    await agent.aclose()


async def test_a_held_poll_whose_client_leaves_ends_at_once(start_server: StartServer,
                                                              demo_config: ContactCenterConfig) -> None:
    """The connection's loss ends a poll held for an hour (the server's disconnect watch), and
    its events wait for the next poll."""
    live = await long_hold_server(start_server, demo_config)
    customer, agent, chat_id = await connected_chat(live, "abort-held")
    registry = live.frontdesk.metrics.registry

    def disconnected() -> float | None:
        return registry.get_sample_value("frontdesk_poll_outcomes_total", {"outcome": "disconnected"})

    before = disconnected()
    await abort_held_poll(live, chat_id, "abort-held")
    await wait_until(lambda: live.frontdesk.polls.held == 0, timeout=GUARD_SECS)
    assert disconnected() == (before or 0) + 1
    await agent.send_message(chat_id, "after the abort")
    assert messages(await customer.poll(chat_id)) == ["after the abort"]
    await customer.aclose()
    await agent.aclose()


async def test_a_hold_that_runs_out_unwoken_answers_without_reading_again(
        start_server: StartServer, demo_config: ContactCenterConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """An idle poll reads the log when it starts and on each wake-up, not when its hold runs out
    (the end of the hold is driven here, not waited for)."""
    live = await long_hold_server(start_server, demo_config)
    customer, agent, chat_id = await connected_chat(live, "reads-1")
    polls = live.frontdesk.polls
    reads: list[str] = []
    read = polls._read

    async def counted(identity: Any, chat: str, after: int | None) -> Any:
        reads.append(chat)
        return await read(identity, chat, after)

    monkeypatch.setattr(polls, "_read", counted)

    def held() -> Any:
        return polls._slots[chat_id].current

    for wake_ups in (0, 1):
        reads.clear()
        poll = asyncio.ensure_future(customer.poll(chat_id))
        await wait_until(lambda: len(reads) == 1 and chat_id in polls._slots and held() is not None)
        if wake_ups:  # news of the chat that is nothing for the customer: the poll reads and holds on
            live.frontdesk.notifier.wake(chat_topic(chat_id))
            await wait_until(lambda: len(reads) == 2)
        held().expire()
        assert await asyncio.wait_for(poll, GUARD_SECS) == []
        assert len(reads) == 1 + wake_ups
    await agent.send_message(chat_id, "after the holds")
    assert messages(await customer.poll(chat_id)) == ["after the holds"]
    await customer.aclose()
    await agent.aclose()


class AsgiClient:
    """One poll driven straight into the ASGI application, as a server without frontdesk's
    disconnect watch (or with it, ``extensions``) would: ``leave()`` is the client going away."""

    def __init__(self, live: LiveServer, chat_id: str, client_id: str, extensions: JsonObject | None = None,
                 more_body: bool = False) -> None:
        self.scope: JsonObject = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": f"/clientweb/api/v2/chats/{chat_id}/events", "raw_path": b"", "root_path": "",
            "query_string": b"tenantUrl=demo.local", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
            "headers": [(b"host", b"demo.local"), (b"authorization", auth(client_id)["Authorization"].encode())]}
        if extensions is not None:
            self.scope["extensions"] = extensions
        self.app = live.frontdesk.asgi
        self.messages: list[JsonObject] = [{"type": "http.request", "body": b"", "more_body": more_body}]
        if more_body:
            self.messages.append({"type": "http.request", "body": b"", "more_body": False})
        self.gone = asyncio.Event()
        self.sent: list[JsonObject] = []

    async def receive(self) -> JsonObject:
        if self.messages:
            return self.messages.pop(0)
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(dict(message))

    def leave(self) -> None:
        self.gone.set()


@pytest.mark.parametrize("kind", ["no extension", "a body still coming"])
async def test_without_the_disconnect_watch_a_task_watches_receive(start_server: StartServer,
                                                                   demo_config: ContactCenterConfig,
                                                                   kind: str) -> None:
    live = await long_hold_server(start_server, demo_config)
    customer, agent, chat_id = await connected_chat(live, f"asgi-{len(kind)}")
    watched: list[object] = []

    def watch(callback: Callable[[], None]) -> Callable[[], None]:
        watched.append(callback)
        return lambda: None

    extensions = None if kind == "no extension" else {"frontdesk.disconnect_watch": {"watch": watch}}
    client = AsgiClient(live, chat_id, f"asgi-{len(kind)}", extensions, more_body=extensions is not None)
    poll = asyncio.ensure_future(client.app(client.scope, client.receive, client.send))
    await wait_until(lambda: live.frontdesk.polls.held == 1)
    client.leave()
    await asyncio.wait_for(poll, GUARD_SECS)
    assert live.frontdesk.polls.held == 0 and watched == []
    assert client.sent == []  # a poll whose client left is answered to nobody
    await agent.send_message(chat_id, "after the abort")
    assert messages(await customer.poll(chat_id)) == ["after the abort"]
    await customer.aclose()
    await agent.aclose()


async def test_with_the_disconnect_watch_no_task_reads_receive(start_server: StartServer,
                                                               demo_config: ContactCenterConfig) -> None:
    """Given the watch, a poll reads the request once and is ended by the watch's callback."""
    live = await long_hold_server(start_server, demo_config)
    customer, agent, chat_id = await connected_chat(live, "asgi-watch")
    callbacks: list[Callable[[], None]] = []
    stopped: list[bool] = []

    def watch(callback: Callable[[], None]) -> Callable[[], None]:
        callbacks.append(callback)
        return lambda: stopped.append(True)

    client = AsgiClient(live, chat_id, "asgi-watch", {"frontdesk.disconnect_watch": {"watch": watch}})
    poll = asyncio.ensure_future(client.app(client.scope, client.receive, client.send))
    await wait_until(lambda: live.frontdesk.polls.held == 1)
    assert len(callbacks) == 1 and client.messages == []
    client.leave()  # receive() would now say http.disconnect: nobody asks
    await asyncio.sleep(0.05)
    assert live.frontdesk.polls.held == 1
    callbacks[0]()
    await asyncio.wait_for(poll, GUARD_SECS)
    assert live.frontdesk.polls.held == 0 and stopped and client.sent == []
    await agent.send_message(chat_id, "after the abort")
    assert messages(await customer.poll(chat_id)) == ["after the abort"]
    await customer.aclose()
    await agent.aclose()


async def test_many_aborted_polls_interleaved_with_messages(live: LiveServer) -> None:
    customer, agent, chat_id = await connected_chat(live, "abort-many")
    expected = [f"m{i}" for i in range(30)]
    received: list[str] = []
    sent = 0
    for round_ in range(10):
        # abort one or two held polls (nothing is pending, so the server holds them) ...
        for _ in range(1 + round_ % 2):
            await abort_held_poll(live, chat_id, "abort-many")
        # ... then the agent talks right away, while the server may still be noticing the abort ...
        for _ in range(3):
            await agent.send_message(chat_id, expected[sent])
            sent += 1
        # ... and the customer's next poll gets what the aborted ones did not deliver
        received += messages(await customer.poll(chat_id))
    received += await collect_messages(customer, chat_id, len(expected) - len(received)) \
        if len(received) < len(expected) else []
    assert received == expected
    assert await customer.poll(chat_id) == []
    await customer.aclose()
    await agent.aclose()


# ---- exactly once, in order -------------------------------------------------------------------------


async def test_server_cursor_delivers_every_message_exactly_once_in_order(live: LiveServer) -> None:
    customer, agent, chat_id = await connected_chat(live, "order-1")
    expected = [f"msg {i}" for i in range(50)]

    async def send_all() -> None:
        for text in expected:
            await agent.send_message(chat_id, text)

    sender = asyncio.ensure_future(send_all())
    received = await collect_messages(customer, chat_id, len(expected))
    await sender
    assert received == expected
    assert await customer.poll(chat_id) == []
    await customer.aclose()
    await agent.aclose()


async def test_explicit_cursor_delivers_exactly_once_and_replays_old_cursors(live: LiveServer) -> None:
    customer, agent, chat_id = await connected_chat(live, "order-2")
    setup = await customer.poll_after(chat_id, 0)
    assert setup, "the setup events replay from after=0"
    assert [e["seq"] for e in setup] == sorted({int(e["seq"]) for e in setup})
    cursor = int(setup[-1]["seq"])
    start_cursor = cursor
    expected = [f"explicit {i}" for i in range(50)]

    async def send_all() -> None:
        for text in expected:
            await agent.send_message(chat_id, text)

    sender = asyncio.ensure_future(send_all())
    collected: list[JsonObject] = []
    for _ in range(200):
        batch = await customer.poll_after(chat_id, cursor)
        collected += batch
        if batch:
            cursor = int(batch[-1]["seq"])
        if len(messages(collected)) >= len(expected):
            break
    await sender
    assert messages(collected) == expected
    seqs = [int(e["seq"]) for e in collected]
    assert seqs == sorted(set(seqs)) and seqs[0] > start_cursor
    # repeating a poll with an old cursor gives the same events with the same seq values again
    old = seqs[9]
    again = await customer.poll_after(chat_id, old)
    assert again == [e for e in collected if int(e["seq"]) > old]
    assert await customer.poll_after(chat_id, start_cursor) == collected
    # the explicit cursor is idle once it is at the end
    assert await customer.poll_after(chat_id, cursor) == []
    await customer.aclose()
    await agent.aclose()


# ---- the customer's own events and POST events ------------------------------------------------------


async def test_customer_own_messages_are_never_in_its_poll(live: LiveServer) -> None:
    customer, agent, chat_id = await connected_chat(live, "own-1")
    for text in ("mine 1", "mine 2", "mine 3"):
        await customer.send_message(chat_id, text)
    await agent.send_message(chat_id, "theirs")
    polled = await customer.poll(chat_id)
    assert messages(polled) == ["theirs"]
    assert all(e.get("party_id") != chat_id for e in polled)
    assert await customer.poll(chat_id) == []
    # they are stored: history shows them with party_id == chat_id
    history = await customer.history(chat_id)
    own = [e["msg_text"] for e in history if e["event"] == "chat_session_message" and e["party_id"] == chat_id]
    assert own == ["mine 1", "mine 2", "mine 3"]
    agent_view = [e["event"].get("msg_text") for e in await agent.events(chat_id)]
    assert {"mine 1", "mine 2", "mine 3"} <= set(agent_view)
    await customer.aclose()
    await agent.aclose()


async def test_post_events_answers_empty_and_pending_events_go_to_the_next_poll(
        live: LiveServer, http: httpx.AsyncClient) -> None:
    customer, agent, chat_id = await connected_chat(live, "post-1")
    await agent.send_message(chat_id, "pending 1")
    await agent.send_message(chat_id, "pending 2")
    response = await http.post(events_url(live, chat_id), params=TENANT, headers=auth("post-1"),
                               json={"events": [{"event": "chat_session_message", "msg": "hi", "msg_id": "p1"}]})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"events": []}
    assert messages(await customer.poll(chat_id)) == ["pending 1", "pending 2"]
    await customer.aclose()
    await agent.aclose()


# ---- terminal chats ---------------------------------------------------------------------------------


def assert_5005(response: httpx.Response) -> None:
    assert response.status_code == 404
    body = response.json()
    assert body["error_code"] == "5005"
    assert isinstance(body["error_message"], str) and body["error_message"]


async def test_agent_end_delivers_terminal_events_then_5005(live: LiveServer, http: httpx.AsyncClient) -> None:
    customer, agent, chat_id = await connected_chat(live, "end-1")
    await agent.send_message(chat_id, "bye")
    await agent.end(chat_id)
    final = await customer.poll(chat_id)
    assert [e["event"] for e in final] == ["chat_session_message", "chat_session_party_left", "chat_session_ended"]
    url, headers = events_url(live, chat_id), auth("end-1")
    assert_5005(await http.get(url, params=TENANT, headers=headers))
    assert_5005(await http.get(f"{live.base_url}/clientweb/api/v2/chats/{chat_id}/history", params=TENANT,
                               headers=headers))
    assert_5005(await http.post(url, params=TENANT, headers=headers,
                                json={"events": [{"event": "chat_session_message", "msg": "too late"}]}))
    # v1 answers the same
    assert_5005(await http.get(f"{live.base_url}/clientweb/api/v1/chats/{chat_id}/events", params=TENANT,
                               headers=headers))
    await customer.aclose()
    await agent.aclose()


async def test_terminal_events_are_delivered_again_if_the_poll_was_aborted(live: LiveServer,
                                                                         http: httpx.AsyncClient) -> None:
    customer, agent, chat_id = await connected_chat(live, "end-2")
    await abort_held_poll(live, chat_id, "end-2")
    await wait_until(lambda: live.frontdesk.polls.held == 0)
    await agent.end(chat_id)
    final = await customer.poll(chat_id)
    assert [e["event"] for e in final] == ["chat_session_party_left", "chat_session_ended"]
    assert_5005(await http.get(events_url(live, chat_id), params=TENANT, headers=auth("end-2")))
    await customer.aclose()
    await agent.aclose()


async def test_customer_end_answers_5005_at_once(live: LiveServer, http: httpx.AsyncClient) -> None:
    customer, agent, chat_id = await connected_chat(live, "end-3")
    await customer.end(chat_id)
    live.frontdesk.polls.hold_secs = NEVER_SECS  # a held poll would never answer
    assert_5005(await answered(http.get(events_url(live, chat_id), params=TENANT, headers=auth("end-3"))))
    names = [e["event"]["event"] for e in await agent.events(chat_id)]
    assert names[-3:] == ["chat_session_end", "chat_session_party_left", "chat_session_ended"]
    await customer.aclose()
    await agent.aclose()


async def test_unknown_or_foreign_chat_answers_5005(live: LiveServer, http: httpx.AsyncClient) -> None:
    assert_5005(await http.get(events_url(live, "no-such-chat"), params=TENANT, headers=auth("x-1")))
    customer, agent, chat_id = await connected_chat(live, "owner-1")
    assert_5005(await http.get(events_url(live, chat_id), params=TENANT, headers=auth("someone-else")))
    assert_5005(await http.get(events_url(live, chat_id), params={**TENANT, "after": "0"},
                               headers=auth("someone-else")))
    await customer.aclose()
    await agent.aclose()


async def test_explicit_cursor_replays_an_ended_chat_until_its_last_event(live: LiveServer,
                                                                        http: httpx.AsyncClient) -> None:
    customer, agent, chat_id = await connected_chat(live, "end-4")
    await agent.send_message(chat_id, "last words")
    await agent.end(chat_id)
    await customer.poll(chat_id)  # the server cursor delivers the terminal events
    url, headers = events_url(live, chat_id), auth("end-4")
    assert_5005(await http.get(url, params=TENANT, headers=headers))
    replay = await customer.poll_after(chat_id, 0)
    assert [e["event"] for e in replay][-3:] == ["chat_session_message", "chat_session_party_left",
                                                 "chat_session_ended"]
    last = int(replay[-1]["seq"])
    assert [e["event"] for e in await customer.poll_after(chat_id, last - 1)] == ["chat_session_ended"]
    assert_5005(await http.get(url, params={**TENANT, "after": str(last)}, headers=headers))
    assert_5005(await http.get(url, params={**TENANT, "after": str(last + 100)}, headers=headers))
    await customer.aclose()
    await agent.aclose()


async def test_malformed_after_is_rejected(live: LiveServer, http: httpx.AsyncClient) -> None:
    customer, agent, chat_id = await connected_chat(live, "after-bad")
    response = await http.get(events_url(live, chat_id), params={**TENANT, "after": "-1"},
                              headers=auth("after-bad"))
    assert response.status_code == 400
    assert response.json()["error_code"] == "5003"
    await customer.aclose()
    await agent.aclose()


# ---- graceful drain ---------------------------------------------------------------------------------


async def test_drain_completes_a_held_poll_promptly(start_server: StartServer, demo_config: ContactCenterConfig,
                                                    http: httpx.AsyncClient) -> None:
    live = await long_hold_server(start_server, demo_config)
    customer, agent, chat_id = await connected_chat(live, "drain-1")
    poll = asyncio.ensure_future(http.get(events_url(live, chat_id), params=TENANT, headers=auth("drain-1")))
    await wait_until(lambda: live.frontdesk.polls.held == 1)
    live.frontdesk.polls.drain()
    response = await answered(poll)  # the hold never runs out: the drain answered it
    assert response.status_code == 200
    assert response.json() == {"events": []}
    await customer.aclose()
    await agent.aclose()


async def test_stopping_the_server_completes_a_held_poll_promptly(
        start_server: StartServer, demo_config: ContactCenterConfig, http: httpx.AsyncClient) -> None:
    live = await long_hold_server(start_server, demo_config)
    customer, agent, chat_id = await connected_chat(live, "drain-2")
    await customer.aclose()
    await agent.aclose()
    poll = asyncio.ensure_future(http.get(events_url(live, chat_id), params=TENANT, headers=auth("drain-2")))
    await wait_until(lambda: live.frontdesk.polls.held == 1)
    stop: Callable[[], Awaitable[None]] = getattr(live, "stop")  # noqa: B009 - set by the fixture
    await asyncio.wait_for(stop(), timeout=GUARD_SECS)
    response = await answered(poll)  # the hold never runs out: the shutdown's drain answered it
    assert response.status_code == 200
    assert response.json() == {"events": []}


# ---- what each kind of client receives -------------------------------------------------------------


async def test_each_client_kind_only_receives_event_names_it_decodes(live: LiveServer) -> None:
    web = live.customer(client_id="WebChat")
    mobile = live.customer(client_id="filter-mobile")
    web_chat = str((await web.request_chat({"first_name": "Web"}))["chat_id"])
    mobile_chat = str((await mobile.request_chat({"first_name": "Mob"}))["chat_id"])
    agent = await live.agent()
    received: dict[str, list[JsonObject]] = {web_chat: [], mobile_chat: []}
    for customer, chat_id in ((web, web_chat), (mobile, mobile_chat)):
        await agent.accept(chat_id)
        received[chat_id] += await drain_customer(customer, chat_id)
        # client events only the web widget decodes: navigation, form data
        form_id = await agent.show_form(chat_id, "survey", timeout_secs=30)
        await customer.send_events(chat_id, {"event": "chat_session_navigation", "page": "/pricing",
                                             "title": "Pricing", "msg_id": "nav-1"})
        await customer.send_events(chat_id, {"event": "chat_session_form_data", "form_request_id": form_id,
                                             "form_name": "survey", "data": {"helpful": "yes"}})
        await customer.send_message(chat_id, "hello", msg_id="c-1")
        await customer.send_typing(chat_id, "typ")
        # a form that expires makes an agents-only event
        await agent.show_form(chat_id, "late", timeout_secs=10)
        # agent events of every kind a customer may see
        await agent.send_message(chat_id, "hi there")
        await agent.typing(chat_id, True)
        await agent.typing(chat_id, False)
        await agent.receipt(chat_id, "c-1", "read")
        await agent.set_case(chat_id, "case-1")
        await agent.signaling(chat_id, {"type": "REQUEST_CALL"})
    assert await live.advance(11) == 2  # both "late" forms expired
    for chat_id in (web_chat, mobile_chat):
        agent_names = {e["event"]["event"] for e in await agent.events(chat_id)}
        assert {"frontdesk_form_expired", "chat_session_navigation", "chat_session_form_data"} <= agent_names
        await agent.end(chat_id)
    for customer, chat_id in ((web, web_chat), (mobile, mobile_chat)):
        for _ in range(10):
            batch = await customer.poll(chat_id)
            received[chat_id] += batch
            if any(e["event"] == "chat_session_ended" for e in batch):
                break
    web_names = {e["event"] for e in received[web_chat]}
    mobile_names = {e["event"] for e in received[mobile_chat]}
    expected_common = {"chat_session_message", "chat_session_typing", "chat_session_not_typing",
                       "chat_session_message_read", "chat_session_form_show", "chat_session_case_set",
                       "chat_session_signaling", "chat_session_party_joined", "chat_session_party_left",
                       "chat_session_status", "chat_session_ended"}
    assert expected_common <= web_names <= WEB_EVENT_NAMES
    assert expected_common <= mobile_names <= MOBILE_EVENT_NAMES
    assert all(e.get("party_id") not in (web_chat, mobile_chat) for e in received[web_chat] + received[mobile_chat])
    await web.aclose()
    await mobile.aclose()
    await agent.aclose()


async def test_history_is_filtered_to_the_clients_event_names(live: LiveServer) -> None:
    web = live.customer(client_id="WebChat")
    mobile = live.customer(client_id="history-mobile")
    agent = await live.agent()
    histories: dict[str, list[JsonObject]] = {}
    for name, customer in (("web", web), ("mobile", mobile)):
        chat_id = str((await customer.request_chat({}))["chat_id"])
        await agent.accept(chat_id)
        form_id = await agent.show_form(chat_id, "survey", timeout_secs=60)
        await customer.send_events(chat_id, {"event": "chat_session_navigation", "page": "/", "title": "Home"})
        await customer.send_events(chat_id, {"event": "chat_session_form_data", "form_request_id": form_id,
                                             "form_name": "survey", "data": {"helpful": "yes"}})
        await customer.send_message(chat_id, "after the form")
        histories[name] = await customer.history(chat_id)
    web_names = [e["event"] for e in histories["web"]]
    mobile_names = [e["event"] for e in histories["mobile"]]
    assert "chat_session_navigation" in web_names and "chat_session_form_data" in web_names
    assert set(mobile_names) <= MOBILE_EVENT_NAMES
    assert "chat_session_form_show" in mobile_names and "chat_session_message" in mobile_names
    assert set(web_names) <= WEB_EVENT_NAMES
    await web.aclose()
    await mobile.aclose()
    await agent.aclose()
