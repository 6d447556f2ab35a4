"""Wire formats of the agent API (REST bodies and answers; WebSocket messages are documented in
docs/agent-api.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)
    tenant: str = Field(default="", max_length=253, description="Tenant host; the default tenant when empty")


class AgentInfo(BaseModel):
    agent_id: str
    username: str
    first_name: str
    last_name: str
    display_name: str
    state: Literal["logged_out", "not_ready", "ready"]
    max_chats: int
    role: Literal["agent", "supervisor", "admin"] = "agent"
    team: str = ""
    skills: dict[str, int] = {}


class LoginResponse(BaseModel):
    token: str
    agent: AgentInfo


class WsTicket(BaseModel):
    ticket: str = Field(description="open /ws?ticket=… with it once, within expires_in_secs")
    expires_in_secs: int


class StateRequest(BaseModel):
    state: Literal["ready", "not_ready"]


class Party(BaseModel):
    party_id: str
    type: str
    display_name: str
    first_name: str
    last_name: str
    agent_id: str
    joined_at: float
    left_at: float | None


class ChatSummary(BaseModel):
    chat_id: str
    state: str
    app_id: str
    client_kind: Literal["web", "mobile"]
    created_at: float
    last_seq: int
    parameters: dict[str, Any]
    phone_number: str
    from_: str = Field(serialization_alias="from")
    case_id: str
    queue_id: str = ""
    priority: int = 0
    parties: list[Party] = []


class ChatEvent(BaseModel):
    seq: int
    event: dict[str, Any]


class ChatEvents(BaseModel):
    chat_id: str
    events: list[ChatEvent]


class MessageRequest(BaseModel):
    text: str = Field(min_length=1, max_length=32_000)
    client_msg_id: str = Field("", max_length=128,
                               description="the client's own key for this message: the same request sent again "
                                           "(a retry) is answered with the message already sent")


class SentEvent(BaseModel):
    seq: int
    msg_id: str = ""


class TypingRequest(BaseModel):
    typing: bool


class ReceiptRequest(BaseModel):
    ref_msg_id: str = Field(min_length=1, max_length=512)
    kind: Literal["delivered", "read"]


class FormRequest(BaseModel):
    form_name: str = Field(max_length=128, description='"" asks for the next typed message as the answer')
    timeout_secs: int = Field(default=300, ge=1, le=86_400)


class FormShown(BaseModel):
    form_request_id: int


class CaseRequest(BaseModel):
    case_id: str = Field(max_length=128)


class SignalingRequest(BaseModel):
    data: dict[str, Any]


class FileSent(BaseModel):
    seq: int
    file_id: str
    file_name: str


class TransferRequest(BaseModel):
    """Exactly one of ``queue`` (a queue id) or ``agent`` (an agent id or username)."""

    queue: str = Field(default="", max_length=128)
    agent: str = Field(default="", max_length=256)


class InviteRequest(BaseModel):
    agent: str = Field(min_length=1, max_length=256, description="agent id or username")


class WrapUpRequest(BaseModel):
    disposition: str = Field(min_length=1, max_length=128)
    notes: str = Field(default="", max_length=4000)


class WrapUp(BaseModel):
    chat_id: str
    agent_id: str
    queue_id: str
    disposition: str
    notes: str
    created_at: float


class LocationRequest(BaseModel):
    timeout_secs: int = Field(default=300, ge=1, le=86_400)


class EarlierChat(BaseModel):
    chat_id: str
    state: str
    queue_id: str
    case_id: str
    created_at: float
    ended_at: float | None
    end_reason: str
    events: list[dict[str, Any]]


class LeftMessage(BaseModel):
    message_id: str
    chat_id: str
    queue_id: str
    created_at: float
    data: dict[str, Any]
    handled_by: str
    handled_at: float | None


class Ok(BaseModel):
    ok: bool = True


class ErrorBody(BaseModel):
    detail: str


class QueueChoice(BaseModel):
    queue_id: str
    name: str
    dispositions: list[str] = Field(description="wrap-up choices of the queue; empty: free text")


class ColleagueInfo(BaseModel):
    agent_id: str
    username: str
    display_name: str
    state: Literal["logged_out", "not_ready", "ready"]
    load: int = Field(description="chats held or being offered")
    max_chats: int


class FormChoice(BaseModel):
    name: str
    title: str


class DirectoryInfo(BaseModel):
    queues: list[QueueChoice]
    agents: list[ColleagueInfo]
    forms: list[FormChoice]
