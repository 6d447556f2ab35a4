"""A lost cross-process wake-up costs at most the re-check period: with Redis configured, a held
customer poll and an agent's WebSocket read the log again every ``bus_recheck_secs``.

"Another process" here is a second journal over the same storage whose bus reaches nobody (its
wake-up is lost on the way); the held poll's hold never runs out during the test, so only the
re-check can answer it. The Redis the server uses is either the machine's (with a unique key
prefix) or one that is not there at all (Redis down: the same bounded delay)."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import replace

import pytest

from frontdesk.bus.local import LocalBus
from frontdesk.delivery.longpoll import CustomerPolls, PollBatch
from frontdesk.domain.agents import AgentService
from frontdesk.domain.config import ContactCenterConfig
from frontdesk.domain.customers import CustomerIdentity
from frontdesk.domain.journal import Journal
from frontdesk.settings import DEMO_AGENT_USERNAME, DEMO_TENANT, Settings
from frontdesk.storage.interfaces import Transaction
from frontdesk.storage.records import JsonObject
from tests.cluster import MACHINE_REDIS_URL, unique_prefix, unused_redis_url
from tests.conftest import LiveServer, StartServer
from tests.test_agent_api import connected, is_event, receive_until

NEVER_SECS = 3600.0  # a hold that never runs out during a test
GUARD_SECS = 60.0  # only against a hang
RECHECK_SECS = 0.2
AGENT_ID = f"{DEMO_TENANT}/{DEMO_AGENT_USERNAME}"


def elsewhere(live: LiveServer) -> AgentService:
    """The agent service of a process whose wake-ups never arrive here."""
    frontdesk = live.frontdesk
    return AgentService(Journal(frontdesk.storage, LocalBus(), frontdesk.clock), frontdesk.live)


@pytest.fixture(params=["redis up", "redis down"])
async def clustered(request: pytest.FixtureRequest, start_server: StartServer,
                    demo_config: ContactCenterConfig) -> LiveServer:
    url = MACHINE_REDIS_URL if request.param == "redis up" else unused_redis_url()
    settings = replace(Settings(), contact_center=demo_config, poll_hold_secs=NEVER_SECS, redis_url=url,
                       redis_prefix=unique_prefix(), bus_recheck_secs=RECHECK_SECS)
    return await start_server(settings=settings)


async def test_a_held_poll_gets_a_message_whose_wake_up_was_lost(clustered: LiveServer) -> None:
    anna = await clustered.agent()
    customer, chat_id = await connected(clustered, anna)
    async with customer, anna:
        await customer.poll_after(chat_id, 0)
        seen = await customer.poll_after(chat_id, 0)
        after = max(int(e["seq"]) for e in seen)
        held = asyncio.ensure_future(customer.poll_after(chat_id, after))
        await asyncio.sleep(RECHECK_SECS)  # the poll is held (or about to be): either way it must answer
        await elsewhere(clustered).send_message(AGENT_ID, chat_id, "written on another node")
        events = await asyncio.wait_for(held, GUARD_SECS)
        assert [e["msg_text"] for e in events if e["event"] == "chat_session_message"] == \
            ["written on another node"]


async def test_an_agent_socket_gets_a_customer_message_whose_wake_up_was_lost(clustered: LiveServer) -> None:
    anna = await clustered.agent()
    customer, chat_id = await connected(clustered, anna)
    async with customer, anna, anna.live() as stream:
        await receive_until(stream, is_event("chat_session_status", state="connected"), timeout=GUARD_SECS)
        await elsewhere(clustered).send_message(AGENT_ID, chat_id, "from the other node")
        got = await receive_until(stream, is_event("chat_session_message", msg_text="from the other node"),
                                  timeout=GUARD_SECS)
        assert got[-1]["chat_id"] == chat_id


@pytest.fixture(params=["sqlite", "postgres"])
async def quiet_cluster(request: pytest.FixtureRequest, start_server: StartServer, demo_config: ContactCenterConfig,
                        pg_url: str) -> LiveServer:
    """A server on Redis (and SQLite or PostgreSQL) whose re-check timer never fires by itself
    during a test: the test runs the re-check itself."""
    settings = replace(Settings(), contact_center=demo_config, poll_hold_secs=NEVER_SECS,
                       redis_url=MACHINE_REDIS_URL, redis_prefix=unique_prefix(), bus_recheck_secs=NEVER_SECS,
                       database_url=pg_url if request.param == "postgres" else "")
    return await start_server(settings=settings)


async def test_the_recheck_is_one_query_per_process_and_wakes_exactly_the_polls_with_news(
        quiet_cluster: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    polls = quiet_cluster.frontdesk.polls
    reads: Counter[str] = Counter()
    idle: dict[str, asyncio.Event] = {}  # a poll of the chat found nothing and waits
    read = polls._read

    async def counted(identity: CustomerIdentity, chat_id: str, after: int | None) -> PollBatch:
        reads[chat_id] += 1
        batch = await read(identity, chat_id, after)
        if not batch.last_seq:
            idle.setdefault(chat_id, asyncio.Event()).set()
        return batch

    monkeypatch.setattr(polls, "_read", counted)
    queries: list[int] = []
    storage_read = quiet_cluster.frontdesk.storage.read

    def counted_read(snapshot: bool = True) -> AbstractAsyncContextManager[Transaction]:
        queries.append(1)
        return storage_read(snapshot)

    anna = await quiet_cluster.agent()
    chats = [await connected(quiet_cluster, anna, client_id=f"device-{n}") for n in range(3)]
    held: list[asyncio.Future[list[JsonObject]]] = []
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(anna)
        for customer, _ in chats:
            await stack.enter_async_context(customer)
        stack.callback(lambda: [poll.cancel() for poll in held])
        for customer, chat_id in chats:
            seen = await customer.poll_after(chat_id, 0)
            held.append(asyncio.ensure_future(customer.poll_after(chat_id, max(int(e["seq"]) for e in seen))))
        await asyncio.wait_for(asyncio.gather(*(idle.setdefault(chat_id, asyncio.Event()).wait()
                                                for _, chat_id in chats)), GUARD_SECS)
        assert all(_holding(polls, chat_id) for _, chat_id in chats)
        before = dict(reads)
        monkeypatch.setattr(quiet_cluster.frontdesk.storage, "read", counted_read)
        await polls.recheck_tails()  # nothing new anywhere: no poll reads again
        assert len(queries) == 1 and reads == before
        news = chats[1][1]
        await elsewhere(quiet_cluster).send_message(AGENT_ID, news, "written on another node")
        await polls.recheck_tails()
        events = await asyncio.wait_for(held[1], GUARD_SECS)
        assert [e["msg_text"] for e in events if e["event"] == "chat_session_message"] == ["written on another node"]
        # the woken poll read (and read again under the cross-process lock to deliver); the others did not
        assert [reads[chat_id] > before[chat_id] for _, chat_id in chats] == [False, True, False]
        assert not held[0].done() and not held[2].done()


def _holding(polls: CustomerPolls, chat_id: str) -> bool:
    """The chat's poll has read the log and waits."""
    slot = polls._slots.get(chat_id)
    return slot is not None and slot.current is not None and slot.current.seen is not None
