"""Supervisor actions: a live overview of queues, agents and chats; silent monitoring, whispers to
the agents of a chat, barging into a chat, and forcing an agent's state.

Every action needs a caller whose role is ``supervisor`` or ``admin`` (``Forbidden`` otherwise) and
only reaches chats and agents of the caller's own tenant (others are ``NotFound``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from frontdesk.domain import routing
from frontdesk.domain.errors import Conflict, Invalid, NotFound
from frontdesk.domain.journal import ReadContext, to_staff
from frontdesk.domain.lifecycle import active_parties, join_internal, party_of
from frontdesk.domain.logout import log_out
from frontdesk.domain.roles import is_supervisor, require_supervisor
from frontdesk.domain.service import EngineService
from frontdesk.protocol import events as ev
from frontdesk.storage.interfaces import Transaction
from frontdesk.storage.records import AgentRecord, EventRecord, JsonObject, PartyRecord, SessionRecord

WHISPER = "frontdesk_whisper"
MAX_WHISPER_CHARS = 32_000
FORCEABLE_STATES = ("ready", "not_ready", "logged_out")


# ---- the overview ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class QueueView:
    queue_id: str
    name: str
    waiting: int
    longest_wait_secs: float  # 0 when nobody waits
    ewt_new_chat_secs: int | None  # what a chat joining now would be told; None: nobody staffed
    estimates: dict[str, int]  # waiting chat id → estimated wait in seconds, in service order
    agents_logged_in: int  # logged-in agents with the queue's skills
    agents_ready: int  # of which ready


@dataclass(slots=True)
class AgentView:
    agent_id: str
    username: str
    display_name: str
    role: str
    team: str
    skills: dict[str, int]
    state: str
    state_since: float
    chats: list[str]  # chats the agent is a party of
    offers: list[str]  # chats offered to the agent, not yet accepted
    load: int  # chats held plus offered, against max_chats
    max_chats: int


@dataclass(slots=True)
class ChatAgent:
    agent_id: str
    display_name: str
    party_id: str
    joined_at: float


@dataclass(slots=True)
class ActiveChatView:
    chat_id: str
    state: str
    queue_id: str
    app_id: str
    created_at: float
    queued_at: float | None
    connected_at: float | None
    waiting_secs: float | None  # queued or being offered: since first entering a queue
    connected_secs: float | None  # connected: since the first agent joined
    offered_agent_id: str
    agents: list[ChatAgent]
    monitors: list[str]  # supervisors silently following the chat
    customer_name: str = ""  # from the pre-chat parameters (customer_name()); "" when none given


@dataclass(slots=True)
class Overview:
    tenant: str
    now: float
    queues: list[QueueView] = field(default_factory=list)
    agents: list[AgentView] = field(default_factory=list)
    chats: list[ActiveChatView] = field(default_factory=list)


class SupervisorService(EngineService):
    # ---- access ---------------------------------------------------------------------------------------

    @staticmethod
    async def _supervisor(tx: Transaction, supervisor_id: str) -> AgentRecord:
        return require_supervisor(await tx.agents.get(supervisor_id))

    @staticmethod
    def _own(supervisor: AgentRecord, session: SessionRecord | None) -> SessionRecord:
        if session is None or session.tenant != supervisor.tenant:
            raise NotFound("no such chat")
        return session

    async def require_supervisor(self, supervisor_id: str) -> AgentRecord:
        """The caller, when it is a supervisor (or admin); ``Forbidden`` otherwise."""
        async with self.journal.read() as tx:
            return await self._supervisor(tx, supervisor_id)

    # ---- the live overview ----------------------------------------------------------------------------

    async def overview(self, supervisor_id: str) -> Overview:
        """The overview of the supervisor's tenant."""
        supervisor = await self.require_supervisor(supervisor_id)
        return await self.tenant_overview(supervisor.tenant)

    async def still_supervising(self, supervisor_id: str) -> bool:
        """Whether the supervisor's session is still open: the account exists, is a supervisor
        (or admin) and is not logged out (the live stream closes with 4410 otherwise)."""
        async with self.journal.read() as tx:
            agent = await tx.agents.get(supervisor_id)
        return is_supervisor(agent) and agent is not None and agent.state != "logged_out"

    async def tenant_overview(self, tenant: str) -> Overview:
        """Queues, agents and active chats of the tenant, now, in a fixed number of queries whatever
        the number of queues, agents and chats; each queue's estimates come from its model
        (``routing.queue_models``), computed once."""
        async with self.journal.read() as tx:
            ctx = ReadContext(tx, self.journal.clock.now())
            view = Overview(tenant=tenant, now=ctx.now)
            staff = await routing.tenant_staff(ctx, tenant)
            active = await tx.sessions.list_active(tenant)
            models = await routing.queue_models(ctx, self.config, tenant, staff)
            present = await tx.parties.list_present(tenant)
            monitoring = await tx.monitors.list_for_tenant(tenant)
        tenant_config = self.config.tenants.get(tenant)
        queued = sorted((s for s in active if s.state == "queued"), key=routing.service_order)
        for queue in (tenant_config.queues if tenant_config else {}).values():
            waiting = [s for s in queued if s.queue_id == queue.queue_id]
            skilled = [a for a in staff.agents if a.state != "logged_out" and routing.has_skills(a, queue.skills)]
            model = models.get(queue.queue_id)
            view.queues.append(QueueView(
                queue_id=queue.queue_id, name=queue.name, waiting=len(waiting),
                longest_wait_secs=max((max(0.0, ctx.now - (s.queued_at or s.created_at)) for s in waiting),
                                      default=0.0),
                ewt_new_chat_secs=None if model is None else model.wait_at(len(waiting)),
                estimates={} if model is None else {s.chat_id: model.wait_at(i) for i, s in enumerate(waiting)},
                agents_logged_in=len(skilled), agents_ready=sum(1 for a in skilled if a.state == "ready")))
        supervisors = {a.agent_id for a in staff.agents if is_supervisor(a)}
        monitors: dict[str, list[str]] = {}
        for chat_id, agent_id in monitoring:
            if agent_id in supervisors:
                monitors.setdefault(chat_id, []).append(agent_id)
        internal: dict[str, list[PartyRecord]] = {}
        for party in present:
            if party.party_type == "internal":
                internal.setdefault(party.chat_id, []).append(party)
        held: dict[str, list[str]] = {}
        offered: dict[str, list[str]] = {}
        for session in active:
            parties = internal.get(session.chat_id, [])
            for party in parties:
                held.setdefault(party.agent_id, []).append(session.chat_id)
            if session.state == "connecting":
                offered.setdefault(session.offered_agent_id, []).append(session.chat_id)
            view.chats.append(_chat_view(session, parties, sorted(monitors.get(session.chat_id, [])), ctx.now))
        for agent in staff.agents:
            view.agents.append(AgentView(
                agent_id=agent.agent_id, username=agent.username, display_name=agent.display_name,
                role=agent.role, team=agent.team, skills=dict(agent.skills), state=agent.state,
                state_since=agent.state_since, chats=held.get(agent.agent_id, []),
                offers=offered.get(agent.agent_id, []), load=staff.loads.get(agent.agent_id, 0),
                max_chats=agent.max_chats))
        view.agents.sort(key=lambda a: a.agent_id)
        return view

    # ---- monitoring -----------------------------------------------------------------------------------

    async def monitored_chats(self, supervisor_id: str) -> list[str]:
        """The chats the supervisor monitors that have not ended."""
        async with self.journal.read() as tx:
            await self._supervisor(tx, supervisor_id)
            chats = [await tx.sessions.get(c) for c in await tx.monitors.chats_of(supervisor_id)]
        return [s.chat_id for s in chats if s is not None and not s.terminal]

    async def monitor(self, supervisor_id: str, chat_id: str) -> SessionRecord:
        """Silently follow a chat: no event is appended, the parties do not change; the supervisor
        reads the chat's events (``GET /chats/{id}/events``, the WebSocket) from now on."""
        async with self.journal.action() as ctx:
            supervisor = await self._supervisor(ctx.tx, supervisor_id)
            session = self._own(supervisor, await ctx.session(chat_id))
            if session.terminal:
                raise Conflict("this chat has ended")
            if party_of(await active_parties(ctx, session), supervisor_id) is not None:
                raise Conflict("you are already in this chat")
            await ctx.tx.monitors.add(chat_id, supervisor_id, ctx.now)
            ctx.wake_agent(supervisor_id)
            ctx.wake_tenant(session.tenant)
            return session

    async def stop_monitoring(self, supervisor_id: str, chat_id: str) -> None:
        """Stop following a chat (a no-op when not monitoring it)."""
        async with self.journal.action() as ctx:
            supervisor = await self._supervisor(ctx.tx, supervisor_id)
            session = self._own(supervisor, await ctx.session(chat_id))
            await ctx.tx.monitors.remove(chat_id, supervisor_id)
            ctx.wake_agent(supervisor_id)
            ctx.wake_tenant(session.tenant)

    # ---- whisper and barge ------------------------------------------------------------------------------

    async def whisper(self, supervisor_id: str, chat_id: str, text: str) -> EventRecord:
        """A note to the chat's agents (and supervisors), never to the customer."""
        if not text.strip():
            raise Invalid("a whisper needs text")
        if len(text) > MAX_WHISPER_CHARS:
            raise Invalid(f"a whisper is at most {MAX_WHISPER_CHARS} characters")
        async with self.journal.action() as ctx:
            supervisor = await self._supervisor(ctx.tx, supervisor_id)
            session = self._own(supervisor, await ctx.session(chat_id))
            if session.terminal:
                raise Conflict("this chat has ended")
            in_chat = party_of(await active_parties(ctx, session), supervisor_id) is not None
            if not in_chat and not await ctx.tx.monitors.is_monitoring(chat_id, supervisor_id):
                raise Conflict("monitor the chat (or join it) before whispering")
            payload: JsonObject = {"event": WHISPER, "from": supervisor.display_name, "agent_id": supervisor_id,
                                   "msg": text, "timestamp": ev.ts_string(ctx.now)}
            (record,) = await ctx.emit(session, to_staff(payload, "agent"))
            return record

    async def barge(self, supervisor_id: str, chat_id: str) -> PartyRecord:
        """Join a connected chat as an ``internal`` party: the customer sees ``party_joined`` and the
        supervisor talks with the agent endpoints. Monitoring the chat stops."""
        async with self.journal.action() as ctx:
            supervisor = await self._supervisor(ctx.tx, supervisor_id)
            session = self._own(supervisor, await ctx.session(chat_id))
            if session.terminal:
                raise Conflict("this chat has ended")
            if session.state != "connected":
                raise Conflict("only a connected chat can be joined")
            if party_of(await active_parties(ctx, session), supervisor_id) is not None:
                raise Conflict("you are already in this chat")
            await ctx.tx.monitors.remove(chat_id, supervisor_id)
            party = await join_internal(ctx, session, supervisor)
            ctx.wake_tenant(session.tenant)
            return party

    # ---- agents -------------------------------------------------------------------------------------------

    async def force_state(self, supervisor_id: str, agent_id: str, state: str) -> AgentRecord:
        """Set an agent's state. ``logged_out`` is the agent's own logout (``domain.logout``): its
        credentials are revoked (its WebSockets close), offers and held chats go back to the queue."""
        if state not in FORCEABLE_STATES:
            raise Invalid(f"state must be one of {', '.join(FORCEABLE_STATES)}")
        async with self.journal.action() as ctx:
            supervisor = await self._supervisor(ctx.tx, supervisor_id)
            agent = await ctx.tx.agents.get(agent_id)
            if agent is None or agent.tenant != supervisor.tenant:
                raise NotFound("no such agent")
            if state == "ready" and agent.state == "logged_out":
                raise Conflict("a logged-out agent cannot be made ready")
            if state == "logged_out":
                await log_out(ctx, self.config, agent)
                return agent
            if agent.state != state:
                agent.state, agent.state_since = state, ctx.now
                await ctx.tx.agents.upsert(agent)
            ctx.wake_agent(agent_id)
            ctx.wake_tenant(agent.tenant)
            await routing.dispatch(ctx, self.config, agent.tenant)
            return agent


def customer_name(parameters: dict[str, object]) -> str:
    """The customer's name as the pre-chat form gave it: ``first_name`` and ``last_name`` (strings,
    trimmed, joined by a space); "" when neither is given."""
    parts = (parameters.get("first_name"), parameters.get("last_name"))
    return " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())


def _chat_view(session: SessionRecord, parties: list[PartyRecord], monitors: list[str], now: float) -> ActiveChatView:
    waiting = connected = None
    if session.state in ("queued", "connecting"):
        waiting = max(0.0, now - (session.queued_at or session.created_at))
    elif session.state == "connected" and session.connected_at is not None:
        connected = max(0.0, now - session.connected_at)
    return ActiveChatView(
        chat_id=session.chat_id, state=session.state, queue_id=session.queue_id, app_id=session.app_id,
        created_at=session.created_at, queued_at=session.queued_at, connected_at=session.connected_at,
        waiting_secs=waiting, connected_secs=connected, offered_agent_id=session.offered_agent_id,
        agents=[ChatAgent(p.agent_id, p.display_name, p.party_id, p.joined_at) for p in parties],
        monitors=monitors, customer_name=customer_name(session.parameters))
