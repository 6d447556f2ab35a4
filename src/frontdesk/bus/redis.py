"""Redis: wake-ups between the processes of one deployment, and the connection the chat locks
(``frontdesk.bus.redis_locks``) and the agents' presence (``frontdesk.bus.redis_presence``) share.

Wake-ups travel on one pub/sub channel per deployment, ``<prefix>wake``. ``publish`` hands a
wake-up to this process's listeners at once and queues it for Redis; a background task sends the
queue in batches (one PUBLISH carries many wake-ups). Every process receives every batch and hands
the wake-ups of the other processes to its listeners: the cost follows the deployment's traffic,
not the number of chats or of subscribers.

Redis pub/sub delivers at most once: what is published while a process is disconnected is gone for
it. So the log in the database stays the truth: with a cross-process bus every reader re-checks it
every ``recheck_secs`` (``frontdesk.delivery.notifier``), and after each (re)connect the bus wakes
``EVERY_TOPIC`` for its own listeners. Losing Redis is logged once per outage (without the URL's
password); both tasks reconnect by themselves, waiting ``BACKOFF_FIRST_SECS`` doubling up to
``BACKOFF_MAX_SECS`` between tries. While the link is down ``RedisLink.up`` is False and the locks
and the presence fall back to this process's own view instead of waiting on timeouts.

Only a failed connection marks the link down. A command that gets no answer within
``COMMAND_TIMEOUT_SECS`` (a slow Redis, or this process's event loop lagging under overload) raises
``CommandTimeout`` and leaves the link up: the command may well have run, and a link that died
silently is noticed by the subscription's PING. Callers that only want an answer or nothing catch
``NoAnswer`` (both); the chat locks tell them apart (``frontdesk.bus.redis_locks``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from frontdesk.bus.interfaces import EVERY_TOPIC, WakeListener

log = logging.getLogger(__name__)

BACKOFF_FIRST_SECS = 0.2
BACKOFF_MAX_SECS = 5.0
CONNECT_TIMEOUT_SECS = 2.0
COMMAND_TIMEOUT_SECS = 2.0
HEALTH_CHECK_SECS = 5  # the subscription sends a PING when idle this long (a dead link is noticed)
POLL_SECS = 0.5  # the subscription looks at the link this often when no message comes
MAX_QUEUED = 100_000  # wake-ups waiting for Redis; beyond, the oldest are dropped (readers re-check)
MAX_BATCH = 1_000  # wake-ups per PUBLISH

LINK_ERRORS = (RedisError, OSError)
# redis-py's own, and asyncio's (the builtin TimeoutError, an OSError) should one get through
TIMEOUT_ERRORS = (RedisTimeoutError, TimeoutError)


def redacted(url: str) -> str:
    """The URL without its user and password, for log lines."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def backoff(failures: int) -> float:
    """Seconds to wait before the next try after ``failures`` failed ones in a row."""
    return float(min(BACKOFF_MAX_SECS, BACKOFF_FIRST_SECS * 2 ** max(0, failures - 1)))


class RedisLink:
    """One deployment's Redis: a command client, its key prefix, this process's node id, and
    whether the link is up (kept by the bus's subscription)."""

    def __init__(self, url: str, prefix: str, node_id: str = "",
                 command_timeout_secs: float = COMMAND_TIMEOUT_SECS) -> None:
        self.url = url
        self.prefix = prefix
        self.node_id = node_id or secrets.token_hex(6)
        self.client: redis.Redis = redis.Redis.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT_SECS, socket_timeout=command_timeout_secs,
            retry=Retry(NoBackoff(), 1))  # one retry: a pooled connection may predate a Redis restart
        self.up = False
        self.up_since = 0.0  # loop time the link last came up
        self._down_logged = False

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def subscriber(self) -> redis.Redis:
        """A client for the subscription: no read timeout (it waits for messages), health checks."""
        return redis.Redis.from_url(self.url, socket_connect_timeout=CONNECT_TIMEOUT_SECS,
                                    health_check_interval=HEALTH_CHECK_SECS, retry=Retry(NoBackoff(), 0))

    def mark_up(self) -> None:
        if not self.up:
            log.info("redis %s connected (node %s)", redacted(self.url), self.node_id)
            self.up_since = time.monotonic()
        self.up = True
        self._down_logged = False

    def mark_down(self, what: str, exc: BaseException) -> None:
        """Record a failed use of the link; logged once per outage."""
        self.up = False
        if not self._down_logged:
            self._down_logged = True
            log.warning("redis %s unreachable (%s: %s): falling back to re-checking the log until it is back",
                        redacted(self.url), what, type(exc).__name__)

    async def call(self, what: str, command: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``command`` when the link is up. Raises ``LinkDown`` when it is down or the connection
        just failed (then it is marked down), ``CommandTimeout`` when no answer came in time (the
        link stays up)."""
        if not self.up:
            raise LinkDown(what)
        try:
            return await command()
        except TIMEOUT_ERRORS as exc:
            raise CommandTimeout(what) from exc
        except LINK_ERRORS as exc:
            self.mark_down(what, exc)
            raise LinkDown(what) from exc

    async def close(self) -> None:
        await self.client.aclose()


STOP_RETRY_SECS = 1.0  # how long a cancelled loop may take to end before it is cancelled again


async def stop_loop(task: asyncio.Task[Any]) -> None:
    """Cancel ``task``, a loop that runs Redis commands and carries on after their errors, and wait
    until it has ended. A cancellation that arrives inside a command can come out of the client as
    one of its own errors (a command whose timeout expires as it arrives: Python 3.11's
    ``asyncio.timeout`` then raises ``TimeoutError``), which such a loop takes for a failed command
    and survives; so the task is cancelled again every ``STOP_RETRY_SECS`` until it ends. The
    task's own exception, if it failed, is raised here."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=STOP_RETRY_SECS)
    if not task.cancelled():
        task.result()


class NoAnswer(Exception):
    """A command got no answer from Redis (``LinkDown`` or ``CommandTimeout``)."""


class LinkDown(NoAnswer):
    """Redis is not reachable now; the caller falls back to this process's own view."""


class CommandTimeout(NoAnswer):
    """No answer within ``COMMAND_TIMEOUT_SECS``: the command may or may not have run, and the
    link is still taken as up."""


class RedisBus:
    """Wake-ups across the processes of a deployment (see the module's docstring)."""

    cross_process = True

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self.channel = link.key("wake")
        self._listeners: list[WakeListener] = []
        self._queue: deque[tuple[str, int]] = deque(maxlen=MAX_QUEUED)
        self._queued = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.connects = 0  # subscriptions made since start (the first one and every reconnect)

    def publish(self, topic: str, seq: int) -> None:
        self._deliver(topic, seq)
        self._queue.append((topic, seq))
        self._queued.set()

    def add_listener(self, listener: WakeListener) -> None:
        self._listeners.append(listener)

    def _deliver(self, topic: str, seq: int) -> None:
        for listener in self._listeners:
            try:
                listener(topic, seq)
            except Exception:
                log.exception("wake-up listener failed on %s", topic)

    async def start(self) -> None:
        self._tasks = [asyncio.ensure_future(self._subscribe()), asyncio.ensure_future(self._send())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            await stop_loop(task)
        self._tasks = []
        self._listeners.clear()

    async def _send(self) -> None:
        """Send queued wake-ups in batches; while the link is down they are dropped (each reader
        re-checks the log on its timer, and every process wakes everything when it reconnects)."""
        while True:
            await self._queued.wait()
            self._queued.clear()
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
                if not self.link.up:
                    continue
                with contextlib.suppress(NoAnswer):
                    await self._publish(orjson.dumps([self.link.node_id, batch]))

    async def _publish(self, message: bytes) -> None:
        await self.link.call("publish", lambda: self.link.client.publish(self.channel, message))

    async def _subscribe(self) -> None:
        failures = 0
        while True:
            client = self.link.subscriber()
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                failures = 0
                self.connects += 1
                self.link.mark_up()
                self._deliver(EVERY_TOPIC, 0)  # whatever was published meanwhile was missed
                loop = asyncio.get_running_loop()
                heard = pinged = probed = loop.time()
                while True:
                    message = await pubsub.get_message(timeout=POLL_SECS)
                    now = loop.time()
                    if not self.link.up and now - probed >= POLL_SECS:
                        # also while messages keep coming (the other processes' traffic): a busy
                        # channel must not keep this process's link marked down
                        probed = now
                        await self._probe()
                    if message is not None:
                        heard = now  # a message or the answer to a PING
                        if message.get("type") == "message":
                            self._received(message["data"])
                        continue
                    if now - heard > 3 * HEALTH_CHECK_SECS:
                        raise ConnectionError("no answer to PING")  # a link that died silently
                    if now - pinged > HEALTH_CHECK_SECS:
                        pinged = now
                        await pubsub.ping()
            except LINK_ERRORS as exc:
                failures += 1
                self.link.mark_down("subscribe", exc)
            finally:
                with contextlib.suppress(*LINK_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                with contextlib.suppress(*LINK_ERRORS):
                    await client.aclose()
            await asyncio.sleep(backoff(failures))

    async def _probe(self) -> None:
        """A command failed while the subscription lives: the link is up again once a PING on the
        command client answers."""
        with contextlib.suppress(*LINK_ERRORS):
            await self.link.client.ping()
            self.link.mark_up()

    def _received(self, data: bytes) -> None:
        try:
            node, batch = orjson.loads(data)
            if node == self.link.node_id:
                return  # this process's own, already delivered
            for topic, seq in batch:
                self._deliver(str(topic), int(seq))
        except (ValueError, TypeError):
            log.warning("malformed message on %s ignored", self.channel)
