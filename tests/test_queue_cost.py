"""What a queue costs, counted in SQLite statements and rows over real HTTP (never in time): a new
chat, availability and the supervisor overview cost the same whether a queue holds 1 chat or 300.

Anyone with the public appId can queue chats under distinct clientIds; if each new chat re-read
and rewrote every waiting chat, 1,000 of them would stall the server (issue 10)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from frontdesk.client import AgentClient, CustomerClient
from frontdesk.domain.config import EntryConfig, QueueConfig
from frontdesk.settings import Settings
from frontdesk.storage.interfaces import Storage
from frontdesk.storage.sqlite.store import SqliteStorage, StatementCounts
from tests.center import PASSWORD, TENANT, Center, agent_config, center_config, start_center
from tests.conftest import TEST_HOLD_SECS, LiveServer, StartServer

pytestmark = pytest.mark.sqlite_only  # SQLite's statement counts

QUEUE_LENGTH = 300
MAX_ROWS_PER_NEW_CHAT = 40  # scenario, insert, events, agents, loads, staffing, the model, a count


def sqlite(storage: Storage) -> SqliteStorage:
    assert isinstance(storage, SqliteStorage)
    return storage


@dataclass
class Queue:
    live: LiveServer
    http: httpx.AsyncClient
    supervisor: AgentClient

    def customer(self, client_id: str, app_id: str = "support") -> CustomerClient:
        return CustomerClient(self.live.base_url, app_id=app_id, client_id=client_id, tenant_url=TENANT,
                              http=self.http)

    async def counted(self, call: Callable[[], Awaitable[object]]) -> StatementCounts:
        with sqlite(self.live.frontdesk.storage).counting() as counts:
            await call()
        return counts

    async def new_chat(self, client_id: str, app_id: str = "support") -> StatementCounts:
        async def request() -> None:
            ticket = await self.customer(client_id, app_id).request_chat({"first_name": client_id})
            assert ticket["state"] == "queued", ticket

        return await self.counted(request)


@pytest.fixture
async def queue(start_server: StartServer) -> AsyncIterator[Queue]:
    """A general queue served by bob (one slot, busy with a chat), and a billing queue nobody ready
    can serve: every new chat waits, with a real estimate."""
    config = center_config(agents=(agent_config("bob", max_chats=1), agent_config("sue", role="supervisor")))
    center = await start_center(start_server, config)
    async with httpx.AsyncClient(timeout=30.0) as http:
        bob = await center.agent("bob")
        supervisor = await center.agent("sue", ready=False)
        await bob.accept(str((await center.customer("busy").request_chat({}))["chat_id"]))
        try:
            yield Queue(center.live, http, supervisor)
        finally:
            await center.close()


async def fill(queue: Queue, count: int, prefix: str, app_id: str = "support") -> None:
    for n in range(count):
        await queue.new_chat(f"{prefix}-{n}", app_id)


async def test_a_new_chat_costs_the_same_rows_at_position_1_and_300(queue: Queue) -> None:
    first = await queue.new_chat("chat-0")  # computes and caches the queue's model
    second = await queue.new_chat("chat-1")
    await fill(queue, QUEUE_LENGTH - 2, "filler")
    last = await queue.new_chat("chat-300")
    assert (last.statements, last.rows_read, last.rows_written) == \
        (second.statements, second.rows_read, second.rows_written)
    assert second.rows_read <= MAX_ROWS_PER_NEW_CHAT and second.rows_written <= MAX_ROWS_PER_NEW_CHAT
    # the first chat of the queue also stores the queue's model and sets the refresh timer
    assert first.rows_written == second.rows_written + 2 and first.rows_read <= second.rows_read
    # and the estimates still grow along the queue
    head = await queue.customer("chat-1").request_chat({})
    tail = await queue.customer("chat-300").request_chat({})
    assert 0 < int(head["ewt"]) < int(tail["ewt"])


async def test_availability_costs_the_same_at_any_queue_length(queue: Queue) -> None:
    await queue.new_chat("chat-0")
    probe = queue.customer("probe")
    short = await queue.counted(probe.availability)
    await fill(queue, QUEUE_LENGTH, "filler")
    long = await queue.counted(probe.availability)
    assert (long.statements, long.rows_read, long.rows_written) == (short.statements, short.rows_read, 0)
    assert int((await probe.availability())["ewt"]) > 0


async def test_a_long_queue_nobody_free_can_serve_costs_the_other_queues_nothing(queue: Queue) -> None:
    """Bob has a free slot but not the billing skill: a general chat's dispatch never reads the
    billing queue, however long it is."""
    bob = AgentClient(queue.live.base_url, http=queue.http)
    await bob.login("bob", PASSWORD, tenant=TENANT)
    (busy,) = await bob.chats()
    await bob.end(busy["chat_id"])
    await fill(queue, 1, "billing-short", "billing")

    async def served(client_id: str) -> StatementCounts:
        async def request() -> None:
            ticket = await queue.customer(client_id).request_chat({})
            assert ticket["state"] == "connecting", ticket

        counts = await queue.counted(request)
        (offer,) = await bob.offers()
        await bob.accept(offer["chat_id"])
        await bob.end(offer["chat_id"])
        return counts

    await served("warm-up")
    short = await served("general-1")
    await fill(queue, QUEUE_LENGTH // 3, "billing-long", "billing")
    long = await served("general-2")
    assert (long.statements, long.rows_read, long.rows_written) == \
        (short.statements, short.rows_read, short.rows_written)


# ---- the supervisor overview -------------------------------------------------------------------------------------


async def overview_cost(start_server: StartServer, data_dir: Path, queues: int, agents: int,
                        chats: int) -> StatementCounts:
    queue_configs = tuple(QueueConfig(f"q{n}", f"Queue {n}", skills={"general": 1}) for n in range(queues))
    entries = {f"q{n}": EntryConfig(app_id=f"q{n}", name=f"Entry {n}", queue_id=f"q{n}", inactivity_timeout_secs=0)
               for n in range(queues)}
    agent_configs = (*(agent_config(f"agent{n}", max_chats=1) for n in range(agents)),
                     agent_config("sue", role="supervisor", skills={}))
    config = center_config(queues=queue_configs, agents=agent_configs, entries=entries)
    settings = Settings(contact_center=config, poll_hold_secs=TEST_HOLD_SECS, is_demo=False)
    center = Center(await start_server(data_dir=data_dir, settings=settings))
    try:
        staff = [await center.agent(f"agent{n}") for n in range(agents)]
        for n in range(chats):  # the first ones go to the agents, the others wait, in every queue
            await center.chat(f"overview-{n}", f"q{n % queues}")
        for agent in staff:
            for offer in await agent.offers():
                await agent.accept(offer["chat_id"])
        sue = await center.agent("sue", ready=False)
        await sue.monitor((await staff[0].chats())[0]["chat_id"])
        with sqlite(center.live.frontdesk.storage).counting() as counts:
            view = await sue.overview()
        assert len(view["queues"]) == queues and len(view["agents"]) == agents + 1
        assert len(view["chats"]) == chats
        assert sum(q["waiting"] for q in view["queues"]) == chats - agents
        return counts
    finally:
        await center.close()


async def test_the_overview_runs_the_same_queries_for_1_or_many_queues_agents_and_chats(
        start_server: StartServer, tmp_path: Path) -> None:
    small = await overview_cost(start_server, tmp_path / "small", queues=1, agents=1, chats=2)
    large = await overview_cost(start_server, tmp_path / "large", queues=6, agents=12, chats=40)
    assert large.statements == small.statements
    assert small.statements <= 12
