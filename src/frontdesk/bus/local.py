"""In-process bus for the single-process deployment."""

from __future__ import annotations

from frontdesk.bus.interfaces import WakeListener


class LocalBus:
    def __init__(self) -> None:
        self._listeners: list[WakeListener] = []

    def publish(self, topic: str, seq: int) -> None:
        for listener in self._listeners:
            listener(topic, seq)

    def add_listener(self, listener: WakeListener) -> None:
        self._listeners.append(listener)

    async def close(self) -> None:
        self._listeners.clear()
