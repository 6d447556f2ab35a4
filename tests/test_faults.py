"""Faults on real processes (``tests.cluster``): a node killed with SIGKILL mid-chat, Redis
restarted under a running deployment (a redis-server of the test's own), and SIGTERM draining a
node's held polls. Each checks that nothing is lost or duplicated and that the survivors carry on."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from frontdesk.client import AgentClient
from frontdesk.client.agent import AgentError
from tests.cluster import QUICK_APP_ID, RedisServer, cluster, eventually
from tests.pg import _admin_now as admin_sql
from tests.test_cluster import GUARD_SECS, chat_with, closing, collect, offered, texts

JsonObject = dict[str, Any]


async def state_of(agent: AgentClient) -> str:
    response = await agent.http.get(f"{agent.api}/me", headers={"Authorization": f"Bearer {agent.token}"})
    return str(response.json()["state"]) if response.status_code == 200 else f"http {response.status_code}"


async def test_a_node_killed_mid_chat_loses_nothing_and_its_timers_fire_on_the_survivor(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        doomed, survivor = c.nodes
        anna = await survivor.agent("anna")
        customer, chat_id = await chat_with(doomed, anna, "device-1")
        bob = await doomed.agent("bob")
        quick = doomed.customer("device-2", app_id=QUICK_APP_ID)
        async with closing(anna, customer, bob, quick):
            got: list[JsonObject] = []
            reader = asyncio.ensure_future(collect(customer, chat_id, "before", got))
            await anna.send_message(chat_id, "before")
            await asyncio.wait_for(reader, GUARD_SECS)
            # a chat offered to bob (on the doomed node) whose offer lapses in 5 s: a timer in the database
            quick_chat = str((await quick.request_chat({"first_name": "Quinn"}))["chat_id"])
            await offered(bob, quick_chat)

            doomed.kill()  # SIGKILL: no drain, no goodbye
            await anna.send_message(chat_id, "after")
            # the customer's client carries on against the survivor from its own cursor
            moved = survivor.customer("device-1")
            bob_there = survivor.same_agent(bob)
            async with closing(moved, bob_there):
                resumed: list[JsonObject] = []
                cursor = int(got[-1]["seq"])
                async with asyncio.timeout(GUARD_SECS):
                    async for event in moved.events(chat_id, after=cursor, stop_at_end=False):
                        resumed.append(event)
                        if event["event"] == "chat_session_message" and event["msg_text"] == "after":
                            break
                assert texts(got + resumed) == ["before", "after"]
                seqs = [int(e["seq"]) for e in got + resumed]
                assert seqs == sorted(set(seqs))

                async def lapsed() -> bool:  # the offer timer fired on the survivor: bob is not ready
                    return await state_of(bob_there) == "not_ready"

                await eventually(lapsed, what="the dead node's offer timer to fire on the survivor")
                assert quick_chat not in [o["chat_id"] for o in await bob_there.offers()]


async def test_a_redis_restart_degrades_to_the_recheck_delay_and_recovers(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        async with cluster(tmp_path, redis_url=server.url) as c:
            first, second = c.nodes
            anna = await second.agent("anna")
            customer, chat_id = await chat_with(first, anna, "device-1")
            async with closing(anna, customer):
                got: list[JsonObject] = []
                for phase in ("up", "down", "back"):
                    if phase == "down":
                        server.stop()
                    elif phase == "back":
                        server.start()
                    reader = asyncio.ensure_future(collect(customer, chat_id, phase, got))
                    await anna.send_message(chat_id, phase)
                    await asyncio.wait_for(reader, GUARD_SECS)
                assert texts(got) == ["up", "down", "back"]

                def logged(node_log: Path, text: str) -> bool:
                    return text in node_log.read_text(errors="replace")

                async def reconnected() -> bool:
                    return all(logged(n.log, "connected (node") and logged(n.log, "unreachable") for n in c.nodes)

                await eventually(reconnected, what="both nodes to log the outage and the reconnect")
                # back to wake-ups: a message reaches a held poll again
                reader = asyncio.ensure_future(collect(customer, chat_id, "again", got))
                await anna.send_message(chat_id, "again")
                await asyncio.wait_for(reader, GUARD_SECS)
                assert texts(got) == ["up", "down", "back", "again"]
    finally:
        server.stop()


async def test_sigterm_drains_held_polls_and_exits_cleanly(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        draining, other = c.nodes
        anna = await other.agent("anna")
        customer, chat_id = await chat_with(other, anna, "device-1")
        on_draining = draining.customer("device-1")
        async with closing(anna, customer, on_draining):
            got: list[JsonObject] = []
            reader = asyncio.ensure_future(collect(customer, chat_id, "ready", got))
            await anna.send_message(chat_id, "ready")
            await asyncio.wait_for(reader, GUARD_SECS)
            cursor = int(got[-1]["seq"])
            held = asyncio.ensure_future(on_draining.poll_after(chat_id, cursor))
            await asyncio.sleep(0.5)  # held by now
            stopped = asyncio.ensure_future(asyncio.to_thread(draining.terminate))
            assert await asyncio.wait_for(held, 5.0) == []  # answered by the drain, not the 10 s hold
            assert await asyncio.wait_for(stopped, GUARD_SECS) == 0  # a clean stop, not the harness's SIGKILL
            # nothing was consumed by the drained poll: the next poll elsewhere gets what came after
            await anna.send_message(chat_id, "after the drain")
            rest: list[JsonObject] = []
            async with asyncio.timeout(GUARD_SECS):
                async for event in customer.events(chat_id, after=cursor, stop_at_end=False):
                    rest.append(event)
                    if event["event"] == "chat_session_message":
                        break
            assert texts(rest) == ["after the drain"]


async def test_a_database_outage_fails_fast_with_the_documented_errors_and_recovers(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        first, second = c.nodes
        anna = await second.agent("anna")
        customer, chat_id = await chat_with(first, anna, "device-1")
        async with closing(anna, customer):
            got: list[JsonObject] = []
            reader = asyncio.ensure_future(collect(customer, chat_id, "before", got))
            await anna.send_message(chat_id, "before")
            await asyncio.wait_for(reader, GUARD_SECS)
            cursor = int(got[-1]["seq"])
            name = c.database_url.rsplit("/", 1)[1]
            # the database goes away: no new connections, and every open one is cut
            await asyncio.to_thread(admin_sql, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            await asyncio.to_thread(admin_sql, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "  # noqa: S608
                                               f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")
            try:
                async with httpx.AsyncClient(timeout=30) as http:
                    headers = {"Authorization": f"Bearer {anna.token}"}
                    sent = await http.post(f"{second.base_url}/agent/api/v1/chats/{chat_id}/messages",
                                           headers=headers, json={"text": "during"})
                    assert sent.status_code == 503 and "detail" in sent.json()
                    polled = await http.get(f"{first.base_url}/clientweb/api/v2/chats/{chat_id}/events",
                                            params={"tenantUrl": "demo.local", "after": str(cursor)},
                                            headers={"Authorization": customer.authorization})
                    assert polled.status_code == 503 and polled.json()["error_code"] == "5001"
            finally:
                await asyncio.to_thread(admin_sql, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            # back without restarting anything: the refused message was not stored, the next one is
            refusals: list[int] = []

            async def delivered() -> bool:
                try:
                    await anna.send_message(chat_id, "after")
                except AgentError as error:
                    refusals.append(error.status)
                    return False
                return True

            await eventually(delivered, what="the agent API to work again")
            assert set(refusals) <= {503}
            rest: list[JsonObject] = []
            async with asyncio.timeout(GUARD_SECS):
                async for event in customer.events(chat_id, after=cursor, stop_at_end=False):
                    rest.append(event)
                    if event["event"] == "chat_session_message" and event["msg_text"] == "after":
                        break
            assert texts(rest) == ["after"]
