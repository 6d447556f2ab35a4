"""Logging an agent out: the one operation behind the agent's own logout, a supervisor forcing
``logged_out``, a desktop that stayed away past its grace period and an account a reload removed."""

from __future__ import annotations

from frontdesk.domain import routing
from frontdesk.domain.config import ContactCenterConfig
from frontdesk.domain.journal import ActionContext
from frontdesk.storage.records import AgentRecord


async def log_out(ctx: ActionContext, config: ContactCenterConfig, agent: AgentRecord) -> None:
    """Within the caller's action: the agent's offers and held chats go back to their queues (the
    customer sees ``party_left`` and the new status), its state becomes ``logged_out``, every
    credential it has (tokens, browser sessions, WebSocket tickets) is dropped, and its topic is
    woken so that its open WebSockets find their session gone and close (4410); the tenant's
    topic is woken for supervisors, and the chats given back are offered to other agents."""
    await routing.release_agent_chats(ctx, config, agent)
    if agent.state != "logged_out":
        agent.state, agent.state_since = "logged_out", ctx.now
    await ctx.tx.agents.upsert(agent)
    await ctx.tx.agents.drop_tokens(agent.agent_id)
    ctx.wake_agent(agent.agent_id)
    ctx.wake_tenant(agent.tenant)
    if agent.tenant in config.tenants:  # a tenant a reload removed has no chats left to offer
        await routing.dispatch(ctx, config, agent.tenant)
