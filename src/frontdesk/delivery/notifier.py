"""Topic → waiting readers. The bus calls ``wake``; readers wait on an ``asyncio.Event``.

Readers register *before* they read the log, so a wake-up that lands between their read and their
wait is not lost: the event is already set when they start waiting.

``recheck_secs`` is how long a reader may trust the bus: None when wake-ups cannot be lost (the
in-process bus), else the period after which waiting readers look at the log again even without
a wake-up (a cross-process bus loses what is published while a process is disconnected from it).
The notifier owns that timer for the held customer polls: ``run_rechecks`` calls every check
registered with ``on_recheck`` once per period — one query per process for all of its held polls
(``CustomerPolls.recheck_tails``), not one read per poll. ``EVERY_TOPIC`` wakes every reader at once.

``woken_at`` says when a reader's event was set by a wake-up of its topic (``clock``, monotonic): the
latest wake-up that found it waiting, kept until it unsubscribes. A poll answer's delivery lag, which
the overload guard watches, is counted from there (``frontdesk.api.overload``). A wake-up of every
reader stamps nothing: it is not an event for each of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from frontdesk.bus.interfaces import EVERY_TOPIC
from frontdesk.observability.logs import get_logger

log = get_logger(__name__)

Recheck = Callable[[], Awaitable[None]]


class Notifier:
    def __init__(self, recheck_secs: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._woken: dict[asyncio.Event, float] = {}  # reader's event → when a wake-up set it
        self.recheck_secs = recheck_secs
        self.clock = clock
        self._rechecks: list[Recheck] = []

    def subscribe(self, topic: str, event: asyncio.Event | None = None) -> asyncio.Event:
        event = event if event is not None else asyncio.Event()
        self._waiters.setdefault(topic, set()).add(event)
        return event

    def unsubscribe(self, topic: str, event: asyncio.Event) -> None:
        waiters = self._waiters.get(topic)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[topic]
        self._woken.pop(event, None)

    def wake(self, topic: str, seq: int = 0) -> None:
        if topic == EVERY_TOPIC:
            for waiters in list(self._waiters.values()):
                for event in list(waiters):
                    event.set()
            return
        readers = self._waiters.get(topic)
        if not readers:
            return
        now = self.clock()
        for event in readers:
            if not event.is_set():
                self._woken[event] = now
                event.set()

    def woken_at(self, event: asyncio.Event) -> float | None:
        """When a wake-up of its topic last set ``event`` while it was clear (None: never since it
        subscribed). A reader that consumed a wake-up and waits again keeps the old stamp until the next."""
        return self._woken.get(event)

    @property
    def topic_count(self) -> int:
        return len(self._waiters)

    def on_recheck(self, check: Recheck) -> None:
        """Run ``check`` once every ``recheck_secs`` (while ``run_rechecks`` runs)."""
        self._rechecks.append(check)

    async def run_rechecks(self, stop: asyncio.Event) -> None:
        """The re-check timer of a cross-process bus: every ``recheck_secs`` until ``stop`` is
        set, each registered check once, one after the other. A failing check (the database
        unreachable for a moment) is logged and tried again next period. Without
        ``recheck_secs`` (nothing can be lost) it returns at once."""
        every = self.recheck_secs
        if every is None:
            return
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
            if stop.is_set():
                return
            for check in self._rechecks:
                try:
                    await check()
                except Exception as exc:
                    log.warning("re-check of held readers failed; trying again next period",
                                error=f"{type(exc).__name__}: {exc}")
