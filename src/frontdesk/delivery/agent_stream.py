"""Fan-out of session logs to an agent's WebSocket.

Each connection keeps a cursor per chat it follows. A wake-up of a followed chat sends that chat's
new agent-audience events only; the snapshot (offers, invitations, chats) is read again when the
agent's own topic woke or when the events sent change a chat's summary (status, parties, case,
end), and sent when it changed. A message costs one read of its chat, not of every chat. A chat
the agent no longer holds is followed until its last events were sent, so ``party_left`` and
``chat_session_ended`` always arrive. A reconnecting client passes its cursors in its ``hello``
and resumes without gaps or repeats.

The stream is bound to the credential (token or browser session) that opened it: every pass checks
it is still alive, inside the same read as the snapshot it would send, and raises ``SessionEnded``
once it is not (logout, a supervisor forcing ``logged_out``, expiry, a reload removing the agent) —
so nothing of a later login ever reaches a socket of an earlier one.

Presence (``frontdesk.bus.interfaces.Presence``): the agent is present while any process of the
deployment has a connection of it. This process's first connection of an agent joins, its last
one leaves; only when no process has one left is the "agent lost" timer set. ``release_lapsed``
sets it for the agents whose process died (their leases ran out), at least once: each claim is
confirmed only after the timer is committed, so a claim whose answer was lost or whose release
failed is offered again (``Presence.claim_lapsed``), and setting the timer again is a no-op
(``AgentService.desktops_lapsed``). With a cross-process bus a stream also reads its chats and
snapshot again every ``notifier.recheck_secs`` without a wake-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from frontdesk.bus.interfaces import Presence, agent_topic, chat_topic
from frontdesk.bus.local import LocalPresence
from frontdesk.delivery.notifier import Notifier
from frontdesk.domain.access import credential_alive
from frontdesk.domain.agents import AgentService
from frontdesk.domain.lifecycle import OFFER_TIMEOUT
from frontdesk.domain.roles import is_supervisor
from frontdesk.observability.logs import get_logger
from frontdesk.protocol import events as ev
from frontdesk.storage.records import Audience, JsonObject, SessionRecord

log = get_logger(__name__)

MAX_EVENTS_PER_READ = 500
AGENT_KEY = ""  # the agent's own topic among the woken keys (chat ids are never empty)
# events after which a chat's summary in the snapshot may differ (state, parties, case, invitations)
SNAPSHOT_EVENTS = frozenset({ev.STATUS, ev.PARTY_JOINED, ev.PARTY_LEFT, ev.ENDED, ev.CASE_SET,
                             "frontdesk_invited", "frontdesk_invitation_declined", "frontdesk_transferred"})


class _Mark(asyncio.Event):
    """The event the notifier sets for one topic: it records which topic woke the stream."""

    def __init__(self, key: str, woken: set[str], wake: asyncio.Event) -> None:
        super().__init__()
        self._key, self._woken, self._wake = key, woken, wake

    def set(self) -> None:
        self._woken.add(self._key)
        self._wake.set()

Send = Callable[[JsonObject], Awaitable[None]]


class SessionEnded(Exception):
    """The credential the stream was opened with has been revoked or has expired."""


def session_summary(session: SessionRecord) -> JsonObject:
    return {"chat_id": session.chat_id, "state": session.state, "app_id": session.app_id,
            "client_kind": session.client_kind, "created_at": session.created_at, "last_seq": session.last_seq,
            "parameters": session.parameters, "from": session.from_, "phone_number": session.phone_number,
            "case_id": session.case_id}


def _stable(snapshot: JsonObject | None) -> JsonObject | None:
    """The snapshot without its ``server_time``: a snapshot is sent again only when this changed."""
    return None if snapshot is None else {k: v for k, v in snapshot.items() if k != "server_time"}


class AgentStream:
    def __init__(self, agents: AgentService, notifier: Notifier, presence: Presence | None = None) -> None:
        self.agents = agents
        self.notifier = notifier
        self.presence: Presence = presence or LocalPresence()
        self._desktops: dict[str, int] = {}  # open connections per agent, in this process

    async def run(self, agent_id: str, credential_hash: str, send: Send, cursors: dict[str, int],
                  stop: asyncio.Event) -> None:
        """Stream until ``stop`` (or ``SessionEnded``); the agent counts as present while any of its
        connections runs."""
        self._desktops[agent_id] = self._desktops.get(agent_id, 0) + 1
        if self._desktops[agent_id] == 1:
            await self.presence.join(agent_id)
            await self.agents.desktop_connected(agent_id)
        try:
            await self._stream(agent_id, credential_hash, send, cursors, stop)
        finally:
            self._desktops[agent_id] -= 1
            if self._desktops[agent_id] == 0:
                del self._desktops[agent_id]
                if await self.presence.leave(agent_id):
                    await self.agents.desktop_lost(agent_id)

    async def release_lapsed(self) -> list[str]:
        """Start the release (the "agent lost" timer) of the agents whose desktops' process died;
        returns the agents this call claimed and confirmed.

        A claim is confirmed only once its release is committed, or once there is nothing to
        release (a desktop of the agent is open here or on another process again). A release that
        fails is logged and left unconfirmed: the claim is offered again, to any process, when its
        lease ends; the claims after it are still released in this call."""
        confirmed = []
        for claim in await self.presence.claim_lapsed():
            agent_id = claim.agent_id
            try:
                if agent_id not in self._desktops and not await self.presence.present(agent_id):
                    await self.agents.desktops_lapsed(agent_id)
            except Exception:
                log.exception("releasing the agent of a lost process failed: offered again later", agent=agent_id)
                continue
            await self.presence.confirm_released(claim)
            confirmed.append(agent_id)
        return confirmed

    async def _stream(self, agent_id: str, credential_hash: str, send: Send, cursors: dict[str, int],
                      stop: asyncio.Event) -> None:
        wake = asyncio.Event()
        woken: set[str] = set()  # topics that woke since the last pass: AGENT_KEY or chat ids
        followed: dict[str, int] = dict(cursors)
        marks: dict[str, _Mark] = {}
        own = _Mark(AGENT_KEY, woken, wake)
        own_topic = agent_topic(agent_id)
        self.notifier.subscribe(own_topic, own)
        last_snapshot: JsonObject | None = None
        held: set[str] = set()
        monitored: set[str] = set()
        monitored_before: set[str] = set()
        refresh = True
        to_read: set[str] = set(followed)
        try:
            while not stop.is_set():
                wake.clear()
                pending = set(woken)
                woken.clear()
                if AGENT_KEY in pending:
                    refresh = True
                if not refresh:  # (the snapshot's read checks it otherwise)
                    await self._check(credential_hash)
                if refresh:
                    refresh = False
                    snapshot, held = await self._snapshot(agent_id, credential_hash)
                    if _stable(snapshot) != _stable(last_snapshot):
                        await send(snapshot)
                        last_snapshot = snapshot
                    monitored_before, monitored = monitored, set(snapshot.get("monitoring", ()))
                    for chat_id in held | monitored:
                        followed.setdefault(chat_id, 0)
                    # new chats, and chats no longer held or monitored (their last events go out now)
                    to_read |= {c for c in followed if c not in marks or (c not in held and c not in monitored)}
                to_read |= pending & followed.keys()
                for chat_id in sorted(to_read):
                    if chat_id not in followed:
                        continue
                    if chat_id not in marks:
                        marks[chat_id] = _Mark(chat_id, woken, wake)
                        self.notifier.subscribe(chat_topic(chat_id), marks[chat_id])
                    # a chat a supervisor monitors (and is not in) is read as supervisors read it
                    audience = Audience.SUPERVISORS if chat_id in monitored or (
                        chat_id not in held and chat_id in monitored_before) else Audience.AGENTS
                    followed[chat_id], names = await self._send_events(chat_id, followed[chat_id], send, audience)
                    if names & SNAPSHOT_EVENTS:
                        refresh = True  # the chat's state, parties or case changed: the snapshot too
                    # the snapshot was read before these events, so a chat that is no longer held
                    # (or monitored) has just had its last events for this agent (its party_left) sent
                    if chat_id not in held and chat_id not in monitored:
                        del followed[chat_id]
                        self.notifier.unsubscribe(chat_topic(chat_id), marks.pop(chat_id))
                to_read = set()
                if refresh or woken:
                    continue
                stop_task = asyncio.ensure_future(stop.wait())
                wake_task = asyncio.ensure_future(wake.wait())
                try:
                    done, _ = await asyncio.wait((stop_task, wake_task), timeout=self.notifier.recheck_secs,
                                                 return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stop_task.cancel()
                    wake_task.cancel()
                if not done:  # a wake-up may have been lost on the way: read everything again
                    woken.add(AGENT_KEY)
                    woken.update(followed)
        finally:
            self.notifier.unsubscribe(own_topic, own)
            for chat_id, mark in marks.items():
                self.notifier.unsubscribe(chat_topic(chat_id), mark)

    async def _check(self, credential_hash: str) -> None:
        async with self.agents.journal.read(snapshot=False) as tx:
            if not await credential_alive(tx, credential_hash, self.agents.journal.clock.now()):
                raise SessionEnded

    async def _snapshot(self, agent_id: str, credential_hash: str) -> tuple[JsonObject, set[str]]:
        async with self.agents.journal.read() as tx:
            if not await credential_alive(tx, credential_hash, self.agents.journal.clock.now()):
                raise SessionEnded
            agent = await tx.agents.get(agent_id)
            held = await tx.sessions.list_for_agent(agent_id)
            connecting = await tx.sessions.list_in_state(agent.tenant, ("connecting",)) if agent else []
            active = await tx.sessions.list_with_invitations(agent.tenant) if agent else []
            # the chats a supervisor monitors, until they end
            monitoring = [c for c in await tx.monitors.chats_of(agent_id)
                          if (s := await tx.sessions.get(c)) is not None and not s.terminal] \
                if is_supervisor(agent) else []
            offers = []
            for s in connecting:
                if s.offered_agent_id == agent_id:
                    timer = await tx.timers.get(s.chat_id, OFFER_TIMEOUT)
                    offers.append({**session_summary(s), "offer_expires_at": timer.due_at if timer else None})
        invitations = [session_summary(s) for s in active if agent_id in s.invited_agents]
        snapshot: JsonObject = {
            "type": "snapshot",
            "server_time": self.agents.journal.clock.now(),
            "agent": {"agent_id": agent_id, "state": agent.state if agent else "logged_out"},
            "offers": offers,
            "invitations": invitations,
            "chats": [{k: v for k, v in session_summary(s).items() if k != "last_seq"} for s in held],
        }
        if is_supervisor(agent):
            snapshot["monitoring"] = monitoring
        return snapshot, {s.chat_id for s in held}

    async def _send_events(self, chat_id: str, cursor: int, send: Send,
                           audience: Audience = Audience.AGENTS) -> tuple[int, set[str]]:
        """Send the chat's events after ``cursor``; returns the new cursor and the names sent."""
        names: set[str] = set()
        journal = self.agents.journal
        delivered = journal.metrics.events_delivered.labels("agent")
        latency = journal.metrics.delivery_latency.labels("agent")
        while True:
            async with journal.read(snapshot=False) as tx:
                records = await tx.events.read_after(chat_id, cursor, audience, MAX_EVENTS_PER_READ)
            for record in records:
                await send({"type": "event", "chat_id": chat_id, "seq": record.seq, "event": record.payload})
                cursor = record.seq
                names.add(record.name)
                delivered.inc()
                latency.observe(max(0.0, journal.clock.now() - record.ts))
            if len(records) < MAX_EVENTS_PER_READ:
                return cursor, names
