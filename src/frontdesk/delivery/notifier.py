"""Topic → waiting readers. The bus calls ``wake``; readers wait on an ``asyncio.Event``.

Readers register *before* they read the log, so a wake-up that lands between their read and their
wait is not lost: the event is already set when they start waiting.
"""

from __future__ import annotations

import asyncio


class Notifier:
    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = {}

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
        for event in self._waiters.get(topic, ()):
            event.set()

    @property
    def topic_count(self) -> int:
        return len(self._waiters)
