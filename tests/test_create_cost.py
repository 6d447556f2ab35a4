"""What a new chat costs that routing gives an auto-accepting agent in the request that creates it,
counted in SQLite statements and rows over real HTTP (never in time): the same at 2 live chats or
many, and its row is written once (inserted connected, not inserted queued and then updated)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from frontdesk.client import CustomerClient
from frontdesk.domain.config import QueueConfig
from frontdesk.storage.sqlite.store import SqliteStorage, StatementCounts
from tests.center import TENANT, Center, agent_config, center_config, start_center
from tests.conftest import StartServer

pytestmark = pytest.mark.sqlite_only  # SQLite's statement counts

# the client's live chat (none), the ready agents, the queue's head, the agent's last offer, the
# offer, the chat's parties (none), the agent's party, the chat's row, its four events
STATEMENTS_PER_NEW_CHAT = 9
# the chat's row, the agent's load (the row's insert counts the agent's party), its last offer, the
# offer, the party, four events
ROWS_WRITTEN_PER_NEW_CHAT = 9


@dataclass
class Desk:
    center: Center
    storage: SqliteStorage
    http: httpx.AsyncClient

    async def new_chat(self, client_id: str) -> StatementCounts:
        customer = CustomerClient(self.center.live.base_url, app_id="support", client_id=client_id,
                                  tenant_url=TENANT, http=self.http)
        with self.storage.counting() as counts:
            ticket = await customer.request_chat({})
        assert ticket["state"] == "connected", ticket
        return counts


@pytest.fixture
async def desk(start_server: StartServer) -> AsyncIterator[Desk]:
    # one agent: on the tests' clock, which stands still, every agent is idle as long as any other
    # and the first by id takes every chat until full
    config = center_config(queues=(QueueConfig("general", "General"),),
                           agents=(agent_config("agent0", max_chats=200, auto_accept=True),))
    center = await start_center(start_server, config)
    storage = center.live.frontdesk.storage
    assert isinstance(storage, SqliteStorage)
    async with httpx.AsyncClient(timeout=30.0) as http:
        await center.agent("agent0")
        try:
            yield Desk(center, storage, http)
        finally:
            await center.close()


async def test_a_routed_new_chat_costs_the_same_statements_and_rows_at_2_or_150_live_chats(desk: Desk) -> None:
    await desk.new_chat("warm-up")
    await desk.new_chat("first")
    few = await desk.new_chat("at-2")
    for n in range(150):
        await desk.new_chat(f"filler-{n}")
    many = await desk.new_chat("at-153")
    assert (many.statements, many.rows_read, many.rows_written) == (few.statements, few.rows_read, few.rows_written)
    assert (few.statements, few.rows_written) == (STATEMENTS_PER_NEW_CHAT, ROWS_WRITTEN_PER_NEW_CHAT)


async def test_a_routed_new_chats_row_is_written_once_and_its_agents_load_counts_it(desk: Desk) -> None:
    counts = await desk.new_chat("once")
    async with desk.storage.read() as tx:
        (chat,) = await tx.sessions.list_for_client(TENANT, "once", "", 1)
        loads = await tx.agents.chat_loads(TENANT)
        queued = await tx.sessions.count_queued(TENANT, "general")
    assert chat.state == "connected" and chat.last_seq == 4 and queued == 0
    assert loads == {(await _agent_of(desk, chat.chat_id)): 1}
    assert counts.rows_written == ROWS_WRITTEN_PER_NEW_CHAT  # no UPDATE of the row, no queue counter moved


async def _agent_of(desk: Desk, chat_id: str) -> str:
    async with desk.storage.read() as tx:
        (party,) = await tx.parties.list_for_chat(chat_id)
    return party.agent_id
