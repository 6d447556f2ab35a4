"""The supervisor live stream: the tenant overview, computed once per tenant change and fanned out
to every open supervisor socket of the tenant.

For each tenant with at least one open socket one task (``_TenantFeed``) waits on the tenant's
wake-up topic (``tenant:<name>``, published by every action that changes queues, agents or
chats). When it wakes it computes the overview once, and hands it to every socket of the tenant
when it differs from the last one sent. Pushes are coalesced: after a computation the task waits
``coalesce_secs`` before it looks at the topic again, so a burst of changes costs one computation
per window, whatever the number of sockets. A lost wake-up (another node, a restart of the bus)
costs latency only: with no wake-up the task re-computes every ``recheck_secs``.

A socket holds only the newest overview it has not sent yet: a slow socket skips stale overviews
instead of queueing them (the bound of its backlog is one overview).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from frontdesk.bus.interfaces import agent_topic, tenant_topic
from frontdesk.delivery.notifier import Notifier
from frontdesk.observability.logs import get_logger
from frontdesk.storage.records import JsonObject

log = get_logger(__name__)

COALESCE_SECS = 0.5  # at most one overview per tenant per this many seconds
RECHECK_SECS = 5.0  # re-compute this often without a wake-up (a lost wake-up costs at most this)
PING_SECS = 20.0  # a keep-alive after this long without any message

Compute = Callable[[str], Awaitable[JsonObject]]
Send = Callable[[JsonObject], Awaitable[None]]
SessionOpen = Callable[[], Awaitable[bool]]


class _Viewer:
    """One open socket: the newest overview not yet sent, and whether its own agent topic woke."""

    def __init__(self) -> None:
        self.pending: JsonObject | None = None
        self.agent_woke = False
        self.wake = asyncio.Event()

    def offer(self, overview: JsonObject) -> None:
        self.pending = overview
        self.wake.set()

    def take(self) -> JsonObject | None:
        overview, self.pending = self.pending, None
        return overview


class _AgentMark(asyncio.Event):
    """Set by the notifier when the supervisor's own topic wakes (a state change, a logout)."""

    def __init__(self, viewer: _Viewer) -> None:
        super().__init__()
        self._viewer = viewer

    def set(self) -> None:
        self._viewer.agent_woke = True
        self._viewer.wake.set()


class _TenantFeed:
    def __init__(self) -> None:
        self.viewers: set[_Viewer] = set()
        self.last: JsonObject | None = None
        self.task: asyncio.Task[None] | None = None


class SupervisorFeed:
    """Open supervisor sockets by tenant, and the one overview computation per tenant behind them."""

    def __init__(self, notifier: Notifier, compute: Compute, coalesce_secs: float = COALESCE_SECS,
                 recheck_secs: float = RECHECK_SECS, ping_secs: float = PING_SECS) -> None:
        self.notifier = notifier
        self._compute = compute
        self.coalesce_secs = coalesce_secs
        # a cross-process bus may lose wake-ups: re-compute at least as often as its readers re-check
        self.recheck_secs = min(recheck_secs, notifier.recheck_secs) if notifier.recheck_secs else recheck_secs
        self.ping_secs = ping_secs
        self.computations = 0  # overviews computed since start (one per tenant change, not per socket)
        self._feeds: dict[str, _TenantFeed] = {}

    @property
    def open_sockets(self) -> int:
        return sum(len(feed.viewers) for feed in self._feeds.values())

    async def run(self, tenant: str, agent_id: str, send: Send, stop: asyncio.Event,
                  session_open: SessionOpen) -> bool:
        """Stream the tenant's overviews (and keep-alive pings) to one socket until ``stop`` is set;
        returns False when the supervisor's session ended meanwhile (``session_open`` answered
        False after its agent topic woke, or at a keep-alive), True otherwise."""
        viewer = _Viewer()
        mark = _AgentMark(viewer)
        self.notifier.subscribe(agent_topic(agent_id), mark)
        self._join(tenant, viewer)
        try:
            while not stop.is_set():
                viewer.wake.clear()
                overview = viewer.take()
                if overview is not None:
                    await send({"type": "overview", "overview": overview})
                if viewer.agent_woke:
                    viewer.agent_woke = False
                    if not await session_open():
                        return False
                if viewer.pending is not None or viewer.agent_woke:
                    continue
                if not await self._wait(viewer.wake, stop):
                    if not await session_open():
                        return False
                    await send({"type": "ping"})
            return True
        finally:
            self._leave(tenant, viewer)
            self.notifier.unsubscribe(agent_topic(agent_id), mark)

    async def _wait(self, wake: asyncio.Event, stop: asyncio.Event) -> bool:
        """Wait for ``wake`` or ``stop``; False when ``ping_secs`` passed with neither."""
        stop_task = asyncio.ensure_future(stop.wait())
        wake_task = asyncio.ensure_future(wake.wait())
        try:
            done, _ = await asyncio.wait((stop_task, wake_task), timeout=self.ping_secs,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_task.cancel()
            wake_task.cancel()
        return bool(done)

    def _join(self, tenant: str, viewer: _Viewer) -> None:
        feed = self._feeds.setdefault(tenant, _TenantFeed())
        feed.viewers.add(viewer)
        if feed.last is not None:
            viewer.offer(feed.last)  # the overview at once; the feed pushes the next change
        if feed.task is None:
            feed.task = asyncio.ensure_future(self._follow(tenant, feed))

    def _leave(self, tenant: str, viewer: _Viewer) -> None:
        feed = self._feeds.get(tenant)
        if feed is None:
            return
        feed.viewers.discard(viewer)
        if not feed.viewers:
            del self._feeds[tenant]
            if feed.task is not None:
                feed.task.cancel()

    async def _follow(self, tenant: str, feed: _TenantFeed) -> None:
        """Compute the overview when the tenant wakes (or every ``recheck_secs``), at most once per
        ``coalesce_secs``, and hand it to the tenant's sockets when it changed."""
        signal = self.notifier.subscribe(tenant_topic(tenant))
        try:
            while feed.viewers:
                signal.clear()  # a wake-up during the computation is kept for the next pass
                self.computations += 1
                try:
                    overview = await self._compute(tenant)
                except Exception:
                    log.exception("supervisor overview failed", tenant=tenant)
                else:
                    if overview != feed.last:
                        feed.last = overview
                        for viewer in feed.viewers:
                            viewer.offer(overview)
                await asyncio.sleep(self.coalesce_secs)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, self.recheck_secs - self.coalesce_secs)):
                        await signal.wait()
        finally:
            self.notifier.unsubscribe(tenant_topic(tenant), signal)

    async def close(self) -> None:
        """Stop every tenant's task (server shutdown)."""
        feeds, self._feeds = list(self._feeds.values()), {}
        for feed in feeds:
            if feed.task is not None:
                feed.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feed.task
