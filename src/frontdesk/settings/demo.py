"""The embedded demo: what ``frontdesk serve`` runs without a configuration file."""

from __future__ import annotations

from frontdesk.domain.config import AgentConfig, ContactCenterConfig, EntryConfig, QueueConfig, TenantConfig
from frontdesk.domain.ids import PASSWORD_COST, hash_password

DEMO_TENANT = "demo.local"
DEMO_APP_ID = "demo"
DEMO_AGENT_USERNAME = "anna"
DEMO_AGENT_PASSWORD = "frontdesk-demo"  # noqa: S105 - the documented demo account
# the demo's pages are served by frontdesk itself or by a developer's local web server, on any port
DEMO_ALLOWED_ORIGINS = ("http://localhost:*", "http://127.0.0.1:*")


def demo_contact_center(password_cost: int = PASSWORD_COST) -> ContactCenterConfig:
    """The demo; ``password_cost`` lowers the scrypt cost of Anna's hash (tests only)."""
    entry = EntryConfig(
        app_id=DEMO_APP_ID, name="Demo chat", queue_id="general",
        parameters=(("first_name", "FIRST_NAME"), ("last_name", "LAST_NAME"), ("email", "EMAIL")),
        welcome_message="Welcome to the frontdesk demo! An agent will be with you shortly.",
        bot_name="Frontdesk", allowed_origins=DEMO_ALLOWED_ORIGINS)
    # the only account, so an admin: she reaches the supervisor and admin features too
    password_hash = hash_password(DEMO_AGENT_PASSWORD, cost=password_cost)
    agent = AgentConfig(username=DEMO_AGENT_USERNAME, password_hash=password_hash,
                        first_name="Anna", last_name="Lee", display_name="Anna", max_chats=3,
                        skills={"general": 5}, role="admin")
    tenant = TenantConfig(name=DEMO_TENANT, aliases=("localhost", "127.0.0.1"), entries={entry.app_id: entry},
                          queues={"general": QueueConfig("general", "General")}, agents=(agent,))
    return ContactCenterConfig(tenants={tenant.name: tenant}, default_tenant=tenant.name)
