"""The bus interface. A lost wake-up costs latency, never an event: readers re-check the log.

Besides the wake-ups of session logs (``chat:``, ``agent:``, ``tenant:``) the bus carries two
notices between the processes of one deployment: ``poll:<chat id>`` (a newer long poll of the chat
started somewhere; ``seq`` is that poll's id) and ``config`` (an applied configuration was stored;
``seq`` is its version). ``EVERY_TOPIC`` is a wake-up of every topic at once, published to a
process's own listeners when its bus (re)connects: anything may have been missed meanwhile.

Two more cross-process services live beside the bus: ``ChatLocks`` (the per-chat delivery lock of
the long poll and history reads) and ``Presence`` (which agents have a desktop open on some node).
Each has an in-process implementation (``frontdesk.bus.local``) and a Redis one.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

WakeListener = Callable[[str, int], None]
"""Called with a topic (``chat:<id>``, ``agent:<id>``, ``tenant:<name>``) and a sequence number."""

EVERY_TOPIC = "*"
CONFIG_TOPIC = "config"


class Bus(Protocol):
    @property
    def cross_process(self) -> bool:
        """Whether wake-ups travel between processes (and so may be lost on the way)."""
        ...

    def publish(self, topic: str, seq: int) -> None:
        """Tell this process's listeners at once, and the other processes' as soon as possible."""
        ...

    def add_listener(self, listener: WakeListener) -> None: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...


class Lease(Protocol):
    """What ``ChatLocks.hold`` yields: the holder's claim on the chat."""

    @property
    def held(self) -> bool:
        """Whether the chat is still this holder's alone. False once a cross-process lease ran out
        without a renewal or was found taken: whatever was read under it must not be written now."""
        ...


class ChatLocks(Protocol):
    """A per-chat mutual exclusion that holds across the deployment's processes."""

    @property
    def cross_process(self) -> bool: ...

    def hold(self, chat_id: str) -> AbstractAsyncContextManager[Lease]:
        """Wait for the chat's lock and hold it for the block; raises ``ChatLockTimeout`` when it
        cannot be had in time."""
        ...


class ChatLockTimeout(Exception):
    """A chat's lock could not be taken in time: others held it far beyond the time one answer
    takes, or Redis answered too slowly. The request fails like a storage outage (customer API
    ``5001``, agent API 503 with ``Retry-After``); nothing was read or moved."""


@dataclass(frozen=True, slots=True)
class LapsedClaim:
    """One agent claimed by ``Presence.claim_lapsed``; ``claim_id`` tells this claim from a later one
    of the same agent (only this claim's confirmation ends it)."""

    agent_id: str
    claim_id: str


class Presence(Protocol):
    """Which agents have a desktop (WebSocket) open on some process of the deployment."""

    async def join(self, agent_id: str) -> None:
        """This process opened its first desktop of the agent."""
        ...

    async def leave(self, agent_id: str) -> bool:
        """This process closed its last desktop of the agent; True when no process has one now."""
        ...

    async def present(self, agent_id: str) -> bool:
        """Whether any process holds a desktop of the agent (an unknown answer counts as this
        process's own view)."""
        ...

    async def claim_lapsed(self) -> list[LapsedClaim]:
        """Claim the agents whose every desktop lease ran out without a ``leave`` (their process
        died or lost the bus), to start their release.

        At least once: a claim holds an agent for a short lease only. The caller starts the release
        durably (the "agent lost" timer committed), then ``confirm_released``; a claim not confirmed
        within its lease (its answer was lost, the caller failed or died) is offered again to any
        caller, unless a desktop of the agent came back meanwhile. So the release must be idempotent.
        While a claim holds, no other caller gets the agent."""
        ...

    async def confirm_released(self, claim: LapsedClaim) -> None:
        """The claim's release has durably started (or there was nothing to release): it ends here.
        A confirmation that gets no answer is harmless: the claim is offered again later."""
        ...

    async def start(self) -> None: ...
    async def close(self) -> None: ...


def chat_topic(chat_id: str) -> str:
    return f"chat:{chat_id}"


def agent_topic(agent_id: str) -> str:
    return f"agent:{agent_id}"


def tenant_topic(tenant: str) -> str:
    return f"tenant:{tenant}"


def poll_topic(chat_id: str) -> str:
    return f"poll:{chat_id}"
