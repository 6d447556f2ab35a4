"""The server on PostgreSQL, always (the rest of the suite runs on it with FRONTDESK_TEST_DATABASE=postgres):
a chat end to end over real HTTP and a restart, ``frontdesk serve`` choosing the backend from
FRONTDESK_DATABASE_URL, and two servers ("nodes") on one database routing and appending at once."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from frontdesk.client import CustomerClient
from frontdesk.domain.clock import FakeClock
from frontdesk.settings import Settings
from tests.center import TENANT, Center, agent_config, center_config
from tests.conftest import TEST_HOLD_SECS, StartServer, free_port

FRONTDESK = [sys.executable, "-m", "frontdesk"]
JsonObject = dict[str, Any]


def messages(events: list[JsonObject]) -> list[str]:
    return [str(e["msg_text"]) for e in events if e["event"] == "chat_session_message"]


async def node(start_server: StartServer, pg_url: str, data_dir: Path, clock: FakeClock | None = None,
               **center: Any) -> Center:
    settings = Settings(contact_center=center_config(**center), poll_hold_secs=TEST_HOLD_SECS, is_demo=False,
                        database_url=pg_url)
    return Center(await start_server(data_dir=data_dir, settings=settings, clock=clock))


async def test_a_chat_end_to_end_on_postgresql_survives_a_restart(start_server: StartServer, pg_url: str,
                                                                  tmp_path: Path) -> None:
    center = await node(start_server, pg_url, tmp_path / "one")
    bob = await center.agent("bob")
    customer, chat_id = await center.chat("pg-customer")
    assert [o["chat_id"] for o in await bob.offers()] == [chat_id]
    await bob.accept(chat_id)
    await customer.send_message(chat_id, "Hello from PostgreSQL")
    await bob.send_message(chat_id, "Hello back")
    seen: list[JsonObject] = []
    for _ in range(20):
        seen += await customer.poll(chat_id)
        if "Hello back" in messages(seen):
            break
    assert messages(seen) == ["Hello back"]  # the customer's own message is not echoed
    staff = await bob.events(chat_id)
    assert "Hello from PostgreSQL" in [e["event"].get("msg") for e in staff]
    assert not (tmp_path / "one" / "frontdesk.sqlite3").exists()  # nothing went to SQLite
    await center.close()
    await center.live.stop()

    again = await node(start_server, pg_url, tmp_path / "two")  # another process, the same database
    history = await again.customer("pg-customer").history(chat_id)
    assert messages(history) == ["Hello from PostgreSQL", "Hello back"]
    held = await again.agent("bob", ready=False)
    assert [c["chat_id"] for c in await held.chats()] == [chat_id]
    await held.end(chat_id)
    await again.close()


async def test_serve_uses_the_database_url_of_the_environment(tmp_path: Path, pg_url: str) -> None:
    config = tmp_path / "frontdesk.toml"
    config.write_text("[[tenants]]\nname = 'env.example'\n[[tenants.queues]]\nid = 'q'\n"
                      "[[tenants.entries]]\napp_id = 'web'\nqueue = 'q'\n")
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")},
           "FRONTDESK_CONFIG": str(config), "FRONTDESK_PORT": str(port), "FRONTDESK_DATA_DIR": str(tmp_path / "d"),
           "FRONTDESK_DATABASE_URL": pg_url}
    process = await asyncio.create_subprocess_exec(*FRONTDESK, "serve", env=env, stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.PIPE)
    try:
        customer = CustomerClient(f"http://127.0.0.1:{port}", app_id="web", client_id="env-client",
                                  tenant_url="env.example")
        for _ in range(300):
            try:
                ticket = await customer.request_chat({"first_name": "Env"})
                break
            except httpx.TransportError:
                assert process.returncode is None, "frontdesk exited"
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("frontdesk did not start")
        await customer.aclose()
        conn = await asyncpg.connect(pg_url)
        try:
            stored = await conn.fetchval("SELECT tenant FROM sessions WHERE chat_id = $1", ticket["chat_id"])
        finally:
            await conn.close()
        assert stored == "env.example"
        assert not (tmp_path / "d" / "frontdesk.sqlite3").exists()
    finally:
        process.terminate()
        _, err = await asyncio.wait_for(process.communicate(), timeout=20)
    assert pg_url.split("?")[0] not in err.decode()  # the URL (it may hold a password) is never printed


async def test_two_nodes_routing_at_once_never_exceed_an_agents_capacity(start_server: StartServer, pg_url: str,
                                                                         tmp_path: Path) -> None:
    clock = FakeClock()
    agents = (agent_config("ann", max_chats=2), agent_config("bob", max_chats=1), agent_config("cat", max_chats=3))
    first = await node(start_server, pg_url, tmp_path / "a", clock, agents=agents)
    second = await node(start_server, pg_url, tmp_path / "b", clock, agents=agents)
    staff = {"ann": await first.agent("ann"), "bob": await second.agent("bob"), "cat": await first.agent("cat")}
    nodes = (first, second)
    tickets = await asyncio.gather(*(nodes[n % 2].customer(f"rush-{n}").request_chat({"first_name": f"R{n}"})
                                     for n in range(16)))
    offered = {name: [o["chat_id"] for o in await agent.offers()] for name, agent in staff.items()}
    assert {name: len(chats) for name, chats in offered.items()} == {"ann": 2, "bob": 1, "cat": 3}
    every = [chat for chats in offered.values() for chat in chats]
    assert len(set(every)) == len(every) == 6  # no chat offered twice
    states = [t["state"] for t in tickets]
    assert (states.count("connecting"), states.count("queued")) == (6, 10)
    # a slot freed on one node is filled by routing on the other
    bob_on_first = await first.agent("bob", ready=False)
    await bob_on_first.reject(offered["bob"][0])
    after = [o["chat_id"] for o in await staff["ann"].offers()] + [o["chat_id"] for o in await staff["cat"].offers()]
    assert len(after) == 5
    await first.close()
    await second.close()


async def test_two_nodes_appending_to_one_chat_at_once_keep_every_message_in_one_order(
        start_server: StartServer, pg_url: str, tmp_path: Path) -> None:
    first = await node(start_server, pg_url, tmp_path / "a")
    second = await node(start_server, pg_url, tmp_path / "b")
    agent = await second.agent("bob")
    customer, chat_id = await first.chat("chatty")
    await agent.accept(chat_id)
    sends: list[Awaitable[object]] = [customer.send_message(chat_id, f"customer {n}") for n in range(10)]
    sends += [agent.send_message(chat_id, f"agent {n}") for n in range(10)]
    await asyncio.gather(*sends)
    on_second = CustomerClient(second.live.base_url, app_id="support", client_id="chatty", tenant_url=TENANT)
    history = await on_second.history(chat_id)
    await on_second.aclose()
    said = messages(history)
    assert sorted(said) == sorted([f"customer {n}" for n in range(10)] + [f"agent {n}" for n in range(10)])
    seqs = [int(e["seq"]) for e in (await agent.events(chat_id))]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # gap-free and in order
    await first.close()
    await second.close()


