"""Supervisors over real HTTP and a real WebSocket: the live overview, silent monitoring, whispers
the customer never sees, barging into a chat, forcing an agent's state, and who may do any of it."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from frontdesk.client import AgentClient, CustomerClient
from frontdesk.client.agent import AgentError
from frontdesk.domain.config import AgentConfig, ContactCenterConfig, QueueConfig, TenantConfig
from frontdesk.settings import DEMO_TENANT, Settings, demo_contact_center
from tests.conftest import LiveServer, StartServer, cheap_hash
from tests.test_agent_api import is_event, is_snapshot, receive_until

JsonObject = dict[str, Any]
OTHER_TENANT = "acme.local"
SUPERVISOR_NAME = "Sue (supervisor)"


@functools.cache
def team_config() -> ContactCenterConfig:
    """The demo tenant with an agent (bob), a supervisor (sue) and an agent of another tenant
    who is a supervisor there (max)."""
    demo = demo_contact_center()
    bob = AgentConfig(username="bob", password_hash=cheap_hash("pw-bob"), first_name="Bob", last_name="Stone",
                      display_name="Bob", max_chats=2, skills={"general": 5}, team="blue")
    sue = AgentConfig(username="sue", password_hash=cheap_hash("pw-sue"), first_name="Sue", last_name="Park",
                      display_name=SUPERVISOR_NAME, max_chats=2, role="supervisor", team="blue")
    tenant = replace(demo.tenants[DEMO_TENANT], agents=(bob, sue))
    max_ = AgentConfig(username="max", password_hash=cheap_hash("pw-max"), first_name="Max", last_name="Roe",
                       display_name="Max", role="supervisor")
    other = TenantConfig(name=OTHER_TENANT, queues={"general": QueueConfig("general", "General")}, agents=(max_,))
    return replace(demo, tenants={tenant.name: tenant, other.name: other})


@dataclass
class Team:
    live: LiveServer
    bob: AgentClient
    sue: AgentClient

    @property
    def api(self) -> str:
        return f"{self.live.base_url}/agent/api/v1"

    async def call(self, who: AgentClient, method: str, path: str, status: int = 200,
                   **kwargs: Any) -> httpx.Response:
        response = await who.http.request(method, f"{self.api}/{path}",
                                          headers={"Authorization": f"Bearer {who.token}"}, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.text)
        return response

    async def connected_chat(self, client_id: str = "device-1") -> tuple[CustomerClient, str]:
        customer = self.live.customer(client_id=client_id)
        chat_id = (await customer.request_chat({"first_name": "Ada"}))["chat_id"]
        await self.bob.accept(chat_id)
        return customer, chat_id


@pytest.fixture
async def team(start_server: StartServer) -> AsyncIterator[Team]:
    live = await start_server(settings=replace(Settings(contact_center=team_config()), poll_hold_secs=0.3))
    bob, sue = AgentClient(live.base_url), AgentClient(live.base_url)
    await bob.login("bob", "pw-bob")
    await bob.set_state("ready")
    await sue.login("sue", "pw-sue")
    try:
        yield Team(live, bob, sue)
    finally:
        await bob.aclose()
        await sue.aclose()


def names(events: list[JsonObject]) -> list[str]:
    return [e["event"] for e in events]


async def last_seq(customer: CustomerClient, chat_id: str) -> int:
    return max(int(e["seq"]) for e in await customer.poll_after(chat_id, 0))


# ---- monitoring --------------------------------------------------------------------------------------------------


async def test_monitoring_is_silent_and_the_supervisor_follows_the_chat_live(team: Team) -> None:
    customer, chat_id = await team.connected_chat()
    async with customer:
        seen = await last_seq(customer, chat_id)
        parties_before = (await team.bob.chat(chat_id))["parties"]
        async with team.sue.live() as stream:
            first = await stream.receive()
            assert first["type"] == "snapshot" and first["monitoring"] == [] and first["chats"] == []
            answer = (await team.call(team.sue, "POST", f"supervisor/chats/{chat_id}/monitor")).json()
            assert answer == {"chat_id": chat_id, "monitoring": True, "chats": [chat_id]}
            got = await receive_until(stream, is_event("chat_session_status", state="connected"))
            assert any(m["type"] == "snapshot" and m["monitoring"] == [chat_id] for m in got)
            assert "chat_session_party_joined" in [m["event"]["event"] for m in got if m["type"] == "event"]

            # nothing reached the customer, the parties are unchanged
            assert await customer.poll_after(chat_id, seen) == []
            assert (await team.bob.chat(chat_id))["parties"] == parties_before

            # the supervisor receives the customer's messages live, and can read the chat over REST
            await customer.send_message(chat_id, "is anyone there?")
            await receive_until(stream, is_event("chat_session_message", msg_text="is anyone there?"))
            events = await team.sue.events(chat_id)
            assert "chat_session_message" in [e["event"]["event"] for e in events]

            # the stream reads the chat as supervisors do: what only the customer and supervisors
            # see (the agent's WebRTC signaling to the customer) arrives too
            await team.bob.signaling(chat_id, {"type": "OFFER_CALL", "sdp": "v=0"})
            await receive_until(stream, is_event("chat_session_signaling"))
            assert (await team.sue.chat(chat_id))["chat_id"] == chat_id

            # the chat ends: its last events still arrive, and it leaves the snapshot
            await team.bob.end(chat_id)
            got = await receive_until(stream, is_event("chat_session_ended"))
            if not any(is_snapshot(lambda s: s["monitoring"] == [])(m) for m in got):
                await receive_until(stream, is_snapshot(lambda s: s["monitoring"] == []))


async def test_stop_monitoring_ends_access_and_a_monitor_of_an_ended_chat_is_409(team: Team) -> None:
    customer, chat_id = await team.connected_chat()
    async with customer:
        await team.call(team.sue, "POST", f"supervisor/chats/{chat_id}/monitor")
        answer = (await team.call(team.sue, "DELETE", f"supervisor/chats/{chat_id}/monitor")).json()
        assert answer == {"chat_id": chat_id, "monitoring": False, "chats": []}
        with pytest.raises(AgentError) as caught:
            await team.sue.events(chat_id)
        assert caught.value.status == 403
        await team.call(team.sue, "POST", f"supervisor/chats/{chat_id}/whisper", 409, json={"text": "psst"})
        await team.call(team.sue, "POST", "supervisor/chats/no-such-chat/monitor", 404)
        await team.bob.end(chat_id)
        await team.call(team.sue, "POST", f"supervisor/chats/{chat_id}/monitor", 409)


# ---- whisper -----------------------------------------------------------------------------------------------------


async def test_a_whisper_reaches_the_agent_and_never_the_customer(team: Team) -> None:
    customer, chat_id = await team.connected_chat()
    async with customer:
        seen = await last_seq(customer, chat_id)
        await team.call(team.sue, "POST", f"supervisor/chats/{chat_id}/monitor")
        async with team.bob.live({chat_id: seen}) as bob_stream:
            sent = (await team.call(team.sue, "POST", f"supervisor/chats/{chat_id}/whisper",
                                    json={"text": "offer the 10% discount"})).json()
            got = await receive_until(bob_stream, is_event("frontdesk_whisper"))
            whisper = got[-1]["event"]
            assert got[-1]["seq"] == sent["seq"]
            assert whisper["from"] == SUPERVISOR_NAME and whisper["msg"] == "offer the 10% discount"
            assert whisper["agent_id"] == f"{DEMO_TENANT}/sue" and whisper["timestamp"].isdigit()
        # the agent's REST view and the supervisor's have it
        assert "frontdesk_whisper" in [e["event"]["event"] for e in await team.bob.events(chat_id, seen)]
        assert "frontdesk_whisper" in [e["event"]["event"] for e in await team.sue.events(chat_id, seen)]
        # the customer's poll and history never do
        await team.bob.send_message(chat_id, "visible to the customer")
        polled = await customer.poll_after(chat_id, 0)
        assert "frontdesk_whisper" not in names(polled)
        assert "visible to the customer" in [e.get("msg_text") for e in polled]
        history = await customer.history(chat_id)
        assert "frontdesk_whisper" not in names(history)
        assert all("discount" not in str(e) for e in polled + history)
        await team.call(team.sue, "POST", f"supervisor/chats/{chat_id}/whisper", 422, json={"text": ""})


# ---- barge -------------------------------------------------------------------------------------------------------


async def test_barge_joins_the_chat_visibly_and_the_supervisor_talks_to_the_customer(team: Team) -> None:
    customer, chat_id = await team.connected_chat()
    async with customer:
        seen = await last_seq(customer, chat_id)
        await team.call(team.sue, "POST", f"supervisor/chats/{chat_id}/monitor")
        party_id = (await team.call(team.sue, "POST", f"supervisor/chats/{chat_id}/barge")).json()["party_id"]
        joined = await customer.poll_after(chat_id, seen)
        assert [(e["event"], e["party_id"], e["display_name"], e["type"]) for e in joined] == [
            ("chat_session_party_joined", party_id, SUPERVISOR_NAME, "internal")]
        seen = int(joined[-1]["seq"])

        # the supervisor now holds the chat and uses the agent endpoints
        assert [c["chat_id"] for c in await team.sue.chats()] == [chat_id]
        await team.sue.send_message(chat_id, "Hello, I am the supervisor.")
        said = await customer.poll_after(chat_id, seen)
        assert [(e["event"], e["party_id"], e["msg_text"]) for e in said] == [
            ("chat_session_message", party_id, "Hello, I am the supervisor.")]
        overview = (await team.call(team.sue, "GET", "supervisor/overview")).json()
        chat = next(c for c in overview["chats"] if c["chat_id"] == chat_id)
        assert sorted(a["agent_id"] for a in chat["agents"]) == [f"{DEMO_TENANT}/bob", f"{DEMO_TENANT}/sue"]
        assert chat["monitors"] == []  # barging stopped the monitoring

        await team.call(team.sue, "POST", f"supervisor/chats/{chat_id}/barge", 409)  # already in it
        # in the chat, the supervisor may whisper to the agent too
        await team.call(team.sue, "POST", f"supervisor/chats/{chat_id}/whisper", json={"text": "nice"})
        await team.bob.end(chat_id)
        await team.call(team.sue, "POST", f"supervisor/chats/{chat_id}/barge", 409)  # ended
        await team.call(team.sue, "POST", "supervisor/chats/no-such-chat/barge", 404)


async def test_barge_into_a_chat_still_queued_is_409(team: Team) -> None:
    await team.bob.set_state("not_ready")
    async with team.live.customer() as customer:
        chat_id = (await customer.request_chat())["chat_id"]
        await team.call(team.sue, "POST", f"supervisor/chats/{chat_id}/barge", 409)


# ---- the overview ------------------------------------------------------------------------------------------------


async def test_overview_shows_queues_agents_and_chats(team: Team) -> None:
    customer, chat_id = await team.connected_chat("device-1")
    team.live.clock.advance(40)
    await team.bob.set_state("not_ready")
    async with customer, team.live.customer("device-2") as waiting_customer:
        waiting_id = (await waiting_customer.request_chat())["chat_id"]
        team.live.clock.advance(25)
        await team.call(team.sue, "POST", f"supervisor/chats/{chat_id}/monitor")
        view = (await team.call(team.sue, "GET", "supervisor/overview")).json()
    assert view["tenant"] == DEMO_TENANT
    (queue,) = view["queues"]
    assert queue["queue_id"] == "general" and queue["waiting"] == 1
    assert queue["longest_wait_secs"] == 25.0
    # bob and sue are logged in with the (empty) skills of the queue, nobody is ready: no estimate
    assert queue["agents_logged_in"] == 2 and queue["agents_ready"] == 0
    assert queue["estimates"] == {} and queue["ewt_new_chat_secs"] is None
    agents = {a["username"]: a for a in view["agents"]}
    assert set(agents) == {"bob", "sue"}  # only the supervisor's tenant
    assert agents["bob"]["state"] == "not_ready" and agents["bob"]["chats"] == [chat_id]
    assert agents["bob"]["load"] == 1 and agents["bob"]["max_chats"] == 2 and agents["bob"]["team"] == "blue"
    assert agents["sue"]["role"] == "supervisor" and agents["sue"]["chats"] == []
    chats = {c["chat_id"]: c for c in view["chats"]}
    assert chats[chat_id]["state"] == "connected" and chats[chat_id]["connected_secs"] == 65.0
    assert chats[chat_id]["monitors"] == [f"{DEMO_TENANT}/sue"]
    assert [a["display_name"] for a in chats[chat_id]["agents"]] == ["Bob"]
    assert chats[waiting_id]["state"] == "queued" and chats[waiting_id]["waiting_secs"] == 25.0
    assert chats[waiting_id]["agents"] == [] and chats[waiting_id]["queue_id"] == "general"


async def test_overview_estimates_when_agents_are_ready(team: Team) -> None:
    view = (await team.call(team.sue, "GET", "supervisor/overview")).json()
    (queue,) = view["queues"]
    assert queue["waiting"] == 0 and queue["longest_wait_secs"] == 0 and queue["estimates"] == {}
    assert queue["agents_ready"] == 1 and queue["ewt_new_chat_secs"] == 0  # bob has a free slot
    first, _ = await team.connected_chat("device-1")
    second, _ = await team.connected_chat("device-2")
    async with first, second, team.live.customer("device-3") as third:
        waiting_id = (await third.request_chat())["chat_id"]  # bob is full (max_chats 2)
        view = (await team.call(team.sue, "GET", "supervisor/overview")).json()
    (queue,) = view["queues"]
    assert queue["waiting"] == 1 and list(queue["estimates"]) == [waiting_id]
    assert queue["estimates"][waiting_id] > 0
    assert queue["ewt_new_chat_secs"] >= queue["estimates"][waiting_id]
    bob = next(a for a in view["agents"] if a["username"] == "bob")
    assert bob["load"] == 2 and len(bob["chats"]) == 2


# ---- the live stream --------------------------------------------------------------------------------------------


def stream_url(team: Team, who: AgentClient) -> str:
    return team.api.replace("http://", "ws://", 1) + f"/supervisor/ws?token={who.token}"


async def next_overview(ws: ClientConnection, done: Any = None, timeout: float = 5.0) -> JsonObject:
    """The next overview pushed (pings skipped), or the first for which ``done`` is true."""
    async with asyncio.timeout(timeout):
        while True:
            message = orjson.loads(await ws.recv())
            if message["type"] == "overview" and (done is None or done(message["overview"])):
                return dict(message["overview"])
            assert message["type"] in ("overview", "ping"), message


async def closed_with(ws: ClientConnection) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(5):
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def bob_state(view: JsonObject) -> str:
    return str(next(a["state"] for a in view["agents"] if a["username"] == "bob"))


async def test_the_live_stream_shows_a_new_queued_chat_without_polling(team: Team) -> None:
    await team.bob.set_state("not_ready")
    async with connect(stream_url(team, team.sue)) as ws:
        first = await next_overview(ws)
        # exactly the body of GET /supervisor/overview (same fake-clock instant)
        assert first == (await team.call(team.sue, "GET", "supervisor/overview")).json()
        assert first["queues"][0]["waiting"] == 0 and first["chats"] == []
        async with team.live.customer("device-9") as customer:
            chat_id = (await customer.request_chat())["chat_id"]
            pushed = await next_overview(ws, lambda v: v["queues"][0]["waiting"] == 1)
        assert [c["chat_id"] for c in pushed["chats"]] == [chat_id]
        assert pushed["chats"][0]["state"] == "queued"


async def test_the_live_stream_refuses_agents_with_4403_and_bad_tokens_with_4401(team: Team) -> None:
    async with connect(stream_url(team, team.bob)) as ws:
        assert await closed_with(ws) == 4403
    async with connect(team.api.replace("http://", "ws://", 1) + "/supervisor/ws?token=nope") as ws:
        assert await closed_with(ws) == 4401


async def test_three_supervisor_sockets_cost_one_overview_computation_per_change(team: Team) -> None:
    feed = team.live.frontdesk.supervisor_feed
    feed.recheck_secs = 600.0  # no periodic re-check during the test: only changes compute
    async with connect(stream_url(team, team.sue)) as a, connect(stream_url(team, team.sue)) as b, \
            connect(stream_url(team, team.sue)) as c:
        for ws in (a, b, c):
            assert bob_state(await next_overview(ws)) == "ready"
        before = feed.computations
        await team.bob.set_state("not_ready")  # one change of the tenant
        for ws in (a, b, c):
            assert bob_state(await next_overview(ws)) == "not_ready"
        assert feed.computations == before + 1
        assert feed.open_sockets == 3


async def test_without_a_wake_up_the_stream_re_checks_and_sends_keep_alives(team: Team) -> None:
    feed = team.live.frontdesk.supervisor_feed
    feed.recheck_secs, feed.ping_secs = 0.6, 0.2
    async with connect(stream_url(team, team.sue)) as ws:
        first = await next_overview(ws)
        team.live.clock.advance(7)  # no action, no wake-up: only the re-check sees the new time
        later = await next_overview(ws)
        assert later["now"] == first["now"] + 7
        async with asyncio.timeout(5):
            while orjson.loads(await ws.recv())["type"] != "ping":
                pass


async def test_the_live_stream_closes_4410_when_the_supervisor_logs_out(team: Team) -> None:
    async with connect(stream_url(team, team.sue)) as ws:
        await next_overview(ws)
        await team.sue.logout()
        assert await closed_with(ws) == 4410


# ---- forcing an agent's state ------------------------------------------------------------------------------------


async def test_a_supervisor_logs_an_agent_out_and_its_chat_goes_back_to_the_queue(team: Team) -> None:
    customer, chat_id = await team.connected_chat()
    async with customer:
        seen = await last_seq(customer, chat_id)
        bob_id = f"{DEMO_TENANT}/bob"
        forced = (await team.call(team.sue, "POST", f"supervisor/agents/{bob_id}/state",
                                  json={"state": "logged_out"})).json()
        assert forced["agent_id"] == bob_id and forced["state"] == "logged_out"
        assert names(await customer.poll_after(chat_id, seen)) == ["chat_session_party_left", "chat_session_status"]
        with pytest.raises(AgentError) as caught:
            await team.bob.offers()
        assert caught.value.status == 401  # its tokens are revoked
        await team.call(team.sue, "POST", f"supervisor/agents/{bob_id}/state", 409, json={"state": "ready"})
        await team.call(team.sue, "POST", f"supervisor/agents/{OTHER_TENANT}/max/state", 404,
                        json={"state": "not_ready"})


# ---- who may do it -----------------------------------------------------------------------------------------------


async def test_an_agent_who_is_not_a_supervisor_gets_403_everywhere(team: Team) -> None:
    customer, chat_id = await team.connected_chat()
    async with customer:
        for method, path, body in [
            ("GET", "supervisor/overview", None), ("POST", f"supervisor/chats/{chat_id}/monitor", None),
            ("DELETE", f"supervisor/chats/{chat_id}/monitor", None),
            ("POST", f"supervisor/chats/{chat_id}/whisper", {"text": "hi"}),
            ("POST", f"supervisor/chats/{chat_id}/barge", None),
            ("POST", f"supervisor/agents/{DEMO_TENANT}/sue/state", {"state": "not_ready"}),
            ("GET", "reports/queues", None), ("GET", "reports/agents?format=csv", None),
        ]:
            await team.call(team.bob, method, path, 403, json=body)
        # without a token: 401
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{team.api}/supervisor/overview")).status_code == 401
            assert (await http.get(f"{team.api}/reports/queues")).status_code == 401


async def test_a_supervisor_of_another_tenant_cannot_reach_the_chat(team: Team) -> None:
    customer, chat_id = await team.connected_chat()
    async with customer, AgentClient(team.live.base_url) as max_:
        await max_.login("max", "pw-max", tenant=OTHER_TENANT)
        for method, path, body in [("POST", f"supervisor/chats/{chat_id}/monitor", None),
                                   ("POST", f"supervisor/chats/{chat_id}/whisper", {"text": "hi"}),
                                   ("POST", f"supervisor/chats/{chat_id}/barge", None)]:
            await team.call(max_, method, path, 404, json=body)
        view = (await team.call(max_, "GET", "supervisor/overview")).json()
        assert view["tenant"] == OTHER_TENANT and view["chats"] == []
        assert [a["username"] for a in view["agents"]] == ["max"]


async def test_the_supervisor_routes_are_in_the_openapi_document(team: Team) -> None:
    async with httpx.AsyncClient() as http:
        document = (await http.get(f"{team.api}/openapi.json")).json()
    paths = document["paths"]
    expected = {"/supervisor/overview": "get", "/supervisor/chats/{chat_id}/monitor": "post",
                "/supervisor/chats/{chat_id}/whisper": "post", "/supervisor/chats/{chat_id}/barge": "post",
                "/reports/queues": "get", "/reports/agents": "get"}
    for path, method in expected.items():
        assert method in paths.get(path, {}), path
    assert "delete" in paths["/supervisor/chats/{chat_id}/monitor"]
    for code in ("403", "404", "409"):
        assert code in paths["/supervisor/chats/{chat_id}/barge"]["post"]["responses"]
    assert "text/csv" in paths["/reports/queues"]["get"]["responses"]["200"]["content"]
    assert {"text"} <= set(document["components"]["schemas"]["WhisperRequest"]["properties"])


async def test_the_demo_admin_is_a_supervisor_too(live: LiveServer) -> None:
    async with AgentClient(live.base_url) as anna:
        await anna.login("anna", "frontdesk-demo")
        response = await anna.http.get(f"{anna.api}/supervisor/overview",
                                       headers={"Authorization": f"Bearer {anna.token}"})
        assert response.status_code == 200
        assert [a["username"] for a in response.json()["agents"]] == ["anna"]
    await asyncio.sleep(0)
