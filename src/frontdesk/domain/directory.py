"""Who and where an agent can hand a chat to, and what it can ask the customer: the queues, the
other agents and the named forms of the agent's own tenant (the agent desktop's transfer,
conference, form and wrap-up choices)."""

from __future__ import annotations

from dataclasses import dataclass

from frontdesk.domain.config import FormConfig, QueueConfig
from frontdesk.domain.errors import Forbidden
from frontdesk.domain.service import EngineService
from frontdesk.storage.records import AgentRecord


@dataclass(frozen=True, slots=True)
class Colleague:
    agent: AgentRecord
    load: int  # chats held or being offered


@dataclass(frozen=True, slots=True)
class Directory:
    queues: list[QueueConfig]
    agents: list[Colleague]
    forms: list[FormConfig]


class DirectoryService(EngineService):
    async def directory(self, agent_id: str) -> Directory:
        """The tenant's queues (by name) and its other agents (by display name) with their state and
        load: one read of the tenant's agents and one of their loads, whatever the number of chats."""
        async with self.journal.read() as tx:
            me = await tx.agents.get(agent_id)
            if me is None:
                raise Forbidden("unknown agent")
            agents = await tx.agents.list_for_tenant(me.tenant)
            loads = await tx.agents.chat_loads(me.tenant)
        tenant = self.config.tenants.get(me.tenant)
        queues = sorted(tenant.queues.values(), key=lambda q: q.name.lower()) if tenant else []
        others = [Colleague(a, loads.get(a.agent_id, 0)) for a in agents if a.agent_id != agent_id]
        forms = sorted(tenant.forms.values(), key=lambda f: f.name.lower()) if tenant else []
        return Directory(queues, sorted(others, key=lambda c: c.agent.display_name.lower()), forms)
