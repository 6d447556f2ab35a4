"""Topic → waiting readers. The bus calls ``wake``; readers wait on an ``asyncio.Event``.

Readers register *before* they read the log, so a wake-up that lands between their read and their
wait is not lost: the event is already set when they start waiting.

``recheck_secs`` is how long a reader may trust the bus: None when wake-ups cannot be lost (the
in-process bus), else the period after which waiting readers look at the log again even without
a wake-up (a cross-process bus loses what is published while a process is disconnected from it).
The notifier owns that timer for the held customer polls: ``run_rechecks`` calls every check
registered with ``on_recheck`` once per period — one query per process for all of its held polls
(``CustomerPolls.recheck_tails``), not one read per poll. ``EVERY_TOPIC`` wakes every reader at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from frontdesk.bus.interfaces import EVERY_TOPIC
from frontdesk.observability.logs import get_logger

log = get_logger(__name__)

Recheck = Callable[[], Awaitable[None]]


class Notifier:
    def __init__(self, recheck_secs: float | None = None) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self.recheck_secs = recheck_secs
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

    def wake(self, topic: str, seq: int = 0) -> None:
        if topic == EVERY_TOPIC:
            for waiters in list(self._waiters.values()):
                for event in list(waiters):
                    event.set()
            return
        for event in self._waiters.get(topic, ()):
            event.set()

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
