"""How many statements the hot write actions send to PostgreSQL, over real HTTP: an agent's message,
a customer's message, a chat created and routed to an agent, an offer accepted. Each is one write
transaction (BEGIN, its statements, COMMIT) whose count is pinned here, so an extra round trip in one
of them fails a test (docs/event-delivery.md "Concurrency" says which locks each takes).

The server's pools have one connection each; asyncpg's query logger on the write pool's connection
sees every statement of every write transaction (reads have a pool of their own and are not counted)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from frontdesk import app
from frontdesk.client import CustomerClient
from frontdesk.settings import Settings
from frontdesk.storage.postgres.store import PostgresStorage
from tests.center import Center, center_config
from tests.conftest import TEST_HOLD_SECS, StartServer


class Sent:
    """The statements the write pool's connection runs, as their first words."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        self.arrived = asyncio.Event()  # a statement was logged since ``queries`` was last cleared

    def log(self, query: Any) -> None:
        self.queries.append(str(query.query))
        self.arrived.set()

    async def of(self, action: Callable[[], Awaitable[Any]]) -> list[str]:
        await asyncio.sleep(0)
        self.queries.clear()
        await action()
        await asyncio.sleep(0)  # the logger's calls are scheduled on the loop
        return [q.strip().rstrip(";").split(None, 1)[0].upper() for q in self.queries]

    def under_routing_lock(self) -> int:
        """How many of the last action's round trips ran holding its tenant's routing lock: every
        one from the first that takes the lock to COMMIT."""
        first = next(i for i, q in enumerate(self.queries) if "frontdesk_lock_routing" in q)
        return len(self.queries) - first - 1


@pytest.fixture
async def center(start_server: StartServer, pg_url: str, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Center, Sent]]:
    monkeypatch.setattr(app, "build_storage",
                        lambda settings: PostgresStorage(settings.database_url, pool_size=1, read_pool_size=1))
    settings = Settings(contact_center=center_config(), poll_hold_secs=TEST_HOLD_SECS, is_demo=False,
                        database_url=pg_url)
    live = await start_server(data_dir=tmp_path / "pg", settings=settings)
    storage = live.frontdesk.storage
    assert isinstance(storage, PostgresStorage)
    await storage.open()
    sent = Sent()
    assert storage._pools is not None  # the test looks at the backend's own connection for writes
    async with storage._pools.writes.acquire() as conn:  # the pool's only connection
        conn.add_query_logger(sent.log)
    found = Center(live)
    yield found, sent
    await found.close()


@dataclass
class Cycle:
    """What ``chat_cycle`` did: each step's statements and how many of them held the routing lock."""

    customer: CustomerClient
    chat_id: str
    steps: dict[str, list[str]] = field(default_factory=dict)
    locked: dict[str, int] = field(default_factory=dict)


async def chat_cycle(center: Center, sent: Sent) -> Cycle:
    """Bob ready, a customer's chat offered to him and accepted, a message each way."""
    bob = await center.agent("bob")
    customer = center.customer("pg-writes")
    tickets: list[Any] = []

    async def request() -> None:
        tickets.append(await customer.request_chat({"first_name": "Pat"}))

    created = await sent.of(request)
    cycle = Cycle(customer, str(tickets[0]["chat_id"]))
    cycle.steps["create"], cycle.locked["create"] = created, sent.under_routing_lock()
    assert [o["chat_id"] for o in await bob.offers()] == [cycle.chat_id]
    cycle.steps["accept"] = await sent.of(lambda: bob.accept(cycle.chat_id))
    cycle.locked["accept"] = sent.under_routing_lock()
    cycle.steps["agent message"] = await sent.of(lambda: bob.send_message(cycle.chat_id, "Hello"))
    cycle.steps["customer message"] = await sent.of(lambda: customer.send_message(cycle.chat_id, "Hi"))
    return cycle


async def test_the_hot_write_actions_send_a_pinned_number_of_statements(center: tuple[Center, Sent]) -> None:
    found, sent = center
    cycle = await chat_cycle(found, sent)
    steps = cycle.steps
    # chat, parties, the client's key looked up, the key stored, append (+ chat) as the action ends
    assert steps["agent message"] == ["BEGIN", "SELECT", "SELECT", "SELECT", "INSERT", "WITH", "COMMIT"]
    assert steps["customer message"] == ["BEGIN", "SELECT", "WITH", "COMMIT"]  # chat, append
    assert {name: len(statements) for name, statements in steps.items()} == {
        "create": 11, "accept": 12, "agent message": 7, "customer message": 4}
    # the new chat is stored once, as routing left it (offered), under routing's lock; accept holds
    # it from loading the agent
    assert cycle.locked == {"create": 8, "accept": 10}


async def test_a_poll_answer_moves_the_customers_cursor_in_one_statement_alone(center: tuple[Center, Sent]) -> None:
    found, sent = center
    cycle = await chat_cycle(found, sent)
    sent.queries.clear()
    sent.arrived.clear()
    assert "Hello" in [e.get("msg_text") for e in await cycle.customer.poll(cycle.chat_id)]
    await asyncio.wait_for(sent.arrived.wait(), 30)  # the cursor moves once the answer was written
    await asyncio.sleep(0.05)  # a COMMIT would follow at once
    assert [q.split(None, 1)[0] for q in sent.queries] == ["UPDATE"]  # no BEGIN, no COMMIT
    assert "customer_cursor" in sent.queries[0]
