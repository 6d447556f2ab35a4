"""What PostgresStorage sends to PostgreSQL for a read and for a transaction: the statements of the
stores, the BEGIN and COMMIT a transaction needs, and nothing else (no reset query when a connection
goes back to the pool, no transaction around a read that does not ask for a snapshot).

Counted with asyncpg's query logger on the only connection of each pool (writes, reads)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from frontdesk.storage.postgres.store import PostgresStorage
from frontdesk.storage.records import SessionRecord
from tests.test_storage_contract import event, session


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[PostgresStorage]:
    storage = PostgresStorage(pg_url, pool_size=1, read_pool_size=1)
    await storage.open()
    async with storage.transaction() as tx:
        await tx.sessions.insert(session("c1"))
    yield storage
    await storage.close()


@pytest.fixture
async def sent(store: PostgresStorage) -> list[str]:
    """The texts of the queries the pool's connection runs from now on."""
    queries: list[str] = []
    assert store._pools is not None  # the test looks at the backend's own connections
    for pool in store._pools:
        async with pool.acquire() as conn:  # the pool's only connection
            conn.add_query_logger(lambda query: queries.append(query.query))
    await asyncio.sleep(0)  # the logger's calls are scheduled on the loop
    queries.clear()  # whatever the release above sent
    return queries


async def settled(queries: list[str]) -> list[str]:
    await asyncio.sleep(0)
    return [q.strip().rstrip(";").split(" ")[0] for q in queries]


async def test_a_read_without_a_snapshot_sends_only_its_statements(store: PostgresStorage, sent: list[str]) -> None:
    async with store.read(snapshot=False) as tx:
        found = await tx.sessions.get("c1")
        events = await tx.events.read_after("c1", 0, event("x").audience, 10)
    assert found is not None and events == []
    assert await settled(sent) == ["SELECT", "SELECT"]


async def test_a_snapshot_read_is_one_read_only_transaction(store: PostgresStorage, sent: list[str]) -> None:
    async with store.read() as tx:
        assert await tx.sessions.get("c1") is not None
    await asyncio.sleep(0)
    assert sent[0].startswith("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    assert await settled(sent) == ["BEGIN", "SELECT", "COMMIT"]


async def test_a_transaction_sends_begin_its_statements_and_commit(store: PostgresStorage, sent: list[str]) -> None:
    async with store.transaction() as tx:
        current = await tx.sessions.get("c1")
        assert current is not None
        await tx.events.append("c1", current.last_seq + 1, 200.0, [event("hello")])
    assert await settled(sent) == ["BEGIN", "SELECT", "INSERT", "COMMIT"]



async def read_chat(store: PostgresStorage) -> SessionRecord | None:
    async with store.read() as tx:
        return await tx.sessions.get("c1")


async def test_a_read_does_not_wait_for_a_connection_a_waiting_writer_holds(store: PostgresStorage) -> None:
    """Every connection for transactions is taken by a writer waiting for a chat's row: a read
    still runs (it has connections of its own)."""
    holding, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with store.transaction() as tx:
            assert await tx.sessions.get("c1") is not None  # the chat's row, locked until commit
            holding.set()
            await release.wait()

    task = asyncio.ensure_future(holder())
    await holding.wait()
    try:
        assert await asyncio.wait_for(read_chat(store), timeout=30) is not None
    finally:
        release.set()
        await task
