"""Routing of queued chats to agents, and the estimated wait time of the chats that wait.

Rules (docs/routing.md):

- An agent is eligible for a chat when ready, below ``max_chats`` (held plus offered chats), has
  every skill the chat's queue (and its route step) requires at the required level or above, and
  has not declined this chat.
- Chats are served by priority (higher first), then by the time they first entered a queue.
  A chat whose offer lapses or is rejected keeps that time, so it goes back to the head.
- Among eligible agents the one idle longest (since their last offer, or since becoming ready)
  is chosen.
- ``dispatch`` is the single place where a chat meets an agent; it runs inside the caller's
  transaction holding the tenant's routing lock (``Transaction.lock_routing``), so no agent is ever
  over capacity, however many nodes route at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass

from frontdesk.domain import ewt
from frontdesk.domain.config import ContactCenterConfig, QueueConfig
from frontdesk.domain.journal import ActionContext, to_everyone
from frontdesk.domain.lifecycle import (
    OFFER_TIMEOUT,
    QUEUE_MAX_WAIT,
    active_parties,
    connect_agent,
    fail_session,
    party_leaves,
)
from frontdesk.domain.offers import offer_decided, offer_made
from frontdesk.protocol import events as ev
from frontdesk.storage.records import AgentRecord, OfferRecord, QueueModelRecord, SessionRecord, TimerRecord

UNKNOWN_EWT_SECS = 0  # the protocol's value for "no estimate" (no agent staffed for the queue)
HANDLE_SAMPLES = 100  # recent handle times the estimate learns from, per queue
EWT_REFRESH_SECS = 30  # how often waiting customers' estimates are re-checked, and a cached model's lifetime
EWT_REFRESH_TIMER = "ewt_refresh"
# queued chats of one queue a dispatch looks at, head first: a dispatch costs the same whatever the
# queue's length. Chats further back are reached as the head is served (each dispatch starts again
# at the head); only a head this long that no free agent may take (extra skills, declines) holds
# back an eligible chat behind it, until the head moves.
DISPATCH_SCAN = 50
# ready agents a dispatch reads first, longest idle first (``ReadyAgents``); each further read doubles
FIRST_AGENT_PAGE = 4


def tenant_key(tenant: str) -> str:
    """The timer key of tenant-wide timers (timers are keyed by chat id)."""
    return f"tenant:{tenant}"


def queue_of(config: ContactCenterConfig, session: SessionRecord) -> QueueConfig | None:
    return _queue(config, session.tenant, session.queue_id)


def required_skills(queue: QueueConfig | None, extra: dict[str, int]) -> dict[str, int]:
    """The queue's skills merged with a route step's, the higher level winning."""
    merged = dict(queue.skills) if queue else {}
    for name, level in extra.items():
        merged[name] = max(level, merged.get(name, 0))
    return merged


def has_skills(agent: AgentRecord, skills: dict[str, int]) -> bool:
    return all(agent.skills.get(name, 0) >= level for name, level in skills.items())


def idle_since(agent: AgentRecord) -> float:
    return max(agent.state_since, agent.last_routed_at)


def service_order(session: SessionRecord) -> tuple[int, float, float]:
    """Priority (higher first), then first entered a queue, then created (the storage's
    ``list_queued`` and ``count_queued_ahead`` break the remaining ties by insertion order; sort
    their results stably)."""
    return -session.priority, session.queued_at or session.created_at, session.created_at


def routing_order(agent: AgentRecord) -> tuple[float, str]:
    """Which of two eligible agents is offered a chat first: the one idle longer, then the lower id."""
    return idle_since(agent), agent.agent_id


@dataclass(slots=True)
class Candidate:
    agent: AgentRecord
    load: int


class ReadyAgents:
    """The tenant's ready agents with room, in ``routing_order``, read from storage a page at a time
    (``AgentStore.ready_by_idle``) as far as a dispatch needs them: usually the first page holds the
    agent chosen, so a dispatch costs the same however many agents the tenant has.

    The agents read hold their load as this dispatch changes it, and an agent offered a chat moves
    back in the order (its ``last_routed_at``). An agent not read yet comes after the last one read
    (the frontier), and this dispatch changes none of them, so their stored order and loads stay
    true until they are read; an agent already read is never taken from a later page again."""

    def __init__(self, ctx: ActionContext, tenant: str) -> None:
        self._ctx = ctx
        self._tenant = tenant
        self._held: list[Candidate] = []  # read and still with room
        self._read: set[str] = set()
        self._frontier: tuple[float, str] | None = None  # the stored order of the last agent read
        self._page = FIRST_AGENT_PAGE
        self.exhausted = False  # every ready agent with room has been read

    @property
    def none_left(self) -> bool:
        return self.exhausted and not self._held

    async def best(self, skills: dict[str, int], declined: Collection[str] = ()) -> Candidate | None:
        """The first agent in routing order with the skills who has not declined: ``min`` of
        ``routing_order`` over every eligible agent, reading on only while an agent not read yet
        might come first."""
        while True:
            for candidate in sorted(self._held, key=lambda c: routing_order(c.agent)):
                if not self.exhausted and self._frontier is not None \
                        and routing_order(candidate.agent) > self._frontier:
                    break  # an agent not read yet may come before this one
                if has_skills(candidate.agent, skills) and candidate.agent.agent_id not in declined:
                    return candidate
            else:
                if self.exhausted:
                    return None
            await self._read_more()

    def took(self, candidate: Candidate) -> None:
        """The candidate was offered a chat: one more in its load; gone from the pool once full."""
        candidate.load += 1
        if candidate.load >= candidate.agent.max_chats:
            self._held.remove(candidate)

    async def _read_more(self) -> None:
        rows = await self._ctx.tx.agents.ready_by_idle(self._tenant, self._frontier, self._page)
        self.exhausted = len(rows) < self._page
        self._page *= 2
        for agent, load in rows:
            self._frontier = routing_order(agent)
            if agent.agent_id not in self._read:
                self._read.add(agent.agent_id)
                self._held.append(Candidate(agent, load))


async def dispatch(ctx: ActionContext, config: ContactCenterConfig, tenant: str,
                   arriving: SessionRecord | None = None, arriving_timer: bool = True) -> None:
    """Offer the queued chats of the tenant that an eligible agent can take, in service order.

    Only queues that some free agent has the skills for are read, and of each only its first
    ``DISPATCH_SCAN`` chats: with every agent busy a dispatch reads no queued chat at all.
    ``arriving`` is a chat entering its queue in this action, not yet announced: when it is
    offered at once it is announced ``queued`` with no wait, otherwise with its estimate
    (``arriving_timer``: whether it may have a ``queue_max_wait`` timer, see ``offer``).
    Waiting customers' estimates are refreshed by the ``ewt_refresh`` timer, not here; when the
    chats offered leave nobody waiting, that timer stops (an arriving chat offered at once changes
    nothing of who waits: then it is left as it was)."""
    # this action's changes stored before the lock (its chats' rows are held already); an arriving
    # chat created in this action stays unstored until routing has decided (one INSERT, no UPDATE)
    await ctx.flush(arriving)
    await ctx.tx.lock_routing(tenant)  # the loads read below stay true until this action commits
    ready = ReadyAgents(ctx, tenant)
    tenant_config = config.tenants.get(tenant)
    queued: list[SessionRecord] = []
    if tenant_config is not None:
        for queue in tenant_config.queues.values():
            if await ready.best(queue.skills) is not None:
                queued.extend(await _queue_head(ctx, tenant, queue.queue_id, arriving))
        queued.sort(key=service_order)
    waited_offered = False  # a chat offered that was waiting before this action
    for session in queued:
        if ready.none_left:
            break
        skills = required_skills(queue_of(config, session), session.required_skills)
        chosen = await ready.best(skills, session.declined_agents)
        if chosen is None:
            continue
        if session is arriving:
            await _announce_served(ctx, session)
        await offer(ctx, session, chosen.agent, config, max_wait_timer=session is not arriving or arriving_timer)
        waited_offered = waited_offered or session is not arriving
        ready.took(chosen)
    if arriving is not None and arriving.state == "queued":
        await _announce_queued(ctx, config, arriving)
    elif waited_offered:
        await ctx.flush()
        if not await ctx.tx.sessions.any_queued(tenant):  # nobody waits now: no estimates to refresh
            await ctx.tx.timers.cancel(tenant_key(tenant), EWT_REFRESH_TIMER)


async def _queue_head(ctx: ActionContext, tenant: str, queue_id: str,
                      arriving: SessionRecord | None) -> list[SessionRecord]:
    """The first ``DISPATCH_SCAN`` chats of the queue in service order, the arriving chat among them
    where it would be stored (behind the chats it ties with) when it is new and not stored yet."""
    head = await ctx.queued_head(tenant, queue_id, DISPATCH_SCAN, arriving)
    if arriving is None or not ctx.is_new(arriving) or arriving.state != "queued" \
            or (arriving.tenant, arriving.queue_id) != (tenant, queue_id):
        return head
    return sorted([*head, arriving], key=service_order)[:DISPATCH_SCAN]


async def offer(ctx: ActionContext, session: SessionRecord, agent: AgentRecord, config: ContactCenterConfig,
                max_wait_timer: bool = True) -> None:
    """Reserve the chat for the agent; an auto-accepting agent joins it at once, any other one has
    the queue's offer timeout to accept. ``max_wait_timer``: the chat may have a ``queue_max_wait``
    timer to stop (False only for a chat entering its first queue in this action, before it is set)."""
    session.state = "connecting"
    session.offered_agent_id = agent.agent_id
    agent.last_routed_at = ctx.now
    await ctx.tx.agents.mark_routed(agent.agent_id, ctx.now)  # the agent may be read unlocked: keep the rest
    await offer_made(ctx, OfferRecord(session.chat_id, agent.agent_id, session.tenant, session.queue_id, ctx.now),
                     accepted=agent.auto_accept)
    if max_wait_timer:
        await ctx.tx.timers.cancel(session.chat_id, QUEUE_MAX_WAIT)
    await ctx.emit(session, to_everyone(ev.status("connecting", 0)))
    ctx.wake_agent(agent.agent_id)
    ctx.wake_tenant(session.tenant)
    queue = queue_of(config, session)
    if agent.auto_accept:
        await connect_agent(ctx, session, agent, config.entry(session.tenant, session.app_id))
    elif queue is not None and queue.offer_timeout_secs > 0:
        await ctx.tx.timers.set(TimerRecord(session.chat_id, OFFER_TIMEOUT, ctx.now + queue.offer_timeout_secs,
                                            {"agent_id": agent.agent_id}))


async def offer_to(ctx: ActionContext, config: ContactCenterConfig, session: SessionRecord,
                   agent: AgentRecord) -> None:
    """Offer the chat to one named agent (a transfer); when the agent declines or the offer lapses
    the chat goes back to its queue."""
    await offer(ctx, session, agent, config)


async def requeue(ctx: ActionContext, config: ContactCenterConfig, session: SessionRecord,
                  outcome: str = "withdrawn") -> None:
    """Put a chat back in its queue at its original place (the head, for its priority)."""
    if session.offered_agent_id:
        await offer_decided(ctx, session.chat_id, session.offered_agent_id, outcome)
        ctx.wake_agent(session.offered_agent_id)
    await ctx.tx.timers.cancel(session.chat_id, OFFER_TIMEOUT)
    session.state = "queued"
    session.offered_agent_id = ""
    await _announce_queued(ctx, config, session)


async def release_agent_chats(ctx: ActionContext, config: ContactCenterConfig, agent: AgentRecord) -> None:
    """The agent is gone (logged out, or its desktop vanished): offers go back to the queue, it
    leaves every chat (the customer sees ``party_left``), and a chat left without an agent goes
    back to its queue at its original place (the customer sees the new status)."""
    for session in await ctx.sessions_in_state(agent.tenant, ("connecting",)):
        if session.offered_agent_id == agent.agent_id:
            await requeue(ctx, config, session, "withdrawn")
    for session in await ctx.sessions_of_agent(agent.agent_id):
        for party in await active_parties(ctx, session):
            if party.agent_id == agent.agent_id:
                await party_leaves(ctx, session, party)
        if not any(p.party_type == "internal" for p in await active_parties(ctx, session)):
            await requeue(ctx, config, session, "withdrawn")


async def offer_lapsed(ctx: ActionContext, config: ContactCenterConfig, session: SessionRecord,
                       agent_id: str) -> None:
    """The agent did not answer the offer in time: the chat goes back to the head of its queue and
    the agent becomes not ready (an agent away from the desk is not offered the next chat)."""
    if session.state != "connecting" or session.offered_agent_id != agent_id:
        return
    session.declined_agents = [*session.declined_agents, agent_id]
    await requeue(ctx, config, session, "timeout")
    agent = await ctx.tx.agents.get(agent_id)
    if agent is not None and agent.state == "ready":
        agent.state, agent.state_since = "not_ready", ctx.now
        await ctx.tx.agents.upsert(agent)
    await dispatch(ctx, config, session.tenant)


async def enqueue(ctx: ActionContext, config: ContactCenterConfig, session: SessionRecord, queue_id: str,
                  priority: int | None = None, skills: dict[str, int] | None = None) -> None:
    """The chat enters a queue (from the scenario, a transfer or an overflow), is announced with
    its estimate, and routing runs. A chat that already waited keeps its arrival time."""
    tenant = config.tenants[session.tenant]
    queue = tenant.queues[queue_id]
    session.queue_id = queue_id
    session.priority = queue.priority if priority is None else priority
    if skills is not None:
        session.required_skills = dict(skills)
    session.state = "queued"
    session.offered_agent_id = ""
    first_queue = session.queued_at is None  # no queue_max_wait timer yet: only this function sets one
    session.queued_at = session.queued_at or ctx.now
    await dispatch(ctx, config, session.tenant, arriving=session, arriving_timer=not first_queue)
    if session.state != "queued":  # offered at once (``offer`` stopped an earlier queue's timer)
        return
    if queue.max_wait_secs > 0:
        await ctx.tx.timers.set(TimerRecord(session.chat_id, QUEUE_MAX_WAIT, ctx.now + queue.max_wait_secs,
                                            {"queue_id": queue_id}))
    elif not first_queue:
        await ctx.tx.timers.cancel(session.chat_id, QUEUE_MAX_WAIT)


async def _announce_served(ctx: ActionContext, session: SessionRecord) -> None:
    """``queued`` with no wait, for a chat an agent is offered in the same action."""
    if session.ewt_predicted is None:
        session.ewt_predicted = 0.0
    session.ewt_announced = 0
    await ctx.emit(session, to_everyone(ev.status("queued", 0)))


async def _announce_queued(ctx: ActionContext, config: ContactCenterConfig, session: SessionRecord) -> None:
    """``queued`` with the chat's estimate: its place in the queue (a count) looked up in the
    queue's model (``queue_model``), so the cost does not grow with the queue. The ``ewt_refresh``
    timer is set if it is not (it re-announces estimates that moved)."""
    secs = await estimate_of(ctx, config, session)
    if session.ewt_predicted is None and secs is not None:
        session.ewt_predicted = float(secs)
    session.ewt_announced = secs if secs is not None else UNKNOWN_EWT_SECS
    await ctx.emit(session, to_everyone(ev.status("queued", session.ewt_announced)))
    ctx.wake_tenant(session.tenant)
    await ctx.tx.timers.ensure(TimerRecord(tenant_key(session.tenant), EWT_REFRESH_TIMER,
                                           ctx.now + EWT_REFRESH_SECS, {}))


async def overflow(ctx: ActionContext, config: ContactCenterConfig, session: SessionRecord) -> None:
    """The chat waited its queue's ``max_wait_secs``: on to the overflow queue, or it fails."""
    queue = queue_of(config, session)
    if session.state != "queued" or queue is None:
        return
    if queue.overflow_queue:
        await enqueue(ctx, config, session, queue.overflow_queue)
        return
    entry = config.entry(session.tenant, session.app_id)
    await fail_session(ctx, session, "max_wait", queue.max_wait_message, entry.bot_name if entry else "Assistant")


# ---- staffing and estimated wait -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Staffing:
    """What the estimate knows of the agents who can serve a queue, from the agents' rows alone: the
    chats they hold are read only when a model is computed (``TenantStaff.busy_elapsed_secs``)."""

    logged_in: int
    free_slots: int
    busy_slots: int  # chats the ready agents hold or are offered
    ready: frozenset[str] = frozenset()  # the ready agents counted
    key: str = "0/0/"  # what a model computed for this staffing assumed (``TenantStaff.staffing``)


@dataclass(slots=True)
class TenantStaff:
    """The tenant's agents and their load counters: read once (O(agents), whatever the number of
    chats), then the staffing of any number of queues is computed from it without another query.
    The chats the agents are connected to are read once, and only for a model being computed."""

    tenant: str
    now: float
    agents: list[AgentRecord]
    loads: dict[str, int]
    load_changes: dict[str, int]  # how many times each agent's load has moved (storage's counter)
    connected: list[tuple[str, float]] | None = None  # (agent id, connected_at) of every active chat an agent is in

    def staffing(self, skills: dict[str, int]) -> Staffing:
        """The key changes when an agent's state, capacity or load changes or one of its chats ends
        and another starts (its ``load_changes``), not as time passes nor when an offered chat is
        accepted (an offered slot is modelled as a chat starting now)."""
        agents = [a for a in self.agents if a.state != "logged_out" and has_skills(a, skills)]
        ready = {a.agent_id: a for a in agents if a.state == "ready"}
        if not ready:
            return Staffing(logged_in=len(agents), free_slots=0, busy_slots=0)
        free = sum(max(0, a.max_chats - self.loads.get(a.agent_id, 0)) for a in ready.values())
        busy = sum(self.loads.get(agent_id, 0) for agent_id in ready)
        held = sorted((agent_id, self.loads.get(agent_id, 0), self.load_changes.get(agent_id, 0))
                      for agent_id in ready)
        digest = hashlib.blake2b(repr(held).encode(), digest_size=8).hexdigest()
        return Staffing(logged_in=len(agents), free_slots=free, busy_slots=busy, ready=frozenset(ready),
                        key=f"{free}/{busy}/{digest}")

    async def busy_elapsed_secs(self, ctx: ActionContext, staff: Staffing) -> list[float]:
        """How long each busy slot of the staffing's ready agents has been taken: the chats they are
        connected to (read on first use), and an offered chat as one starting now."""
        if self.connected is None:
            self.connected = await ctx.tx.agents.connected_chats(self.tenant)
        busy: list[float] = []
        held: dict[str, int] = {}
        for agent_id, connected_at in self.connected:
            if agent_id in staff.ready:
                busy.append(max(0.0, self.now - connected_at))
                held[agent_id] = held.get(agent_id, 0) + 1
        for agent_id in staff.ready:  # offered, not yet accepted: a slot whose chat starts now
            busy.extend(0.0 for _ in range(max(0, self.loads.get(agent_id, 0) - held.get(agent_id, 0))))
        return busy


async def tenant_staff(ctx: ActionContext, tenant: str) -> TenantStaff:
    await ctx.flush()  # the counters follow the stored chats: store this action's changes first
    counters = await ctx.tx.agents.load_counters(tenant)
    return TenantStaff(tenant=tenant, now=ctx.now, agents=await ctx.tx.agents.list_for_tenant(tenant),
                       loads={agent_id: c.load for agent_id, c in counters.items() if c.load},
                       load_changes={agent_id: c.changes for agent_id, c in counters.items()})


async def staffing(ctx: ActionContext, tenant: str, skills: dict[str, int]) -> Staffing:
    return (await tenant_staff(ctx, tenant)).staffing(skills)


def _queue(config: ContactCenterConfig, tenant: str, queue_id: str) -> QueueConfig | None:
    tenant_config = config.tenants.get(tenant)
    return tenant_config.queues.get(queue_id) if tenant_config else None


def _usable(cached: QueueModelRecord | None, staff: Staffing, now: float) -> ewt.QueueModel | None:
    """The cached model, when it was computed for this staffing less than ``EWT_REFRESH_SECS`` ago."""
    if cached is None or cached.staffing != staff.key or now - cached.computed_at >= EWT_REFRESH_SECS:
        return None
    return ewt.QueueModel(cached.waits, cached.tail_step_secs)


async def _store_model(ctx: ActionContext, tenant: str, queue_id: str, staff: Staffing,
                       model: ewt.QueueModel) -> None:
    if ctx.writes:  # a read (availability, the overview) computes it for itself only
        await ctx.tx.queue_models.put(QueueModelRecord(tenant, queue_id, ctx.now, staff.key, model.waits,
                                                       model.tail_step_secs))


async def queue_model(ctx: ActionContext, queue: QueueConfig, staff: TenantStaff,
                      fresh: bool = False) -> ewt.QueueModel | None:
    """The estimate model of the queue (None: nobody staffed): the cached one while it fits the
    staffing and is younger than ``EWT_REFRESH_SECS``, else computed from the recent handle times
    (and cached, in an action that writes). ``fresh`` always computes it (the refresh timer)."""
    queue_staff = staff.staffing(queue.skills)
    if queue_staff.free_slots == 0 and queue_staff.busy_slots == 0:
        return None
    if not fresh:
        cached = _usable(await ctx.tx.queue_models.get(staff.tenant, queue.queue_id), queue_staff, ctx.now)
        if cached is not None:
            return cached
    samples = await ctx.tx.sessions.recent_handle_times(staff.tenant, queue.queue_id, HANDLE_SAMPLES)
    model = ewt.queue_model(queue_staff.free_slots, await staff.busy_elapsed_secs(ctx, queue_staff), samples,
                            queue.default_handle_secs)
    if model is not None:
        await _store_model(ctx, staff.tenant, queue.queue_id, queue_staff, model)
    return model


async def queue_models(ctx: ActionContext, config: ContactCenterConfig, tenant: str,
                       staff: TenantStaff) -> dict[str, ewt.QueueModel | None]:
    """The model of every queue of the tenant in a bounded number of queries (the overview): the
    cached models in one, the handle times of the queues whose model is out of date in one more."""
    tenant_config = config.tenants.get(tenant)
    if tenant_config is None:
        return {}
    cached = await ctx.tx.queue_models.list_for_tenant(tenant)
    models: dict[str, ewt.QueueModel | None] = {}
    stale: dict[str, Staffing] = {}
    for queue in tenant_config.queues.values():
        queue_staff = staff.staffing(queue.skills)
        if queue_staff.free_slots == 0 and queue_staff.busy_slots == 0:
            models[queue.queue_id] = None
        elif (usable := _usable(cached.get(queue.queue_id), queue_staff, ctx.now)) is not None:
            models[queue.queue_id] = usable
        else:
            stale[queue.queue_id] = queue_staff
    samples = await ctx.tx.sessions.recent_handle_times_of(tenant, sorted(stale), HANDLE_SAMPLES) if stale else {}
    for queue_id, queue_staff in stale.items():
        queue = tenant_config.queues[queue_id]
        models[queue_id] = ewt.queue_model(queue_staff.free_slots, await staff.busy_elapsed_secs(ctx, queue_staff),
                                           samples.get(queue_id, []), queue.default_handle_secs)
    return models


async def estimate_of(ctx: ActionContext, config: ContactCenterConfig, session: SessionRecord) -> int | None:
    """The estimated wait of a chat queued (or about to be) in its queue (None: nobody staffed)."""
    queue = _queue(config, session.tenant, session.queue_id)
    if queue is None:
        return None
    model = await queue_model(ctx, queue, await tenant_staff(ctx, session.tenant))
    return None if model is None else model.wait_at(await _place(ctx, session))


async def _place(ctx: ActionContext, session: SessionRecord) -> int:
    """How many chats come before a queued chat in its queue. One that joined just now is behind
    every chat of its priority or higher (the queue's counters); one given back, overflowed or
    transferred keeps its first arrival time, so the chats ahead of it are counted one by one (few:
    it goes back near the head)."""
    await ctx.flush()
    if session.queued_at == ctx.now:
        ahead = await ctx.tx.sessions.count_queued(session.tenant, session.queue_id, session.priority)
        return max(0, ahead - 1)  # it is counted itself
    return await ctx.tx.sessions.count_queued_ahead(session)


async def estimate_new_chat(ctx: ActionContext, config: ContactCenterConfig, tenant: str,
                            queue_id: str) -> int | None:
    """The wait a chat joining ``queue_id`` now would be told (None: nobody staffed); its cost does
    not grow with the queue (a count, and the queue's model)."""
    queue = _queue(config, tenant, queue_id)
    if queue is None:
        return None
    model = await queue_model(ctx, queue, await tenant_staff(ctx, tenant))
    if model is None:
        return None
    await ctx.flush()
    return model.wait_at(await ctx.tx.sessions.count_queued(tenant, queue_id))


async def refresh_estimates(ctx: ActionContext, config: ContactCenterConfig, tenant: str) -> None:
    """The ``ewt_refresh`` timer: compute every queue's model afresh and tell waiting customers their
    new estimate when it moved materially; keep re-checking every ``EWT_REFRESH_SECS`` while anyone
    waits. This is the one place that walks whole queues, once per period, not per request."""
    queued = sorted(await ctx.sessions_in_state(tenant, ("queued",)), key=service_order)
    if not queued:
        await ctx.tx.timers.cancel(tenant_key(tenant), EWT_REFRESH_TIMER)
        return
    staff = await tenant_staff(ctx, tenant)
    for queue_id in sorted({s.queue_id for s in queued}):
        queue = _queue(config, tenant, queue_id)
        if queue is None:
            continue
        model = await queue_model(ctx, queue, staff, fresh=True)
        if model is None:
            continue
        for position, session in enumerate(s for s in queued if s.queue_id == queue_id):
            secs = model.wait_at(position)
            if session.ewt_predicted is None:
                session.ewt_predicted = float(secs)
            if ewt.moved_materially(session.ewt_announced, secs):
                session.ewt_announced = secs
                await ctx.emit(session, to_everyone(ev.status("queued", secs)))
    await ctx.tx.timers.set(TimerRecord(tenant_key(tenant), EWT_REFRESH_TIMER, ctx.now + EWT_REFRESH_SECS, {}))
