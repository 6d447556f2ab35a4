"""``delivery.state_reads``: the polls that read in one loop turn share one statement, each gets its
own chat's state, a poll cancelled meanwhile changes nothing for the others, and a failed read fails
each request of its batch with the storage's error (on the real SQLite store, statements counted)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from frontdesk.bus.local import LocalBus
from frontdesk.delivery.state_reads import MAX_BATCH_CHATS, DeliveryStateReads
from frontdesk.domain.clock import FakeClock
from frontdesk.domain.journal import Journal
from frontdesk.storage.interfaces import StorageUnavailable
from frontdesk.storage.records import SessionRecord
from frontdesk.storage.sqlite.store import SqliteStorage, SqliteTransaction


def chat(chat_id: str, cursor: int) -> SessionRecord:
    return SessionRecord(chat_id=chat_id, tenant="t", app_id="a", client_id=f"dev-{chat_id}", client_kind="mobile",
                         visitor_cookie="", state="queued", created_at=1.0, queue_id="q", queued_at=1.0,
                         customer_cursor=cursor, customer_last_seq=cursor)


@pytest.fixture
async def storage(tmp_path: Path) -> SqliteStorage:
    store = SqliteStorage(tmp_path / "state-reads.db")
    async with store.transaction() as tx:
        for n in range(MAX_BATCH_CHATS + 5):
            await tx.sessions.insert(chat(f"c{n}", n))
    return store


async def test_the_polls_of_one_loop_turn_share_one_statement(storage: SqliteStorage) -> None:
    reads = DeliveryStateReads(Journal(storage, LocalBus(), FakeClock()))
    with storage.counting() as counts:
        states = await asyncio.gather(*(reads.get(f"c{n}") for n in range(40)), reads.get("nope"),
                                      reads.get("c7"))
    assert counts.statements == 1
    assert [s.customer_cursor if s else None for s in states] == [*range(40), None, 7]
    assert states[7] is not None and states[7].client_id == "dev-c7"


async def test_a_turn_with_more_chats_than_one_statement_takes_reads_in_parts(storage: SqliteStorage) -> None:
    reads = DeliveryStateReads(Journal(storage, LocalBus(), FakeClock()))
    with storage.counting() as counts:
        states = await asyncio.gather(*(reads.get(f"c{n}") for n in range(MAX_BATCH_CHATS + 5)))
    assert counts.statements == 2
    assert [s.customer_cursor for s in states if s] == list(range(MAX_BATCH_CHATS + 5))


async def test_requests_of_later_turns_are_read_again(storage: SqliteStorage) -> None:
    reads = DeliveryStateReads(Journal(storage, LocalBus(), FakeClock()))
    first = await reads.get("c3")
    async with storage.transaction() as tx:
        await tx.sessions.set_customer_cursor("c3", 99)
    second = await reads.get("c3")
    assert first is not None and second is not None
    assert (first.customer_cursor, second.customer_cursor) == (3, 99)  # each sees what was committed before it asked


async def test_a_cancelled_request_leaves_the_others_of_its_batch_alone(storage: SqliteStorage) -> None:
    reads = DeliveryStateReads(Journal(storage, LocalBus(), FakeClock()))
    leader = asyncio.ensure_future(reads.get("c1"))  # the first of the turn: it reads for the others
    follower = asyncio.ensure_future(reads.get("c2"))
    other = asyncio.ensure_future(reads.get("c3"))
    await asyncio.sleep(0)  # all three have asked
    leader.cancel()
    other.cancel()
    state = await follower
    assert state is not None and state.customer_cursor == 2
    assert leader.cancelled() and other.cancelled()


class UnreachableReads(SqliteStorage):
    """A store whose reads fail as PostgreSQL's do when the database is away."""

    @asynccontextmanager
    async def read(self, snapshot: bool = True) -> AsyncIterator[SqliteTransaction]:
        raise StorageUnavailable("the database cannot be reached: OSError")
        yield self._tx  # unreachable: makes this a generator


async def test_a_failed_read_fails_every_request_of_its_batch_and_the_next_turn_reads_again(tmp_path: Path) -> None:
    store = UnreachableReads(tmp_path / "unreachable.db")
    reads = DeliveryStateReads(Journal(store, LocalBus(), FakeClock()))
    results = await asyncio.gather(reads.get("c1"), reads.get("c2"), return_exceptions=True)
    assert [type(r) for r in results] == [StorageUnavailable, StorageUnavailable]
    store.read = SqliteStorage.read.__get__(store)  # type: ignore[method-assign]  # the database is back
    assert await reads.get("c1") is None  # (no such chat in this store) read, not failed
