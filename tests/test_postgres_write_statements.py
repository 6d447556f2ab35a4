"""How many statements the hot write actions send to PostgreSQL, over real HTTP: an agent's message,
a customer's message, a chat created and routed to an agent, an offer accepted. Each is one write
transaction (BEGIN, its statements, COMMIT) whose count is pinned here, so an extra round trip in one
of them fails a test (docs/event-delivery.md "Concurrency" says which locks each takes).

The server's pools have one connection each; asyncpg's query logger on the write pool's connection
sees every statement of every write transaction (reads have a pool of their own and are not counted)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from frontdesk import app
from frontdesk.settings import Settings
from frontdesk.storage.postgres.store import PostgresStorage
from tests.center import Center, center_config
from tests.conftest import TEST_HOLD_SECS, StartServer


class Sent:
    """The statements the write pool's connection runs, as their first words."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def log(self, query: Any) -> None:
        self.queries.append(str(query.query))

    async def of(self, action: Callable[[], Awaitable[Any]]) -> list[str]:
        await asyncio.sleep(0)
        self.queries.clear()
        await action()
        await asyncio.sleep(0)  # the logger's calls are scheduled on the loop
        return [q.strip().rstrip(";").split(None, 1)[0].upper() for q in self.queries]


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


async def chat_cycle(center: Center, sent: Sent, client_id: str) -> dict[str, list[str]]:
    """Bob ready, a customer's chat offered to him and accepted, a message each way: the
    statements of each step's write transaction."""
    bob = await center.agent("bob")
    customer = center.customer(client_id)
    steps: dict[str, list[str]] = {}
    tickets: list[Any] = []

    async def request() -> None:
        tickets.append(await customer.request_chat({"first_name": "Pat"}))

    steps["create"] = await sent.of(request)
    chat_id = str(tickets[0]["chat_id"])
    assert chat_id in [o["chat_id"] for o in await bob.offers()]
    steps["accept"] = await sent.of(lambda: bob.accept(chat_id))
    steps["agent message"] = await sent.of(lambda: bob.send_message(chat_id, "Hello"))
    steps["customer message"] = await sent.of(lambda: customer.send_message(chat_id, "Hi"))
    return steps


async def test_the_hot_write_actions_send_a_pinned_number_of_statements(center: tuple[Center, Sent]) -> None:
    found, sent = center
    steps = await chat_cycle(found, sent, "counted")
    assert steps["agent message"] == ["BEGIN", "SELECT", "SELECT", "WITH", "COMMIT"]  # chat, parties, append
    assert steps["customer message"] == ["BEGIN", "SELECT", "WITH", "COMMIT"]  # chat, append
    assert {name: len(statements) for name, statements in steps.items()} == {
        "create": 18, "accept": 13, "agent message": 5, "customer message": 4}
