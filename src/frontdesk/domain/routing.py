"""Routing of queued chats to agents: the first ready agent with spare capacity, longest idle first.

Skills, priorities, offer timeouts and an estimated wait time built from live data belong to the
contact-center engine; this module keeps their shape: ``dispatch`` is the single place where a
chat meets an agent.
"""

from __future__ import annotations

from frontdesk.domain.config import ContactCenterConfig
from frontdesk.domain.journal import ActionContext, to_everyone
from frontdesk.domain.lifecycle import connect_agent
from frontdesk.protocol import events as ev
from frontdesk.storage.records import AgentRecord, SessionRecord

UNKNOWN_EWT_SECS = 0  # the protocol's value for "no estimate"; the EWT model replaces it


async def eligible_agents(ctx: ActionContext, tenant: str) -> list[tuple[AgentRecord, int]]:
    """Ready agents with spare capacity and their current load, longest in ready state first."""
    ready = [agent for agent in await ctx.tx.agents.list_for_tenant(tenant) if agent.state == "ready"]
    loads = await ctx.chats_of_agents([agent.agent_id for agent in ready])
    return [(agent, load) for agent, load in zip(ready, loads, strict=True) if load < agent.max_chats]


async def dispatch(ctx: ActionContext, config: ContactCenterConfig, tenant: str) -> None:
    """Offer every queued chat of the tenant that an eligible agent can take, in FIFO order."""
    candidates = await eligible_agents(ctx, tenant)
    if not candidates:
        return
    queued = await ctx.sessions_in_state(tenant, ("queued",))
    for session in queued:
        if not candidates:
            return
        chosen = next(((a, load) for a, load in candidates if a.agent_id not in session.declined_agents), None)
        if chosen is None:
            continue
        agent, load = chosen
        await offer(ctx, session, agent, config)
        candidates.remove(chosen)
        if load + 1 < agent.max_chats:
            candidates.append((agent, load + 1))


async def offer(ctx: ActionContext, session: SessionRecord, agent: AgentRecord, config: ContactCenterConfig) -> None:
    """Reserve the chat for the agent; an auto-accepting agent joins it at once."""
    session.state = "connecting"
    session.offered_agent_id = agent.agent_id
    await ctx.emit(session, to_everyone(ev.status("connecting", UNKNOWN_EWT_SECS)))
    ctx.wake_agent(agent.agent_id)
    if agent.auto_accept:
        tenant = config.tenants.get(session.tenant)
        await connect_agent(ctx, session, agent, tenant.entries.get(session.app_id) if tenant else None)


async def requeue(ctx: ActionContext, session: SessionRecord) -> None:
    """Put a chat back in its queue, keeping its original place (head of the queue)."""
    session.state = "queued"
    session.offered_agent_id = ""
    await ctx.emit(session, to_everyone(ev.status("queued", UNKNOWN_EWT_SECS)))
