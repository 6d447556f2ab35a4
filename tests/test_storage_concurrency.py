"""The concurrency contract of the storage (storage/interfaces.py, docs/event-delivery.md), raced for
real: many transactions at once, on PostgreSQL from two storages ("nodes": two pools of connections
to one database), on SQLite from one (its model: one writer connection per database).

Each transaction yields to the event loop between what it reads and what it writes, so without the
contract's locks the transactions would interleave there: sequence numbers would collide, a timer
would be taken twice, a whole-row update would undo another one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from frontdesk.storage.interfaces import Storage
from frontdesk.storage.postgres.store import PostgresStorage
from frontdesk.storage.records import Audience, NewEvent, SessionRecord, TimerRecord
from frontdesk.storage.sqlite.store import SqliteStorage

WRITERS = 24  # concurrent transactions per test


@pytest.fixture(params=["sqlite", "postgres"])
async def nodes(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> AsyncIterator[list[Storage]]:
    """Two handles on one database: two PostgreSQL pools, or SQLite's one writer twice."""
    stores: list[Storage]
    if request.param == "postgres":
        stores = [PostgresStorage(pg_url, pool_size=6), PostgresStorage(pg_url, pool_size=6)]
    else:
        only = SqliteStorage(tmp_path / "race.sqlite3")
        stores = [only, only]
    for store in stores:
        await store.open()
    yield stores
    for store in {id(s): s for s in stores}.values():
        await store.close()


def chat(chat_id: str = "c1") -> SessionRecord:
    return SessionRecord(chat_id=chat_id, tenant="t", app_id="a", client_id="dev", client_kind="mobile",
                         visitor_cookie="", state="connected", created_at=1.0, queue_id="q")


def message(writer: int, part: int) -> NewEvent:
    return NewEvent(payload={"event": "chat_session_message", "writer": writer, "part": part},
                    audience=Audience.ALL, in_history=True, origin="customer")


async def test_concurrent_appends_to_one_chat_get_gap_free_ordered_sequence_numbers(nodes: list[Storage]) -> None:
    async with nodes[0].transaction() as tx:
        await tx.sessions.insert(chat())

    async def append(writer: int) -> list[int]:
        async with nodes[writer % 2].transaction() as tx:
            session = await tx.sessions.get("c1")
            assert session is not None
            await asyncio.sleep(0)  # let the other writers run between the read and the write
            records = await tx.events.append("c1", session.last_seq + 1, 2.0,
                                             [message(writer, 0), message(writer, 1)])
            session.last_seq = records[-1].seq
            session.customer_last_seq = records[-1].seq
            await tx.sessions.update(session)
            return [r.seq for r in records]

    given = await asyncio.gather(*(append(w) for w in range(WRITERS)))
    async with nodes[1].read() as tx:
        stored = await tx.events.read_after("c1", 0, Audience.ALL, 1000)
        final = await tx.sessions.get("c1")
    assert [e.seq for e in stored] == list(range(1, 2 * WRITERS + 1))  # gap-free, in order
    assert sorted(seq for seqs in given for seq in seqs) == list(range(1, 2 * WRITERS + 1))
    for seqs in given:  # one action's events stay together, in the order it appended them
        assert seqs[1] == seqs[0] + 1
        first, second = (e for e in stored if e.seq in seqs)
        assert (first.payload["writer"], first.payload["part"]) == (second.payload["writer"], 0)
    assert final is not None and final.last_seq == 2 * WRITERS  # no whole-row update was lost


async def test_two_nodes_claiming_the_same_due_timers_never_take_one_twice(nodes: list[Storage]) -> None:
    async with nodes[0].transaction() as tx:
        for n in range(WRITERS):
            await tx.timers.set(TimerRecord(f"c{n}", "inactivity_timeout", 10.0 + n, {"n": n}))

    async def node(index: int) -> list[str]:
        async with nodes[index].read() as tx:
            due = await tx.timers.due(1000.0, 100)  # both nodes see every timer due
        taken: list[str] = []
        for timer in due:
            async with nodes[index].transaction() as tx:
                await asyncio.sleep(0)
                claimed = await tx.timers.claim(timer.chat_id, timer.kind, timer.due_at)
                if claimed is not None:
                    assert claimed == timer
                    taken.append(claimed.chat_id)
        return taken

    first, second, third = await asyncio.gather(node(0), node(1), node(0))
    assert sorted(first + second + third) == sorted(f"c{n}" for n in range(WRITERS))  # each exactly once
    async with nodes[1].read() as tx:
        assert await tx.timers.due(1000.0, 100) == []


async def test_a_claim_takes_only_the_timer_as_it_was_seen(nodes: list[Storage]) -> None:
    async with nodes[0].transaction() as tx:
        await tx.timers.set(TimerRecord("c1", "offer_timeout", 10.0, {}))
        await tx.timers.set(TimerRecord("c1", "offer_timeout", 20.0, {"moved": True}))  # moved meanwhile
    async with nodes[1].transaction() as tx:
        assert await tx.timers.claim("c1", "offer_timeout", 10.0) is None
        assert await tx.timers.claim("c1", "other", 20.0) is None
        assert await tx.timers.claim("c1", "offer_timeout", 20.0) == TimerRecord("c1", "offer_timeout", 20.0,
                                                                                   {"moved": True})
    async with nodes[0].read() as tx:
        assert await tx.timers.get("c1", "offer_timeout") is None


async def test_a_read_does_not_wait_for_an_open_write_transaction(nodes: list[Storage]) -> None:
    async with nodes[0].transaction() as tx:
        await tx.sessions.insert(chat())
    writing = asyncio.Event()
    release = asyncio.Event()

    async def writer() -> None:
        async with nodes[0].transaction() as tx:
            session = await tx.sessions.get("c1")  # holds the chat (and, on SQLite, the writer) ...
            assert session is not None
            session.state = "completed"
            await tx.sessions.update(session)
            writing.set()
            await release.wait()  # ... until the reader below has read

    task = asyncio.ensure_future(writer())
    await writing.wait()
    try:
        async with nodes[1].read() as tx:  # a report while a chat is being changed
            seen = await asyncio.wait_for(tx.sessions.get("c1"), timeout=30)
        assert seen is not None and seen.state == "connected"  # the last committed state
    finally:
        release.set()
        await task
    async with nodes[1].read() as tx:
        after = await tx.sessions.get("c1")
    assert after is not None and after.state == "completed"


@pytest.mark.parametrize(("snapshot", "second_sees"), [(True, "connected"), (False, "completed")])
async def test_a_read_sees_a_commit_between_its_statements_only_without_a_snapshot(
        nodes: list[Storage], snapshot: bool, second_sees: str) -> None:
    """``read()`` (a snapshot): its statements agree even when a commit lands between them.
    ``read(snapshot=False)`` opens no transaction on either backend (an idle poll's one statement is
    all it sends): a commit landing between two of its statements is seen by the second."""
    async with nodes[0].transaction() as tx:
        await tx.sessions.insert(chat())
    async with nodes[1].read(snapshot=snapshot) as tx:
        first = await tx.sessions.get("c1")
        async with nodes[0].transaction() as writer:
            changed = await writer.sessions.get("c1")
            assert changed is not None
            changed.state = "completed"
            await writer.sessions.update(changed)
        second = await tx.sessions.get("c1")
    assert first is not None and second is not None and (first.state, second.state) == ("connected", second_sees)


async def test_mark_routed_keeps_what_another_writer_changed(nodes: list[Storage]) -> None:
    from tests.test_storage_contract import _agent

    async with nodes[0].transaction() as tx:
        await tx.agents.upsert(_agent("a1"))
    async with nodes[0].transaction() as tx:
        agent = await tx.agents.get("a1")
        assert agent is not None
        agent.state = "not_ready"
        await tx.agents.upsert(agent)
    async with nodes[1].transaction() as tx:
        await tx.agents.mark_routed("a1", 77.0)
    async with nodes[0].read() as tx:
        stored = await tx.agents.get("a1")
    assert stored is not None and (stored.state, stored.last_routed_at) == ("not_ready", 77.0)


async def test_the_routing_lock_makes_two_nodes_take_turns(nodes: list[Storage]) -> None:
    """Two routers read a shared count, pause, and write it back one higher: under the tenant's
    routing lock no increment is lost."""
    from tests.test_storage_contract import _agent

    async with nodes[0].transaction() as tx:
        await tx.agents.upsert(_agent("counter"))

    async def route(writer: int) -> None:
        async with nodes[writer % 2].transaction() as tx:
            await tx.lock_routing("t")
            loads = await tx.agents.list_for_tenant("t")  # read unlocked, as dispatch reads agents
            await asyncio.sleep(0)
            await tx.agents.mark_routed("counter", loads[0].last_routed_at + 1)

    await asyncio.gather(*(route(w) for w in range(WRITERS)))
    async with nodes[1].read() as tx:
        stored = await tx.agents.get("counter")
    assert stored is not None and stored.last_routed_at == 5.0 + WRITERS


async def test_routing_at_once_on_two_nodes_never_exceeds_an_agents_capacity(nodes: list[Storage]) -> None:
    """The real dispatch, many at once from two journals (nodes) over queued chats: every agent ends
    with at most ``max_chats`` offers, and no chat is offered twice."""
    from frontdesk.bus.local import LocalBus
    from frontdesk.domain import routing
    from frontdesk.domain.clock import FakeClock
    from frontdesk.domain.journal import Journal
    from frontdesk.storage.records import AgentRecord
    from tests.center import TENANT, center_config

    config = center_config()
    clock = FakeClock()
    journals = [Journal(store, LocalBus(), clock) for store in nodes]
    capacity = {"ann": 2, "bob": 1, "cat": 3}
    async with nodes[0].transaction() as tx:
        for name, max_chats in capacity.items():
            await tx.agents.upsert(AgentRecord(f"{TENANT}/{name}", TENANT, name, "x", name, "", name, max_chats,
                                               "ready", 1.0, skills={"general": 1}))
        for n in range(20):
            await tx.sessions.insert(SessionRecord(
                chat_id=f"q{n:02d}", tenant=TENANT, app_id="support", client_id=f"c{n}", client_kind="mobile",
                visitor_cookie="", state="queued", created_at=2.0 + n, queue_id="general", queued_at=2.0 + n))

    async def route(writer: int) -> None:
        async with journals[writer % 2].action() as ctx:
            await asyncio.sleep(0)
            await routing.dispatch(ctx, config, TENANT)

    await asyncio.gather(*(route(w) for w in range(8)))
    async with nodes[1].read() as tx:
        loads = await tx.agents.chat_loads(TENANT)
        offered = await tx.sessions.list_in_state(TENANT, ("connecting",))
        queued = await tx.sessions.count_queued(TENANT, "general")
    assert loads == {f"{TENANT}/{name}": max_chats for name, max_chats in capacity.items()}
    assert len({s.chat_id for s in offered}) == len(offered) == sum(capacity.values())
    assert queued == 20 - sum(capacity.values())


async def test_two_actions_that_deadlock_are_retried_and_both_complete(
        request: pytest.FixtureRequest, nodes: list[Storage]) -> None:
    """Two actions lock two chats in opposite orders. On PostgreSQL they deadlock; the database
    aborts one (``TransientConflict``) and ``retry_conflicts`` runs it again: both complete, once.
    On SQLite the one writer makes them take turns."""
    import contextlib

    from frontdesk.bus.local import LocalBus
    from frontdesk.domain.clock import FakeClock
    from frontdesk.domain.journal import Journal, retry_conflicts, to_everyone

    async with nodes[0].transaction() as tx:
        await tx.sessions.insert(chat("left"))
        await tx.sessions.insert(chat("right"))
    journals = [Journal(store, LocalBus(), FakeClock()) for store in nodes]
    holding = [asyncio.Event(), asyncio.Event()]
    runs: list[int] = []

    @retry_conflicts
    async def cross(index: int, first: str, second: str) -> None:
        runs.append(index)
        async with journals[index].action() as ctx:
            one = await ctx.session(first)
            holding[index].set()
            with contextlib.suppress(TimeoutError):  # SQLite: the other waits for this one's commit
                await asyncio.wait_for(holding[1 - index].wait(), timeout=1)
            other = await ctx.session(second)
            assert one is not None and other is not None
            await ctx.emit(one, to_everyone({"event": "crossed", "by": index}))
            await ctx.emit(other, to_everyone({"event": "crossed", "by": index}))

    await asyncio.gather(cross(0, "left", "right"), cross(1, "right", "left"))
    async with nodes[1].read() as tx:
        for chat_id in ("left", "right"):
            stored = await tx.events.read_after(chat_id, 0, Audience.ALL, 10)
            assert [e.seq for e in stored] == [1, 2]
            assert sorted(e.payload["by"] for e in stored) == [0, 1]  # each action once
    if "postgres" in request.node.callspec.id:
        assert len(runs) == 3  # the deadlock's victim ran again
    else:
        assert len(runs) == 2
