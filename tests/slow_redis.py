"""A slow Redis for tests: a redis-server of the test's own (``tests.cluster.RedisServer``) whose
clients get no answer for a while (``CLIENT PAUSE``). The machine's Redis is never paused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import redis.asyncio as redis

from tests.cluster import RedisServer

COMMAND_TIMEOUT_SECS = 0.2  # the links of these tests give up on an answer this soon


@asynccontextmanager
async def private_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A running redis-server of the test's own, stopped afterwards."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def pause(server: RedisServer, millis: int) -> None:
    """Every client of ``server`` gets no answer for ``millis`` (a slow Redis)."""
    admin = redis.Redis.from_url(server.url)
    try:
        await admin.client_pause(millis)
    finally:
        await admin.aclose()
