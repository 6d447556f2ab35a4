"""Exactly once across real processes (``tests.cluster``): a server-cursor poll answered by one node
whose commit is slowed past the chat lock's lifetime (its cursor update waits for the session's row,
which the test holds locked in PostgreSQL) is not answered again by the other node, where the
client's next poll lands meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from frontdesk.bus.redis_locks import LOCK_TTL_MS
from tests.cluster import cluster
from tests.test_cluster import GUARD_SECS, chat_with, closing, texts


async def test_a_poll_whose_commit_outlasts_the_lock_lifetime_is_not_delivered_again_by_another_node(
        tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        first, second = c.nodes
        anna = await first.agent("anna")
        customer, chat_id = await chat_with(first, anna, "device-1")
        on_second = second.customer("device-1")
        async with closing(anna, customer, on_second), asyncio.timeout(GUARD_SECS):
            await customer.poll(chat_id)  # the server cursor past what the chat's start sent
            await anna.send_message(chat_id, "once")
            row_lock = await asyncpg.connect(c.database_url)
            try:
                slowed = row_lock.transaction()
                await slowed.start()
                await row_lock.execute("SELECT 1 FROM sessions WHERE chat_id = $1 FOR UPDATE", chat_id)
                # the first node writes the answer, then its cursor update waits for the row
                assert texts(await customer.poll(chat_id)) == ["once"]
                again = asyncio.ensure_future(on_second.poll(chat_id))  # reads the old cursor: waits for the lock
                await asyncio.sleep(LOCK_TTL_MS / 1000 + 1.5)  # the commit stays slowed past the lifetime
                await slowed.rollback()
            finally:
                await row_lock.close()
            assert texts(await again) == []
            await anna.send_message(chat_id, "next")
            assert texts(await on_second.poll(chat_id)) == ["next"]
