"""The Redis bus, chat locks and presence on real Redis: wake-ups cross processes (two links stand
for two processes), a process's own wake-ups reach it once, the lock excludes across links and
expires, presence leases, and every part degrades to the process's own view while Redis is down
and recovers by itself (a redis-server of the test's own, stopped and started again)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from frontdesk.bus.interfaces import EVERY_TOPIC, LapsedClaim
from frontdesk.bus.redis import RedisBus, RedisLink
from frontdesk.bus.redis_locks import RedisChatLocks
from frontdesk.bus.redis_presence import RedisPresence
from tests.cluster import MACHINE_REDIS_URL, RedisServer, unique_prefix, unused_redis_url, wait_for


class Heard:
    def __init__(self) -> None:
        self.wakes: list[tuple[str, int]] = []

    def __call__(self, topic: str, seq: int) -> None:
        self.wakes.append((topic, seq))

    def of(self, topic: str) -> list[int]:
        return [seq for t, seq in self.wakes if t == topic]


@pytest.fixture
async def buses() -> AsyncIterator[list[tuple[RedisBus, Heard]]]:
    """Two buses of one deployment (one prefix), as two processes would have them."""
    prefix = unique_prefix()
    made: list[tuple[RedisBus, Heard]] = []
    try:
        for _ in range(2):
            bus = RedisBus(RedisLink(MACHINE_REDIS_URL, prefix))
            heard = Heard()
            bus.add_listener(heard)
            await bus.start()
            made.append((bus, heard))
        for bus, _ in made:
            await wait_for(lambda b=bus: b.link.up, what="the bus to connect")  # type: ignore[misc]
        yield made
    finally:
        for bus, _ in made:
            await bus.close()
            await bus.link.close()


async def test_a_wake_up_reaches_the_other_process_and_this_one_once(
        buses: list[tuple[RedisBus, Heard]]) -> None:
    (a, heard_a), (_, heard_b) = buses
    a.publish("chat:c1", 7)
    a.publish("agent:demo/1", 0)
    await wait_for(lambda: heard_b.of("agent:demo/1") == [0], what="the wake-up on the other bus")
    assert heard_b.of("chat:c1") == [7]
    await asyncio.sleep(0.2)  # the own copy comes back from Redis meanwhile and is dropped
    assert heard_a.of("chat:c1") == [7]  # delivered at once, and only once


async def test_connecting_wakes_every_topic() -> None:
    bus = RedisBus(RedisLink(MACHINE_REDIS_URL, unique_prefix()))
    heard = Heard()
    bus.add_listener(heard)
    try:
        await bus.start()
        await wait_for(lambda: heard.of(EVERY_TOPIC) == [0], what="the wake-up of every topic")
    finally:
        await bus.close()
        await bus.link.close()


async def test_another_deployment_prefix_hears_nothing(buses: list[tuple[RedisBus, Heard]]) -> None:
    (a, _), (_, heard_b) = buses
    other = RedisBus(RedisLink(MACHINE_REDIS_URL, unique_prefix()))
    heard_other = Heard()
    other.add_listener(heard_other)
    try:
        await other.start()
        await wait_for(lambda: other.link.up, what="the other deployment's bus")
        a.publish("chat:x", 1)
        await wait_for(lambda: heard_b.of("chat:x") == [1], what="the wake-up in the deployment")
        assert heard_other.of("chat:x") == []
    finally:
        await other.close()
        await other.link.close()


async def test_an_unreachable_redis_delivers_locally_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    url = unused_redis_url()
    bus = RedisBus(RedisLink(url.replace("redis://", "redis://:hunter2secret@"), unique_prefix()))
    heard = Heard()
    bus.add_listener(heard)
    caplog.set_level(logging.INFO, logger="frontdesk.bus")
    try:
        await bus.start()
        bus.publish("chat:c1", 3)
        assert heard.of("chat:c1") == [3]
        await wait_for(lambda: any("unreachable" in r.getMessage() for r in caplog.records), what="the warning")
        await asyncio.sleep(1.0)  # several reconnect attempts meanwhile
        warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(warnings) == 1
        assert "hunter2secret" not in caplog.text
        assert not bus.link.up
    finally:
        await bus.close()
        await bus.link.close()


async def test_the_bus_recovers_after_a_redis_restart(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    made: list[tuple[RedisBus, Heard]] = []
    try:
        server.start()
        prefix = unique_prefix()
        for _ in range(2):
            bus = RedisBus(RedisLink(server.url, prefix))
            heard = Heard()
            bus.add_listener(heard)
            await bus.start()
            made.append((bus, heard))
        (a, _), (b, heard_b) = made
        await wait_for(lambda: a.link.up and b.link.up, what="both buses up")
        a.publish("chat:before", 1)
        await wait_for(lambda: heard_b.of("chat:before") == [1], what="a wake-up before the restart")
        server.stop()
        await wait_for(lambda: not b.link.up, what="the subscription to notice", timeout=30)
        a.publish("chat:during", 2)  # lost for b: its readers re-check the log
        server.start()
        await wait_for(lambda: a.connects >= 2 and b.connects >= 2, what="both buses to reconnect", timeout=30)
        assert heard_b.of(EVERY_TOPIC) == [0, 0]  # once per connect: whatever was missed gets re-read
        a.publish("chat:after", 3)
        await wait_for(lambda: heard_b.of("chat:after") == [3], what="a wake-up after the restart")
        assert heard_b.of("chat:during") == []
    finally:
        for bus, _ in made:
            await bus.close()
            await bus.link.close()
        server.stop()


@pytest.fixture
async def links() -> AsyncIterator[list[RedisLink]]:
    prefix = unique_prefix()
    made = [RedisLink(MACHINE_REDIS_URL, prefix) for _ in range(2)]
    for link in made:
        link.mark_up()  # no bus here: the link is taken as up (a bus's subscription keeps this flag)
    try:
        yield made
    finally:
        for link in made:
            keys = [k async for k in link.client.scan_iter(match=link.prefix + "*")]
            if keys:
                await link.client.delete(*keys)
            await link.close()


async def test_the_chat_lock_excludes_across_processes(links: list[RedisLink]) -> None:
    first, second = RedisChatLocks(links[0]), RedisChatLocks(links[1])
    order: list[str] = []
    entered = asyncio.Event()

    async def holder() -> None:
        async with first.hold("c1"):
            order.append("first in")
            entered.set()
            await asyncio.sleep(0.3)
            order.append("first out")

    async def waiter() -> None:
        await entered.wait()
        async with second.hold("c1"):
            order.append("second in")

    async def other_chat() -> None:
        await entered.wait()
        async with second.hold("c2"):
            order.append("other chat")

    await asyncio.wait_for(asyncio.gather(holder(), waiter(), other_chat()), timeout=30)
    assert order == ["first in", "other chat", "first out", "second in"]


async def test_a_dead_holders_lock_expires(links: list[RedisLink]) -> None:
    # a process that died holding the lock: its key stays until the lock's lifetime ends
    await links[0].client.set(links[0].key("lock", "chat", "c1"), "dead-holder", px=300)
    async with asyncio.timeout(30):
        async with RedisChatLocks(links[1]).hold("c1"):
            assert await links[1].client.get(links[1].key("lock", "chat", "c1")) != b"dead-holder"


async def test_the_chat_lock_falls_back_while_redis_is_down() -> None:
    link = RedisLink(unused_redis_url(), unique_prefix())
    link.mark_up()
    try:
        async with asyncio.timeout(30), RedisChatLocks(link).hold("c1"):
            assert not link.up  # the try found Redis gone; the in-process lock is all there is
    finally:
        await link.close()


async def test_presence_holds_while_any_process_has_a_desktop(links: list[RedisLink]) -> None:
    a, b = RedisPresence(links[0]), RedisPresence(links[1])
    await a.join("demo/ann")
    await b.join("demo/ann")
    assert await b.present("demo/ann")
    assert not await a.leave("demo/ann")  # b still has one
    assert await a.present("demo/ann")
    assert await b.leave("demo/ann")
    assert not await a.present("demo/ann")
    assert await a.claim_lapsed() == []  # left properly: nothing to release


async def test_a_dead_processes_leases_lapse_once(links: list[RedisLink]) -> None:
    dead = RedisPresence(links[0], lease_secs=0.3)
    survivors = [RedisPresence(links[1], renew_secs=0.1), RedisPresence(links[1], renew_secs=0.1)]
    await dead.join("demo/ann")  # and then the process dies: no renewal, no leave
    await dead.join("demo/bob")
    assert await survivors[0].present("demo/ann")
    claimed: list[LapsedClaim] = []

    async def claim() -> bool:
        for survivor in survivors:
            claimed.extend(await survivor.claim_lapsed())
        return len(claimed) >= 2

    async with asyncio.timeout(30):
        for _ in range(100_000):
            if await claim():
                break
            await asyncio.sleep(0.05)
    assert sorted(c.agent_id for c in claimed) == ["demo/ann", "demo/bob"]  # each to one claimant
    assert not await survivors[1].present("demo/ann")
    assert await survivors[0].claim_lapsed() == [] and await survivors[1].claim_lapsed() == []
    for c in claimed:
        await survivors[0].confirm_released(c)
    assert await links[1].client.zcard(links[1].key("releasing")) == 0  # confirmed: never offered again
    assert await links[1].client.hlen(links[1].key("claims")) == 0


async def test_renewed_leases_do_not_lapse(links: list[RedisLink]) -> None:
    alive = RedisPresence(links[0], lease_secs=0.4, renew_secs=0.1)
    other = RedisPresence(links[1])
    try:
        await alive.start()
        await alive.join("demo/ann")
        for _ in range(10):
            await asyncio.sleep(0.1)
            assert await other.claim_lapsed() == []
        assert await other.present("demo/ann")
    finally:
        await alive.close()
