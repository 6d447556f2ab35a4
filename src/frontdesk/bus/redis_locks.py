"""The per-chat delivery lock across processes: a lease per chat in Redis, renewed by its holder.

The key ``<prefix>lock:chat:<id>`` holds the holder's random token and lives ``ttl`` (``LOCK_TTL_MS``).

* **Taking it** is one script: ``SET NX PX`` — or, when the key already holds this holder's token, a
  renewal (a try whose answer was lost had taken it). A holder waits by trying again, every
  ``RETRY_FIRST_SECS`` doubling up to ``RETRY_MAX_SECS``, for at most ``wait_secs`` (longer than a
  dead holder's lease, so a crashed node never makes a waiter fail); beyond, ``ChatLockTimeout``.
* **Holding it**: the holder renews the lease every ``renew_secs`` (a third of the lifetime) for
  as long as it holds it, however long its answer takes (a lagging event loop, a slow PostgreSQL
  commit). The lease knows its end — the time the last successful take or renewal was *sent*,
  plus the lifetime — and ``Lease.held`` turns False once that passed, or once a renewal found
  the key gone or another's: the poll then withholds its answer (``{"events": []}``, no cursor
  moved) rather than write what another process may be answering too.
* **Releasing it** stops the renewals and deletes the key only while it holds this token. A
  release (or a take cut short) that gets no answer is tried again in the background; at worst
  the lease runs out by itself.
* **A process that dies** holding it blocks the chat for at most the lifetime.

A slow Redis never means "no lock": a command that times out (``CommandTimeout``) is tried again
until the deadline, and does not mark the link down. Only while the link is known down (a failed
connection; ``RedisLink.up`` is False until it answers again) does the lock fall back to the
in-process lock alone, logged by the link: the newest poll of a chat supersedes the others
through the bus, so two processes answering one chat then needs a client with two polls in
flight across them during the outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from frontdesk.bus.interfaces import ChatLockTimeout
from frontdesk.bus.redis import CommandTimeout, LinkDown, NoAnswer, RedisLink

LOCK_TTL_MS = 6_000
RENEW_SECS = LOCK_TTL_MS / 3 / 1000  # a holder stalled for two thirds of the lifetime keeps it
WAIT_SECS = 2 * LOCK_TTL_MS / 1000
RETRY_FIRST_SECS = 0.005
RETRY_MAX_SECS = 0.1
_TAKE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLease:
    """One holder's lease on a chat's lock (see the module's docstring)."""

    __slots__ = ("_locks", "_timer", "ends_at", "key", "lost", "renewals", "token")

    def __init__(self, locks: RedisChatLocks | None, key: str, token: str, ends_at: float) -> None:
        self._locks = locks
        self.key = key
        self.token = token
        self.ends_at = ends_at  # loop time; infinite for the in-process fallback
        self.lost = False  # a renewal found the key gone or another holder's
        self.renewals = 0
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def in_process(cls) -> RedisLease:
        """The fallback while the link is down: the in-process lock alone, held for the block."""
        return cls(None, "", "", math.inf)

    @property
    def held(self) -> bool:
        return not self.lost and asyncio.get_running_loop().time() < self.ends_at

    def keep(self, after: float | None = None) -> None:
        """Renew every ``renew_secs`` (the next time after ``after`` seconds) until ``stop``."""
        if self._locks is not None and not self.lost:
            delay = self._locks.renew_secs if after is None else after
            self._timer = asyncio.get_running_loop().call_later(delay, self._renew_now)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._locks = None  # a renewal in flight finishes; none follows

    def _renew_now(self) -> None:
        self._timer = None
        if self._locks is not None:
            self._locks.background(self._renew(self._locks))

    async def _renew(self, locks: RedisChatLocks) -> None:
        loop = asyncio.get_running_loop()
        sent = loop.time()
        try:
            renewed = await locks.link.call("lock", lambda: locks.renew_script(
                keys=[self.key], args=[self.token, locks.ttl_ms]))
        except CommandTimeout:
            self.keep(after=0.0)  # unknown, and the wait was long: the lease keeps its known end, try again now
            return
        except LinkDown:
            self.keep()  # the lease keeps its known end; Redis may be back by the next renewal
            return
        if not renewed:
            self.lost = True
            return
        self.ends_at = max(self.ends_at, sent + locks.ttl_ms / 1000)
        self.renewals += 1
        self.keep()


class RedisChatLocks:
    cross_process = True

    def __init__(self, link: RedisLink, ttl_ms: int = LOCK_TTL_MS, renew_secs: float = RENEW_SECS,
                 wait_secs: float = WAIT_SECS) -> None:
        self.link = link
        self.ttl_ms = ttl_ms
        self.renew_secs = renew_secs
        self.wait_secs = wait_secs
        client = link.client
        self.take_script = client.register_script(_TAKE)
        self.renew_script = client.register_script(_RENEW)
        self.release_script = client.register_script(_RELEASE)
        self._background: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def hold(self, chat_id: str) -> AsyncIterator[RedisLease]:
        key = self.link.key("lock", "chat", chat_id)
        token = secrets.token_hex(8)
        try:
            lease = await self._acquire(key, token)
        except BaseException:
            # a try whose answer was lost (or cut short by a cancel) may have taken it
            self.background(self._release(key, token))
            raise
        lease.keep()
        try:
            yield lease
        finally:
            lease.stop()
            if lease.key:
                try:
                    await self._release(key, token)
                except NoAnswer:
                    self.background(self._release(key, token))

    async def _acquire(self, key: str, token: str) -> RedisLease:
        """The lease once taken; the in-process fallback when the link is down."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_secs
        delay = RETRY_FIRST_SECS
        while True:
            sent = loop.time()
            try:
                taken = await self.link.call("lock", lambda: self.take_script(keys=[key], args=[token, self.ttl_ms]))
            except LinkDown:
                return RedisLease.in_process()
            except CommandTimeout:
                taken = 0  # perhaps taken: the next try, with the same token, tells
            if taken:
                return RedisLease(self, key, token, sent + self.ttl_ms / 1000)
            if loop.time() > deadline:
                raise ChatLockTimeout(key)
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX_SECS, delay * 2)

    async def _release(self, key: str, token: str) -> None:
        await self.link.call("unlock", lambda: self.release_script(keys=[key], args=[token]))

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` (a renewal, a release tried again) beside the caller, keeping it referenced
        until it ends; no answer from Redis is dropped."""
        task = asyncio.ensure_future(_quietly(work))
        self._background.add(task)
        task.add_done_callback(self._background.discard)


async def _quietly(work: Coroutine[Any, Any, None]) -> None:
    with contextlib.suppress(NoAnswer):
        await work
