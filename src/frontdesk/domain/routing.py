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
  transaction, so no agent is ever over capacity.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from frontdesk.protocol import events as ev
from frontdesk.storage.records import AgentRecord, OfferRecord, SessionRecord, TimerRecord

UNKNOWN_EWT_SECS = 0  # the protocol's value for "no estimate" (no agent staffed for the queue)
HANDLE_SAMPLES = 100  # recent handle times the estimate learns from, per queue
EWT_REFRESH_SECS = 30  # how often waiting customers' estimates are re-checked while nothing happens
EWT_REFRESH_TIMER = "ewt_refresh"


def tenant_key(tenant: str) -> str:
    """The timer key of tenant-wide timers (timers are keyed by chat id)."""
    return f"tenant:{tenant}"


def queue_of(config: ContactCenterConfig, session: SessionRecord) -> QueueConfig | None:
    tenant = config.tenants.get(session.tenant)
    return tenant.queues.get(session.queue_id) if tenant else None


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
    return -session.priority, session.queued_at or session.created_at, session.created_at


@dataclass(slots=True)
class Candidate:
    agent: AgentRecord
    load: int


async def ready_candidates(ctx: ActionContext, tenant: str) -> list[Candidate]:
    """Ready agents with spare capacity and their current load."""
    ready = [agent for agent in await ctx.tx.agents.list_for_tenant(tenant) if agent.state == "ready"]
    if not ready:
        return []
    loads = await ctx.chat_loads(tenant)
    return [Candidate(agent, loads.get(agent.agent_id, 0)) for agent in ready
            if loads.get(agent.agent_id, 0) < agent.max_chats]


async def dispatch(ctx: ActionContext, config: ContactCenterConfig, tenant: str,
                   arriving: SessionRecord | None = None) -> None:
    """Offer every queued chat of the tenant that an eligible agent can take, then refresh the
    estimates of the chats still waiting.

    ``arriving`` is a chat entering its queue in this action, not yet announced: when it is
    offered at once it is announced ``queued`` with no wait, otherwise with its estimate."""
    candidates = await ready_candidates(ctx, tenant)
    queued = sorted(await ctx.sessions_in_state(tenant, ("queued",)), key=service_order)
    for session in queued:
        if not candidates:
            break
        skills = required_skills(queue_of(config, session), session.required_skills)
        eligible = [c for c in candidates
                    if has_skills(c.agent, skills) and c.agent.agent_id not in session.declined_agents]
        if not eligible:
            continue
        chosen = min(eligible, key=lambda c: (idle_since(c.agent), c.agent.agent_id))
        if session is arriving:
            await _announce_served(ctx, session)
        await offer(ctx, session, chosen.agent, config)
        chosen.load += 1
        if chosen.load >= chosen.agent.max_chats:
            candidates.remove(chosen)
    if arriving is not None and arriving.state == "queued":
        await _announce_queued(ctx, config, arriving)
    if any(s.state == "queued" and s is not arriving for s in queued):
        await refresh_estimates(ctx, config, tenant)


async def offer(ctx: ActionContext, session: SessionRecord, agent: AgentRecord, config: ContactCenterConfig) -> None:
    """Reserve the chat for the agent; an auto-accepting agent joins it at once, any other one has
    the queue's offer timeout to accept."""
    session.state = "connecting"
    session.offered_agent_id = agent.agent_id
    agent.last_routed_at = ctx.now
    await ctx.tx.agents.upsert(agent)
    await ctx.tx.offers.insert(OfferRecord(session.chat_id, agent.agent_id, session.tenant, session.queue_id,
                                           ctx.now))
    await ctx.tx.timers.cancel(session.chat_id, QUEUE_MAX_WAIT)
    await ctx.emit(session, to_everyone(ev.status("connecting", 0)))
    ctx.wake_agent(agent.agent_id)
    ctx.wake_tenant(session.tenant)
    queue = queue_of(config, session)
    if agent.auto_accept:
        await ctx.tx.offers.decide(session.chat_id, agent.agent_id, "accepted", ctx.now)
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
        await ctx.tx.offers.decide(session.chat_id, session.offered_agent_id, outcome, ctx.now)
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
    session.queued_at = session.queued_at or ctx.now
    if queue.max_wait_secs > 0:
        await ctx.tx.timers.set(TimerRecord(session.chat_id, QUEUE_MAX_WAIT, ctx.now + queue.max_wait_secs,
                                            {"queue_id": queue_id}))
    else:
        await ctx.tx.timers.cancel(session.chat_id, QUEUE_MAX_WAIT)
    await dispatch(ctx, config, session.tenant, arriving=session)


async def _announce_served(ctx: ActionContext, session: SessionRecord) -> None:
    """``queued`` with no wait, for a chat an agent is offered in the same action."""
    if session.ewt_predicted is None:
        session.ewt_predicted = 0.0
    session.ewt_announced = 0
    await ctx.emit(session, to_everyone(ev.status("queued", 0)))


async def _announce_queued(ctx: ActionContext, config: ContactCenterConfig, session: SessionRecord) -> None:
    estimates = await estimate_queue(ctx, config, session.tenant, session.queue_id, extra=session)
    secs = estimates.get(session.chat_id)
    if session.ewt_predicted is None and secs is not None:
        session.ewt_predicted = float(secs)
    session.ewt_announced = secs if secs is not None else UNKNOWN_EWT_SECS
    await ctx.emit(session, to_everyone(ev.status("queued", session.ewt_announced)))
    ctx.wake_tenant(session.tenant)


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


@dataclass(slots=True)
class Staffing:
    """What the estimate knows of the agents who can serve a queue."""

    logged_in: int
    free_slots: int
    busy_elapsed_secs: list[float]


async def staffing(ctx: ActionContext, tenant: str, skills: dict[str, int]) -> Staffing:
    agents = [a for a in await ctx.tx.agents.list_for_tenant(tenant)
              if a.state != "logged_out" and has_skills(a, skills)]
    ready = {a.agent_id: a for a in agents if a.state == "ready"}
    if not ready:
        return Staffing(logged_in=len(agents), free_slots=0, busy_elapsed_secs=[])
    loads = await ctx.chat_loads(tenant)
    busy: list[float] = []
    held: dict[str, int] = {}
    for agent_id, connected_at in await ctx.tx.agents.connected_chats(tenant):
        if agent_id in ready:
            busy.append(max(0.0, ctx.now - connected_at))
            held[agent_id] = held.get(agent_id, 0) + 1
    for agent_id in ready:  # offered, not yet accepted: a slot whose chat starts now
        busy.extend(0.0 for _ in range(max(0, loads.get(agent_id, 0) - held.get(agent_id, 0))))
    free = sum(max(0, a.max_chats - loads.get(a.agent_id, 0)) for a in ready.values())
    return Staffing(logged_in=len(agents), free_slots=free, busy_elapsed_secs=busy)


async def estimate_queue(ctx: ActionContext, config: ContactCenterConfig, tenant: str, queue_id: str,
                         extra: SessionRecord | None = None) -> dict[str, int]:
    """Estimated waits of the chats queued in ``queue_id`` (plus ``extra``, not yet stored as
    queued), in service order. Chats of one queue are assumed to share the agents who have the
    queue's skills; an empty answer means nobody is staffed (no estimate)."""
    tenant_config = config.tenants.get(tenant)
    queue = tenant_config.queues.get(queue_id) if tenant_config else None
    if queue is None:
        return {}
    waiting = [s for s in await ctx.sessions_in_state(tenant, ("queued",)) if s.queue_id == queue_id]
    if extra is not None and all(s.chat_id != extra.chat_id for s in waiting):
        waiting.append(extra)
    waiting.sort(key=service_order)
    staff = await staffing(ctx, tenant, queue.skills)
    samples = await ctx.tx.sessions.recent_handle_times(tenant, queue_id, HANDLE_SAMPLES)
    return _estimates([s.chat_id for s in waiting], staff, samples, queue.default_handle_secs)


def _estimates(waiting: Sequence[str], staff: Staffing, samples: Sequence[float],
               default_handle_secs: float) -> dict[str, int]:
    result = ewt.estimate_waits(waiting, staff.free_slots, staff.busy_elapsed_secs, samples, default_handle_secs)
    return result if result is not None else {}


async def estimate_new_chat(ctx: ActionContext, config: ContactCenterConfig, tenant: str,
                            queue_id: str) -> int | None:
    """The wait a chat joining ``queue_id`` now would be told (None: nobody staffed)."""
    probe = "~new-chat~"
    tenant_config = config.tenants.get(tenant)
    queue = tenant_config.queues.get(queue_id) if tenant_config else None
    if queue is None:
        return None
    waiting = sorted((s for s in await ctx.sessions_in_state(tenant, ("queued",)) if s.queue_id == queue_id),
                     key=service_order)
    staff = await staffing(ctx, tenant, queue.skills)
    samples = await ctx.tx.sessions.recent_handle_times(tenant, queue_id, HANDLE_SAMPLES)
    return _estimates([*(s.chat_id for s in waiting), probe], staff, samples, queue.default_handle_secs).get(probe)


async def refresh_estimates(ctx: ActionContext, config: ContactCenterConfig, tenant: str) -> None:
    """Tell waiting customers their new estimate when it moved materially; keep re-checking every
    ``EWT_REFRESH_SECS`` while anyone waits."""
    queued = await ctx.sessions_in_state(tenant, ("queued",))
    if not queued:
        await ctx.tx.timers.cancel(tenant_key(tenant), EWT_REFRESH_TIMER)
        return
    for queue_id in sorted({s.queue_id for s in queued}):
        estimates = await estimate_queue(ctx, config, tenant, queue_id)
        for session in queued:
            secs = estimates.get(session.chat_id)
            if session.queue_id != queue_id or secs is None:
                continue
            if session.ewt_predicted is None:
                session.ewt_predicted = float(secs)
            if ewt.moved_materially(session.ewt_announced, secs):
                session.ewt_announced = secs
                await ctx.emit(session, to_everyone(ev.status("queued", secs)))
    await ctx.tx.timers.set(TimerRecord(tenant_key(tenant), EWT_REFRESH_TIMER, ctx.now + EWT_REFRESH_SECS, {}))
