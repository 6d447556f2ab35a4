"""Who may supervise: the one place that decides it (the supervisor API, reports, monitoring reads,
the supervisor live stream)."""

from __future__ import annotations

from frontdesk.domain.errors import Forbidden
from frontdesk.storage.records import AgentRecord

SUPERVISOR_ROLES = ("supervisor", "admin")  # an admin is a supervisor too
NOT_A_SUPERVISOR = "this needs an agent whose role is supervisor or admin"


def is_supervisor(agent: AgentRecord | None) -> bool:
    return agent is not None and agent.role in SUPERVISOR_ROLES


def require_supervisor(agent: AgentRecord | None) -> AgentRecord:
    """The agent, when it may supervise; ``Forbidden`` otherwise (a missing agent too)."""
    if agent is None or not is_supervisor(agent):
        raise Forbidden(NOT_A_SUPERVISOR)
    return agent
