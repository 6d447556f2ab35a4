"""Plain records exchanged between the domain and the storage backends."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntFlag
from typing import Any

JsonObject = dict[str, Any]


class Audience(IntFlag):
    """Who reads an event from a session's log."""

    CUSTOMER = 1
    AGENTS = 2
    SUPERVISORS = 4
    STAFF = AGENTS | SUPERVISORS
    ALL = CUSTOMER | AGENTS | SUPERVISORS


@dataclass(slots=True)
class SessionRecord:
    chat_id: str
    tenant: str
    app_id: str
    client_id: str
    client_kind: str  # "web" (clientId WebChat) or "mobile" (every other client)
    visitor_cookie: str
    state: str
    created_at: float
    queue_id: str
    phone_number: str = ""
    from_: str = ""
    parameters: JsonObject = field(default_factory=dict)
    case_id: str = ""
    offered_agent_id: str = ""
    declined_agents: list[str] = field(default_factory=list)
    last_seq: int = 0
    customer_last_seq: int = 0
    customer_cursor: int = 0
    terminal: bool = False
    end_reason: str = ""
    ended_at: float | None = None
    queued_at: float | None = None
    connected_at: float | None = None


@dataclass(frozen=True, slots=True)
class EventRecord:
    chat_id: str
    seq: int
    ts: float
    name: str
    audience: Audience
    in_history: bool
    origin: str  # "customer", "agent", "system"
    payload: JsonObject


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event an action appends; the store assigns its sequence number."""

    payload: JsonObject
    audience: Audience
    in_history: bool
    origin: str

    @property
    def name(self) -> str:
        return str(self.payload["event"])


@dataclass(slots=True)
class PartyRecord:
    party_id: str
    chat_id: str
    party_type: str  # scenario | external | internal
    agent_id: str
    first_name: str
    last_name: str
    display_name: str
    joined_at: float
    left_at: float | None = None


@dataclass(slots=True)
class AgentRecord:
    agent_id: str
    tenant: str
    username: str
    password_hash: str
    first_name: str
    last_name: str
    display_name: str
    max_chats: int
    state: str  # logged_out | not_ready | ready
    state_since: float
    photo_path: str = ""
    auto_accept: bool = False


@dataclass(frozen=True, slots=True)
class FileRecord:
    file_id: str
    tenant: str
    chat_id: str
    file_name: str
    content_type: str
    size: int
    created_at: float
    uploader: str


@dataclass(frozen=True, slots=True)
class TimerRecord:
    chat_id: str
    kind: str
    due_at: float
    payload: JsonObject


@dataclass(slots=True)
class FormRequestRecord:
    chat_id: str
    form_request_id: int
    form_name: str
    party_id: str
    state: str  # pending | answered | cancelled | expired
    due_at: float | None
    data: JsonObject | None = None
