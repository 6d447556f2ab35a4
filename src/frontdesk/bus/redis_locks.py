"""The per-chat delivery lock across processes: a short Redis lock per chat.

``SET <prefix>lock:chat:<id> <token> NX PX <ttl>`` takes it; a script deletes it only while it still
holds this holder's token. The lock guards the read, write and commit of one poll or history
answer (milliseconds). It expires by itself after ``LOCK_TTL_MS``, so a process that dies holding
it blocks the chat for at most that long. A holder waits for it by trying again every
``RETRY_SECS`` (answers are short; the poll's own in-process lock already queues this process's
contenders).

While Redis is unreachable the lock falls back to nothing beyond the in-process lock (logged by
the link): the newest poll of a chat supersedes the others through the bus, so two processes
answering one chat at once needs a lost supersede and a client with two polls in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from frontdesk.bus.interfaces import ChatLockTimeout
from frontdesk.bus.redis import LinkDown, RedisLink

LOCK_TTL_MS = 5_000
RETRY_SECS = 0.005
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisChatLocks:
    cross_process = True

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self._release = link.client.register_script(_RELEASE)

    @asynccontextmanager
    async def hold(self, chat_id: str) -> AsyncIterator[None]:
        key = self.link.key("lock", "chat", chat_id)
        token = secrets.token_hex(8)
        held = await self._acquire(key, token)
        try:
            yield
        finally:
            if held:
                with contextlib.suppress(LinkDown):  # else it expires by itself
                    await self.link.call("unlock", lambda: self._release(keys=[key], args=[token]))

    async def _acquire(self, key: str, token: str) -> bool:
        """True once held; False when Redis is unreachable (the in-process lock is all there is)."""
        loop = asyncio.get_running_loop()
        # a holder that died releases after the TTL; waiting longer than that means the lock
        # is being taken again and again by others: give up on it rather than starve
        deadline = loop.time() + 2 * LOCK_TTL_MS / 1000
        while True:
            try:
                taken = await self.link.call("lock", lambda: self.link.client.set(key, token, nx=True,
                                                                                  px=LOCK_TTL_MS))
            except LinkDown:
                return False
            if taken:
                return True
            if loop.time() > deadline:
                raise ChatLockTimeout(key)
            await asyncio.sleep(RETRY_SECS)
