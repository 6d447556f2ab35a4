"""A server restarted on the same data directory carries on: chats, history, files, agent tokens,
the customer's server-side cursor and pending timers all survive."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from frontdesk.client import AgentClient, CustomerClient
from tests.conftest import LiveServer, StartServer

JsonObject = dict[str, Any]

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7V\xbd\xfa\x00\x00\x00\x00IEND\xaeB`\x82")
MOBILE_ID = "persist-mobile"


async def stop(server: LiveServer) -> None:
    stopper: Callable[[], Awaitable[None]] = getattr(server, "stop")  # noqa: B009 - set by the fixture
    await stopper()


def messages(events: list[JsonObject]) -> list[str]:
    return [str(e["msg_text"]) for e in events if e["event"] == "chat_session_message"]


async def poll_until_connected(customer: CustomerClient, chat_id: str) -> list[JsonObject]:
    seen: list[JsonObject] = []
    for _ in range(10):
        seen += await customer.poll(chat_id)
        if any(e["event"] == "chat_session_status" and e["state"] == "connected" for e in seen):
            return seen
    raise AssertionError(f"the chat never became connected: {seen}")


async def test_restart_on_the_same_data_dir_carries_on(start_server: StartServer, http: httpx.AsyncClient) -> None:
    old = await start_server()
    # ---- before the restart ----------------------------------------------------------------------
    mobile = old.customer(client_id=MOBILE_ID)
    web = old.customer(client_id="WebChat")
    first = await mobile.request_chat({"first_name": "Mo"})
    mobile_chat = str(first["chat_id"])
    assert first["is_new_chat"] is True
    web_chat = str((await web.request_chat({"first_name": "Wendy"}))["chat_id"])
    agent = await old.agent()
    assert {o["chat_id"] for o in await agent.offers()} == {mobile_chat, web_chat}
    await agent.accept(mobile_chat)
    await poll_until_connected(mobile, mobile_chat)
    await mobile.send_message(mobile_chat, "hello before")
    await agent.send_message(mobile_chat, "delivered before")
    assert messages(await mobile.poll(mobile_chat)) == ["delivered before"]
    uploaded = await mobile.send_file(mobile_chat, "pixel.png", PNG, "image/png")
    await web.send_message(web_chat, "web hello")
    await agent.send_message(mobile_chat, "committed, never polled")
    mobile_history = await mobile.history(mobile_chat)
    web_history = await web.history(web_chat)
    assert messages(mobile_history)[1:] == ["hello before", "delivered before", "committed, never polled"]
    assert [e["event"] for e in mobile_history].count("chat_session_file") == 1
    assert messages(web_history)[-1] == "web hello"
    old_token = agent.token
    agent_events_before = await agent.events(mobile_chat)
    for client in (mobile, web, agent):
        await client.aclose()
    await stop(old)

    # ---- after the restart -----------------------------------------------------------------------
    new = await start_server(data_dir=old.data_dir, clock=old.clock)
    mobile = new.customer(client_id=MOBILE_ID)
    web = new.customer(client_id="WebChat")
    # history of both chats is intact: same events, same order
    assert await mobile.history(mobile_chat) == mobile_history
    assert await web.history(web_chat) == web_history
    # the file downloads with identical bytes, with and without the chat in the path
    download = await mobile.download(mobile_chat, str(uploaded["file_id"]))
    assert download.content == PNG
    bare = await http.get(f"{new.base_url}/clientweb/file/{uploaded['file_id']}")
    assert bare.status_code == 200 and bare.content == PNG
    # the old agent token still works, and the agent's view of the chat is unchanged
    resumed = AgentClient(new.base_url)
    resumed.token = old_token
    assert [c["chat_id"] for c in await resumed.chats()] == [mobile_chat]
    assert await resumed.events(mobile_chat) == agent_events_before
    assert await resumed.download(mobile_chat, str(uploaded["file_id"])) == PNG
    # ... and logging in again works too
    fresh = await new.agent()
    assert fresh.token != old_token
    assert [c["chat_id"] for c in await fresh.chats()] == [mobile_chat]
    # the server cursor survived: the committed but never polled event comes first, nothing repeats
    assert messages(await mobile.poll(mobile_chat)) == ["committed, never polled"]
    await resumed.send_message(mobile_chat, "after the restart")
    assert messages(await mobile.poll(mobile_chat)) == ["after the restart"]
    await mobile.send_message(mobile_chat, "customer after restart")
    assert "customer after restart" in [e["event"].get("msg_text") for e in await fresh.events(mobile_chat)]
    # the mobile client's repeated request chat finds the same chat
    again = await mobile.request_chat({"first_name": "Mo"})
    assert again["chat_id"] == mobile_chat
    assert again["is_new_chat"] is False
    # the web chat is still offered to the agent
    assert [o["chat_id"] for o in await fresh.offers()] == [web_chat]
    # the pending inactivity timer (re-armed by "customer after restart") fires on the new server
    await new.advance(119)  # the web chat's offer lapses meanwhile; the mobile chat hears nothing
    assert await mobile.poll(mobile_chat) == []
    assert await new.advance(1) >= 1
    warning = await mobile.poll(mobile_chat)
    assert [e["event"] for e in warning] == ["chat_session_timeout_warning"]
    assert warning[0]["timestamp"] == str(int(new.clock.now()))
    for client in (mobile, web, resumed, fresh):
        await client.aclose()


async def test_timer_armed_before_a_restart_fires_after_it(start_server: StartServer) -> None:
    old = await start_server()
    customer = old.customer(client_id="persist-timer")
    chat_id = str((await customer.request_chat({}))["chat_id"])
    agent = await old.agent()
    await agent.accept(chat_id)
    await poll_until_connected(customer, chat_id)
    assert await old.advance(60) == 0
    await customer.aclose()
    await agent.aclose()
    await stop(old)

    new = await start_server(data_dir=old.data_dir, clock=old.clock)
    customer = new.customer(client_id="persist-timer")
    assert await new.advance(59) == 0
    assert await new.advance(1) == 1  # 120 s after the agent connected, before the restart
    assert [e["event"] for e in await customer.poll(chat_id)] == ["chat_session_timeout_warning"]
    assert await new.advance(60) == 1
    # a mobile client also gets the end after the timeout (docs/customer-api.md)
    assert [e["event"] for e in await customer.poll(chat_id)] == ["chat_session_inactivity_timeout",
                                                                   "chat_session_ended"]
    assert await new.advance(600) == 0
    await customer.aclose()


async def test_event_committed_but_never_polled_survives_a_restart(start_server: StartServer) -> None:
    old = await start_server()
    customer = old.customer(client_id="persist-unpolled")
    chat_id = str((await customer.request_chat({}))["chat_id"])
    agent = await old.agent()
    await agent.accept(chat_id)
    # nothing polled at all before the restart: every customer event of the chat is still due
    await agent.send_message(chat_id, "first")
    await agent.send_message(chat_id, "second")
    await customer.aclose()
    await agent.aclose()
    await stop(old)

    new = await start_server(data_dir=old.data_dir, clock=old.clock)
    customer = new.customer(client_id="persist-unpolled")
    events = await customer.poll(chat_id)
    names = [e["event"] for e in events]
    assert names[0] == "chat_session_party_joined"
    assert names.count("chat_session_status") == 3  # queued, connecting, connected
    assert messages(events)[-2:] == ["first", "second"]
    assert await customer.poll(chat_id) == []
    await customer.aclose()
