"""In-process bus, chat locks and presence for the single-process deployment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from frontdesk.bus.interfaces import LapsedClaim, WakeListener


class LocalBus:
    cross_process = False

    def __init__(self) -> None:
        self._listeners: list[WakeListener] = []

    def publish(self, topic: str, seq: int) -> None:
        for listener in self._listeners:
            listener(topic, seq)

    def add_listener(self, listener: WakeListener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._listeners.clear()


class ProcessLease:
    """The lease of a lock that excludes nothing beyond this process: held while the block runs."""

    held = True


PROCESS_LEASE = ProcessLease()


class LocalChatLocks:
    """Nothing to exclude beyond this process: the poll's own per-chat ``asyncio.Lock`` suffices."""

    cross_process = False

    @asynccontextmanager
    async def hold(self, chat_id: str) -> AsyncIterator[ProcessLease]:
        yield PROCESS_LEASE


class LocalPresence:
    """One process: an agent is present while this process has a desktop of it."""

    def __init__(self) -> None:
        self._agents: set[str] = set()

    async def join(self, agent_id: str) -> None:
        self._agents.add(agent_id)

    async def leave(self, agent_id: str) -> bool:
        self._agents.discard(agent_id)
        return True

    async def present(self, agent_id: str) -> bool:
        return agent_id in self._agents

    async def claim_lapsed(self) -> list[LapsedClaim]:
        return []  # one process: its desktops' ``leave`` starts every release

    async def confirm_released(self, claim: LapsedClaim) -> None:
        return None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._agents.clear()
