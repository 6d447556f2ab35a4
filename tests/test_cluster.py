"""Several ``frontdesk serve`` processes over one PostgreSQL database and one Redis (``tests.cluster``):
any node serves any request, and nothing that must hold across processes rests on process memory —
delivery, poll supersede, routing capacity, the configuration, agent presence, single-use tickets,
uploaded files, and ``--workers``."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from frontdesk.client import AgentClient, CustomerClient
from tests.cluster import MAX_CHATS, Node, cluster, eventually
from tests.conftest import free_port

GUARD_SECS = 60.0  # against a hang only

JsonObject = dict[str, Any]


async def offered(agent: AgentClient, chat_id: str) -> None:
    async def check() -> bool:
        return chat_id in [o["chat_id"] for o in await agent.offers()]

    await eventually(check, what=f"the offer of {chat_id}")


async def chat_with(node: Node, agent: AgentClient, client_id: str) -> tuple[CustomerClient, str]:
    customer = node.customer(client_id)
    chat_id = str((await customer.request_chat({"first_name": "Ada"}))["chat_id"])
    await offered(agent, chat_id)
    await agent.accept(chat_id)
    return customer, chat_id


def texts(events: list[JsonObject]) -> list[str]:
    return [str(e["msg_text"]) for e in events if e["event"] == "chat_session_message"]


async def collect(customer: CustomerClient, chat_id: str, until: str, into: list[JsonObject]) -> None:
    """Poll (explicit cursor, after what ``into`` holds) until a message ``until`` arrived."""
    after = int(into[-1]["seq"]) if into else 0
    async for event in customer.events(chat_id, after=after, stop_at_end=False):
        into.append(event)
        if event["event"] == "chat_session_message" and event["msg_text"] == until:
            return


@contextlib.asynccontextmanager
async def closing(*clients: AgentClient | CustomerClient) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for client in clients:
            await client.aclose()


async def test_a_customer_polling_one_node_gets_what_the_agent_types_on_another(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        first, second = c.nodes
        anna = await second.agent("anna")
        customer, chat_id = await chat_with(first, anna, "device-1")
        async with closing(anna, customer):
            got: list[JsonObject] = []
            reader = asyncio.ensure_future(collect(customer, chat_id, "three", got))
            for text in ("one", "two", "three"):
                await anna.send_message(chat_id, text)
            await asyncio.wait_for(reader, GUARD_SECS)
            assert texts(got) == ["one", "two", "three"]
            seqs = [int(e["seq"]) for e in got]
            assert seqs == sorted(set(seqs))  # in order, none twice


async def test_a_newer_poll_on_one_node_completes_the_older_one_on_another(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        first, second = c.nodes
        anna = await first.agent("anna")
        customer, chat_id = await chat_with(first, anna, "device-1")
        elsewhere = second.customer("device-1")  # the same client, its next poll on the other node
        async with closing(anna, customer, elsewhere):
            seen: list[JsonObject] = []
            while not any(e["event"] == "chat_session_status" and e["state"] == "connected" for e in seen):
                seen += await customer.poll(chat_id)  # the chat's setup, delivered (server-side cursor)
            older = asyncio.ensure_future(customer.poll(chat_id))
            await asyncio.sleep(0.3)  # the older poll is held by now (if not, it is the newer one: fails below)
            newer = asyncio.ensure_future(elsewhere.poll(chat_id))
            # the hold is 10 s: an answer within half of it comes from the supersede, not the hold's end
            assert await asyncio.wait_for(older, 5.0) == []
            assert not newer.done()
            await anna.send_message(chat_id, "for the newer poll")
            assert texts(await asyncio.wait_for(newer, GUARD_SECS)) == ["for the newer poll"]


async def test_agent_capacity_holds_under_concurrent_routing_on_several_nodes(tmp_path: Path) -> None:
    async with cluster(tmp_path, nodes=3) as c:
        agents = [await node.agent(name) for node, name in zip(c.nodes, ("anna", "bob", "cleo"), strict=True)]
        customers = [c.nodes[i % 3].customer(f"device-{i}") for i in range(12)]
        async with closing(*agents, *customers):
            chats = await asyncio.gather(*(x.request_chat({"first_name": f"C{i}"}) for i, x in enumerate(customers)))
            assert len({str(chat["chat_id"]) for chat in chats}) == 12

            async def loads() -> list[list[str]]:
                return [[str(o["chat_id"]) for o in await agent.offers()] for agent in agents]

            async def full() -> bool:
                return sum(len(x) for x in await loads()) >= 3 * MAX_CHATS

            await eventually(full, what="every agent's offers")
            offers = await loads()
            assert all(len(x) == MAX_CHATS for x in offers)
            assert len({chat for x in offers for chat in x}) == 3 * MAX_CHATS  # no chat offered twice
            # accepting on another node than the one the agent logged in on changes nothing
            for agent, mine in zip(agents, offers, strict=True):
                on_other = c.nodes[(agents.index(agent) + 1) % 3].same_agent(agent)
                async with closing(on_other):
                    for chat_id in mine:
                        await on_other.accept(chat_id)
            held = [[str(x["chat_id"]) for x in await agent.chats()] for agent in agents]
            assert [sorted(x) for x in held] == [sorted(x) for x in offers]
            assert await loads() == [[], [], []]  # full: the other six chats wait in the queue


async def test_a_configuration_put_on_one_node_runs_on_every_node_and_after_a_restart(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        first, second = c.nodes
        anna = await first.agent("anna", ready=False)
        async with closing(anna), httpx.AsyncClient(timeout=30) as http:
            headers = {"Authorization": f"Bearer {anna.token}"}
            document = (await http.get(f"{first.base_url}/agent/api/v1/admin/config", headers=headers)).json()
            document["tenants"][0]["queues"][0]["name"] = "Renamed on node 1"
            put = await http.put(f"{first.base_url}/agent/api/v1/admin/config", headers=headers, json=document)
            assert put.status_code == 200, put.text

            async def name_on(node: Node) -> str:
                answer = await http.get(f"{node.base_url}/agent/api/v1/admin/config", headers=headers)
                return str(answer.json()["tenants"][0]["queues"][0]["name"])

            async def renamed() -> bool:
                return await name_on(second) == "Renamed on node 1"

            await eventually(renamed, what="the configuration on node 2")
            await c.restart(second)  # the same file: the applied configuration is resumed
            assert await name_on(second) == "Renamed on node 1"
            assert await name_on(first) == "Renamed on node 1"


async def me(agent: AgentClient) -> int:
    response = await agent.http.get(f"{agent.api}/me", headers={"Authorization": f"Bearer {agent.token}"})
    return response.status_code


async def test_an_agent_socket_on_any_node_keeps_the_agent_present_until_its_node_dies(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        first, second = c.nodes
        anna = await first.agent("anna")
        on_second = second.same_agent(anna)
        async with closing(anna, on_second), on_second.live() as kept:
            await kept.receive()  # the snapshot: the socket on node 2 is open
            async with anna.live() as dropped:
                await dropped.receive()
            # node 1's last socket closed; node 2 still holds one: beyond the grace (5 s) she stays
            await asyncio.sleep(8)
            assert await me(anna) == 200
            second.kill()  # the node with her socket dies: its lease lapses, then the grace runs out
            async def released() -> bool:
                return await me(anna) == 401

            await eventually(released, what="the agent of the dead node to be logged out")


async def test_a_websocket_ticket_is_single_use_across_nodes(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        first, second = c.nodes
        anna = await first.agent("anna")
        async with closing(anna):
            ticket = await anna.ws_ticket()
            url = "/agent/api/v1/ws?ticket=" + ticket
            async with connect(second.base_url.replace("http", "ws", 1) + url) as ws:
                await ws.send('{"type": "hello", "cursors": {}}')
                assert '"snapshot"' in str(await asyncio.wait_for(ws.recv(), GUARD_SECS))
            async with connect(first.base_url.replace("http", "ws", 1) + url) as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), GUARD_SECS)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_a_file_uploaded_on_one_node_downloads_from_another(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        first, second = c.nodes
        anna = await second.agent("anna")
        customer, chat_id = await chat_with(first, anna, "device-1")
        data = bytes(range(256)) * 4096  # 1 MiB
        async with closing(anna, customer):
            uploaded = await customer.send_file(chat_id, "report.bin", data)
            assert await anna.download(chat_id, str(uploaded["file_id"])) == data
            other = second.customer("device-1")
            async with closing(other):
                response = await other.download(chat_id, str(uploaded["file_id"]))
                assert response.status_code == 200 and response.content == data


async def test_workers_share_the_port(tmp_path: Path) -> None:
    async with cluster(tmp_path, nodes=0) as c:
        node = await c.add(workers=2)
        anna = await node.agent("anna")
        customer, chat_id = await chat_with(node, anna, "device-1")
        async with closing(anna, customer):
            got: list[JsonObject] = []
            reader = asyncio.ensure_future(collect(customer, chat_id, "last", got))
            for i in range(20):  # on fresh connections: some reach one worker, some the other
                async with AgentClient(node.base_url) as fresh:
                    fresh.token = anna.token
                    await fresh.send_message(chat_id, "last" if i == 19 else f"m{i}")
            await asyncio.wait_for(reader, GUARD_SECS)
            assert texts(got) == [f"m{i}" for i in range(19)] + ["last"]
        assert node.terminate() == 0


@pytest.mark.parametrize(("given", "missing"), [({}, "database_url and redis_url"),
                                                 ({"FRONTDESK_REDIS_URL": "redis://127.0.0.1:6379/0"}, "database_url")])
def test_workers_need_a_shared_database_and_bus(tmp_path: Path, given: dict[str, str], missing: str) -> None:
    done = subprocess.run([sys.executable, "-m", "frontdesk", "serve", "--workers", "2", "--port",  # noqa: S603
                           str(free_port()), "--data-dir", str(tmp_path)], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", **given}, check=False)
    assert done.returncode == 2
    assert f"--workers 2 needs {missing} " in done.stderr


async def test_concurrent_appends_to_one_chat_from_two_nodes_stay_gap_free(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        first, second = c.nodes
        anna = await first.agent("anna")
        customer, chat_id = await chat_with(second, anna, "device-1")
        anna_there = second.same_agent(anna)
        customer_there = first.customer("device-1")
        async with closing(anna, customer, anna_there, customer_there):
            sends: list[Awaitable[object]] = [anna.send_message(chat_id, f"a{i}") for i in range(10)]
            sends += [anna_there.send_message(chat_id, f"b{i}") for i in range(10)]
            sends += [customer.send_message(chat_id, f"c{i}") for i in range(10)]
            sends += [customer_there.send_message(chat_id, f"d{i}") for i in range(10)]
            await asyncio.gather(*sends)
            records = await anna.events(chat_id)
            seqs = [int(r["seq"]) for r in records]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # gap-free, in order, none twice
            said = [str(r["event"].get("msg", "")) for r in records if r["event"]["event"] == "chat_session_message"]
            assert sorted(said) == sorted(f"{p}{i}" for p in "abcd" for i in range(10))


async def test_a_webchat_visitor_cookie_works_on_every_node(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        first, second = c.nodes
        anna = await second.agent("anna")
        auth = {"Authorization": 'MOBILE-API-140-327-PLAIN appId="demo", clientId="WebChat"'}
        params = {"tenantUrl": "demo.local"}
        async with closing(anna), httpx.AsyncClient(timeout=30) as http:
            first_answer = await http.get(f"{first.base_url}/clientweb/api/v1/availability", params=params,
                                          headers=auth)
            cookie = first_answer.cookies.get("fd_visitor")
            assert cookie
            mine = {**auth, "Cookie": f"fd_visitor={cookie}"}
            created = await http.post(f"{first.base_url}/clientweb/api/v1/chats", params=params, headers=mine,
                                      json={"parameters": {}})
            chat_id = str(created.json()["chat_id"])
            await offered(anna, chat_id)
            await anna.accept(chat_id)
            await anna.send_message(chat_id, "hello visitor")
            history = await http.get(f"{second.base_url}/clientweb/api/v1/chats/{chat_id}/history", params=params,
                                     headers=mine)
            assert history.status_code == 200
            assert "hello visitor" in [e.get("msg_text") for e in history.json()["events"]]
            stranger = {**auth, "Cookie": "fd_visitor=another-visitor"}
            refused = await http.get(f"{second.base_url}/clientweb/api/v1/chats/{chat_id}/history", params=params,
                                     headers=stranger)
            assert refused.status_code == 404 and refused.json()["error_code"] == "5005"
