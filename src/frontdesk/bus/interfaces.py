"""The bus interface. A lost wake-up costs latency, never an event: readers re-check the log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

WakeListener = Callable[[str, int], None]
"""Called with a topic (``chat:<id>``, ``agent:<id>``, ``tenant:<name>``) and a sequence number."""


class Bus(Protocol):
    def publish(self, topic: str, seq: int) -> None: ...
    def add_listener(self, listener: WakeListener) -> None: ...
    async def close(self) -> None: ...


def chat_topic(chat_id: str) -> str:
    return f"chat:{chat_id}"


def agent_topic(agent_id: str) -> str:
    return f"agent:{agent_id}"


def tenant_topic(tenant: str) -> str:
    return f"tenant:{tenant}"
