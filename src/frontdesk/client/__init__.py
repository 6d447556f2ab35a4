"""Python clients for frontdesk: ``CustomerClient`` speaks the Mobile/Web API like a customer's app
(with frontdesk's resumable cursor for exactly-once delivery); ``AgentClient`` drives the agent API."""

from frontdesk.client.agent import AgentClient
from frontdesk.client.customer import ClientError, CustomerClient

__all__ = ["AgentClient", "ClientError", "CustomerClient"]
