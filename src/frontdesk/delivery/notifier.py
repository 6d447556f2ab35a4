"""Topic → waiting readers. The bus calls ``wake``; readers wait on an ``asyncio.Event``.

Readers register *before* they read the log, so a wake-up that lands between their read and their
wait is not lost: the event is already set when they start waiting.

``recheck_secs`` is how long a reader may trust the bus: None when wake-ups cannot be lost (the
in-process bus), else the period after which every waiting reader reads the log again even
without a wake-up (a cross-process bus loses what is published while a process is disconnected
from it). ``EVERY_TOPIC`` wakes every reader at once.
"""

from __future__ import annotations

import asyncio

from frontdesk.bus.interfaces import EVERY_TOPIC


class Notifier:
    def __init__(self, recheck_secs: float | None = None) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self.recheck_secs = recheck_secs

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
