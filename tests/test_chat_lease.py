"""The chat lock's lease on real Redis (``frontdesk.bus.redis_locks``): a holder slower than the
lease's lifetime keeps it by renewing, a slow Redis (a command timeout) never means "no lock" nor
marks the link down, a lease found taken or gone unrenewed is no longer held, and a retried take
whose first answer was lost still counts. Slow Redis is a redis-server of the test's own paused
with ``CLIENT PAUSE`` (the machine's Redis is never paused)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from frontdesk.bus.interfaces import ChatLockTimeout
from frontdesk.bus.redis import RedisLink
from frontdesk.bus.redis_locks import RedisChatLocks
from tests.cluster import MACHINE_REDIS_URL, RedisServer, unique_prefix, wait_for
from tests.slow_redis import COMMAND_TIMEOUT_SECS, pause, private_redis

SHORT_TTL_MS = 600
SHORT_RENEW_SECS = 0.1
NO_WAIT_SECS = 0.05  # a waiter that gives up at once: does anyone hold it now?


async def _links(url: str, count: int = 2) -> list[RedisLink]:
    prefix = unique_prefix()
    made = [RedisLink(url, prefix, command_timeout_secs=COMMAND_TIMEOUT_SECS) for _ in range(count)]
    for link in made:
        link.mark_up()  # no bus here: the link is taken as up (a bus's subscription keeps this flag)
    return made


async def _close(links: list[RedisLink], delete_keys: bool = True) -> None:
    """Close the links (deleting their keys: not on a private Redis, which may still be paused)."""
    for link in links:
        keys = [k async for k in link.client.scan_iter(match=link.prefix + "*")] if delete_keys else []
        if keys:
            await link.client.delete(*keys)
        await link.close()


@pytest.fixture
async def links() -> AsyncIterator[list[RedisLink]]:
    made = await _links(MACHINE_REDIS_URL)
    try:
        yield made
    finally:
        await _close(made)


async def taken_by_someone(link: RedisLink, chat_id: str) -> bool:
    """Whether another process could take the chat's lock now (it gives up at once if not)."""
    try:
        async with RedisChatLocks(link, wait_secs=NO_WAIT_SECS).hold(chat_id):
            return False
    except ChatLockTimeout:
        return True


async def test_a_holder_slower_than_the_lifetime_keeps_the_lock_by_renewing(links: list[RedisLink]) -> None:
    locks = RedisChatLocks(links[0], ttl_ms=SHORT_TTL_MS, renew_secs=SHORT_RENEW_SECS)
    key = links[0].key("lock", "chat", "c1")
    async with locks.hold("c1") as lease:
        await asyncio.sleep(3 * SHORT_TTL_MS / 1000)  # a slow write and commit: three lifetimes
        assert await links[0].client.get(key) == lease.token.encode()
        assert lease.held and lease.renewals > 0
        assert await taken_by_someone(links[1], "c1")
    assert not await taken_by_someone(links[1], "c1")  # released at the end, renewals stopped
    assert await links[0].client.get(key) is None


async def test_a_command_timeout_waits_for_the_lock_instead_of_going_without(tmp_path: Path) -> None:
    async with private_redis(tmp_path) as server:
        await _waits_through_a_pause(server)


async def _waits_through_a_pause(private_redis: RedisServer) -> None:
    first, second = made = await _links(private_redis.url)
    try:
        order: list[str] = []
        async with RedisChatLocks(first).hold("c1"):
            order.append("first in")
            await pause(private_redis, 1_000)  # every try of the waiter times out meanwhile

            async def waiter() -> None:
                async with RedisChatLocks(second).hold("c1") as lease:
                    assert lease.key  # a lease in Redis, not the in-process fallback
                    order.append("second in")

            waiting = asyncio.ensure_future(waiter())
            await asyncio.sleep(1.5)  # the pause, and then some: the waiter sees the lock taken
            order.append("first out")
        await asyncio.wait_for(waiting, timeout=30)
        assert order == ["first in", "first out", "second in"]
        assert second.up  # a timeout is not a link down: the other locks keep excluding
    finally:
        await _close(made, delete_keys=False)


async def test_a_lease_whose_renewals_get_no_answer_is_no_longer_held(tmp_path: Path) -> None:
    async with private_redis(tmp_path) as server:
        await _lease_runs_out_in_a_pause(server)


async def _lease_runs_out_in_a_pause(private_redis: RedisServer) -> None:
    made = await _links(private_redis.url, count=1)
    try:
        locks = RedisChatLocks(made[0], ttl_ms=SHORT_TTL_MS, renew_secs=SHORT_RENEW_SECS)
        async with locks.hold("c1") as lease:
            assert lease.held
            await pause(private_redis, 3 * SHORT_TTL_MS)
            # its known end passes without a renewal: what was read under it must not be written
            await wait_for(lambda: not lease.held, what="the lease to run out")
            assert made[0].up
    finally:
        await _close(made, delete_keys=False)


async def test_a_lease_found_taken_is_no_longer_held_and_not_released(links: list[RedisLink]) -> None:
    locks = RedisChatLocks(links[0], ttl_ms=SHORT_TTL_MS, renew_secs=SHORT_RENEW_SECS)
    key = links[0].key("lock", "chat", "c1")
    async with locks.hold("c1") as lease:
        await links[1].client.set(key, "another-holder", px=60_000)  # it expired and was taken meanwhile
        await wait_for(lambda: lease.lost, what="a renewal to find the lock taken")
        assert not lease.held
    assert await links[0].client.get(key) == b"another-holder"


async def test_a_retried_take_whose_first_answer_was_lost_holds_the_lock(links: list[RedisLink]) -> None:
    # the first try's SET went through but its answer timed out: the key holds this holder's token
    locks = RedisChatLocks(links[0])
    key = links[0].key("lock", "chat", "c1")
    await links[0].client.set(key, "tok", px=60_000)
    assert await locks.take_script(keys=[key], args=["tok", 5_000]) == 1  # the same token: it is ours
    assert 0 < await links[0].client.pttl(key) <= 5_000
    assert await locks.take_script(keys=[key], args=["other", 5_000]) == 0
