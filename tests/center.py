"""A small contact center for engine tests: two queues with skills, three agents and a supervisor,
served by a real server (the ``start_server`` fixture) on a fake clock."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from frontdesk.client import AgentClient, CustomerClient
from frontdesk.domain.config import AgentConfig, ContactCenterConfig, EntryConfig, QueueConfig, TenantConfig
from frontdesk.settings import Settings
from tests.conftest import TEST_HOLD_SECS, LiveServer, StartServer, cheap_hash

TENANT = "acme.test"
PASSWORD = "secret-pass"
_HASH = cheap_hash(PASSWORD)

JsonObject = dict[str, Any]


def agent_config(username: str, **changes: Any) -> AgentConfig:
    base = AgentConfig(username=username, password_hash=_HASH, first_name=username.title(), last_name="",
                       display_name=username.title(), max_chats=2, skills={"general": 1})
    return replace(base, **changes)


def center_config(queues: tuple[QueueConfig, ...] | None = None, agents: tuple[AgentConfig, ...] | None = None,
                  **tenant_changes: Any) -> ContactCenterConfig:
    queues = queues or (
        QueueConfig("general", "General", skills={"general": 1}),
        QueueConfig("billing", "Billing", skills={"billing": 2}, priority=5, dispositions=("resolved", "callback")),
    )
    agents = agents or (
        agent_config("ann", skills={"general": 1, "billing": 3}),
        agent_config("bob"),
        agent_config("cat", skills={"general": 1, "billing": 1}),
        agent_config("sue", role="supervisor", skills={}),
    )
    entries = {
        "support": EntryConfig(app_id="support", name="Support", queue_id="general", inactivity_timeout_secs=0),
        "billing": EntryConfig(app_id="billing", name="Billing", queue_id="billing", inactivity_timeout_secs=0),
    }
    tenant = TenantConfig(name=TENANT, entries=entries, queues={q.queue_id: q for q in queues}, agents=agents)
    tenant = replace(tenant, **tenant_changes)
    return ContactCenterConfig(tenants={TENANT: tenant}, default_tenant=TENANT)


@dataclass
class Center:
    live: LiveServer
    clients: list[Any] = field(default_factory=list)

    def customer(self, client_id: str, app_id: str = "support") -> CustomerClient:
        client = CustomerClient(self.live.base_url, app_id=app_id, client_id=client_id, tenant_url=TENANT)
        self.clients.append(client)
        return client

    async def agent(self, username: str, ready: bool = True) -> AgentClient:
        client = AgentClient(self.live.base_url)
        self.clients.append(client)
        await client.login(username, PASSWORD, tenant=TENANT)
        if ready:
            await client.set_state("ready")
        return client

    async def chat(self, client_id: str, app_id: str = "support") -> tuple[CustomerClient, str]:
        customer = self.customer(client_id, app_id)
        ticket = await customer.request_chat({"first_name": client_id})
        return customer, str(ticket["chat_id"])

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()


async def start_center(start_server: StartServer, config: ContactCenterConfig | None = None) -> Center:
    settings = Settings(contact_center=config or center_config(), poll_hold_secs=TEST_HOLD_SECS, is_demo=False)
    return Center(await start_server(settings=settings))


def statuses(events: list[JsonObject]) -> list[tuple[str, str]]:
    return [(e["state"], e["ewt"]) for e in events if e["event"] == "chat_session_status"]


def names(events: list[JsonObject]) -> list[str]:
    return [e["event"] for e in events]
