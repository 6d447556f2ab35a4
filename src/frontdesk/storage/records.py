"""Plain records exchanged between the domain and the storage backends."""

from __future__ import annotations

from collections.abc import Sequence
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
    priority: int = 0
    required_skills: dict[str, int] = field(default_factory=dict)
    # scenario engine state: {"name", "pc", "vars", "waiting_form", "phase"} (domain/scenario.py)
    scenario: JsonObject = field(default_factory=dict)
    ewt_predicted: float | None = None  # the estimate given when the chat first entered a queue
    ewt_announced: int = 0  # the ewt last sent in chat_session_status
    invited_agents: list[str] = field(default_factory=list)  # conference invitations pending


@dataclass(frozen=True, slots=True)
class DeliveryState:
    """What a customer poll needs of its chat and nothing more (``SessionStore.delivery_state``):
    who owns it, the server-side cursor, the newest customer-audience sequence number and whether
    the chat has ended. Reading these few columns instead of the whole session row keeps an idle
    poll cheap."""

    tenant: str
    app_id: str
    client_id: str
    visitor_cookie: str
    customer_cursor: int
    customer_last_seq: int
    terminal: bool


@dataclass(frozen=True, slots=True)
class SeenTail:
    """Where a held poll saw its chat's customer log stand (``SessionStore.tails_moved``)."""

    chat_id: str
    customer_last_seq: int
    terminal: bool


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


def numbered(chat_id: str, first_seq: int, ts: float, events: Sequence[NewEvent]) -> list[EventRecord]:
    """``events`` as the chat's log entries ``first_seq``, ``first_seq + 1``, … (what
    ``EventStore.append`` stores and returns)."""
    return [EventRecord(chat_id=chat_id, seq=first_seq + i, ts=ts, name=e.name, audience=e.audience,
                        in_history=e.in_history, origin=e.origin, payload=e.payload) for i, e in enumerate(events)]


def last_customer_seq(records: Sequence[EventRecord]) -> int | None:
    """The sequence number of the last of ``records`` the customer reads (a chat's
    ``customer_last_seq`` after appending them); None when the customer reads none of them."""
    return next((r.seq for r in reversed(records) if r.audience & Audience.CUSTOMER), None)


@dataclass(frozen=True, slots=True)
class KeyedMessageRecord:
    """An agent's message sent with the client's own key (``client_msg_id``), so that the same
    request sent again (a retry after a dropped connection) is answered with this message instead
    of sending a second one. ``text_digest`` tells a resend from another message under a reused key."""

    chat_id: str
    party_id: str
    client_msg_id: str
    seq: int
    msg_id: str
    text_digest: str


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
    skills: dict[str, int] = field(default_factory=dict)
    team: str = ""
    role: str = "agent"
    last_routed_at: float = 0.0  # when the agent was last offered a chat (longest idle goes first)


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
    failures: int = 0  # times its handler raised in a row (the timer service backs off and gives up)


@dataclass(frozen=True, slots=True)
class AgentLoad:
    """An agent's load counters (``AgentStore.load_counters``)."""

    load: int  # the chats it holds or is offered (``AgentStore.count_chats``)
    changes: int  # how many times the load has moved: another value means other chats, even at one load


@dataclass(frozen=True, slots=True)
class QueueModelRecord:
    """The cached estimate model of one queue (``domain/ewt.QueueModel``) and what it was computed for."""

    tenant: str
    queue_id: str
    computed_at: float
    staffing: str  # the staffing the model assumed (routing's key): another one means it is out of date
    waits: tuple[int, ...]  # estimates of positions 0 .. len-1
    tail_step_secs: float  # seconds more per position beyond them


@dataclass(slots=True)
class FormRequestRecord:
    chat_id: str
    form_request_id: int
    form_name: str
    party_id: str
    state: str  # pending | answered | cancelled | expired
    due_at: float | None
    data: JsonObject | None = None


@dataclass(slots=True)
class OfferRecord:
    """A chat offered to an agent and what became of it (accepted, rejected, timeout, withdrawn)."""

    chat_id: str
    agent_id: str
    tenant: str
    queue_id: str
    offered_at: float
    outcome: str = "pending"
    decided_at: float | None = None


@dataclass(frozen=True, slots=True)
class WrapUpRecord:
    chat_id: str
    agent_id: str
    tenant: str
    queue_id: str
    disposition: str
    notes: str
    created_at: float


@dataclass(slots=True)
class LeftMessageRecord:
    """A message a customer left when no agent could take the chat, kept for agents."""

    message_id: str
    tenant: str
    chat_id: str
    queue_id: str
    created_at: float
    data: JsonObject
    handled_by: str = ""
    handled_at: float | None = None


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A credential of an agent, stored by the SHA-256 of its value: a bearer token (scripts), a
    browser session (the ``fd_session`` cookie) or a WebSocket ticket (``parent_hash`` names the
    token or session that asked for it)."""

    token_hash: str
    agent_id: str
    kind: str  # bearer | session | ticket
    created_at: float
    expires_at: float
    parent_hash: str = ""


@dataclass(frozen=True, slots=True)
class LoginFailuresRecord:
    """Refused (or still running) logins of one account or one client address since ``window_start``."""

    key: str
    failures: int
    window_start: float


@dataclass(frozen=True, slots=True)
class AppliedConfigRecord:
    """The contact-center configuration last applied by any process (admin API, reload, a start
    with a changed file), which every process of a deployment runs and a restart resumes."""

    version: int  # 1, 2, …: each apply stores the next
    document: str  # JSON: the configuration as a document, with the agents' password hashes
    file_digest: str  # digest of the configuration file's document it was applied over (a start compares)
    applied_at: float
