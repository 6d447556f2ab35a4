"""The agent API: REST actions and a WebSocket of live chat events, described by OpenAPI at
``/agent/api/v1/openapi.json`` (interactive docs at ``/agent/api/v1/docs``)."""


import asyncio
import contextlib
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import (
    Depends,
    FastAPI,
    File,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.responses import FileResponse, JSONResponse
from starlette.websockets import WebSocketState

from frontdesk.agents import message_route
from frontdesk.agents.admin_api import ConfigAdmin, build_admin_router
from frontdesk.agents.docs import add_offline_docs
from frontdesk.agents.handoff_api import HandoffApi, build_handoff_router
from frontdesk.agents.session import (
    agent_authentication,
    authentication,
    clear_session_cookies,
    document_cookie,
    set_session_cookies,
)
from frontdesk.agents.sockets import (
    WS_CLOSE_BAD_HELLO,
    answer_pings_until_closed,
    authenticate_websocket,
    serve_while_session_lives,
)
from frontdesk.agents.supervisor_api import build_supervisor_router
from frontdesk.bus.interfaces import ChatLockTimeout, chat_topic
from frontdesk.delivery.agent_stream import AgentStream
from frontdesk.delivery.notifier import Notifier
from frontdesk.delivery.supervisor_feed import SupervisorFeed
from frontdesk.domain.access import BEARER, SESSION, TICKET_TTL_SECS, WRONG_CREDENTIALS, AccessService, Credential
from frontdesk.domain.agents import AgentService, ChatView
from frontdesk.domain.config import ContactCenterConfig, LiveConfig
from frontdesk.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    TooManyAttempts,
    Unavailable,
)
from frontdesk.domain.files import FileService, UploadTooLarge
from frontdesk.domain.reports import ReportService
from frontdesk.domain.supervision import SupervisorService
from frontdesk.observability.context import bind
from frontdesk.protocol import agent as wire
from frontdesk.protocol.tenant import normalise_tenant
from frontdesk.storage.interfaces import StorageUnavailable
from frontdesk.storage.records import AgentRecord, PartyRecord

MAX_EVENTS_WAIT_SECS = 25.0
HELLO_TIMEOUT_SECS = 10.0
MAX_SEQ = 2**63 - 1  # sequence numbers are 64-bit signed integers in storage

# most specific first: UploadTooLarge is an Invalid
_STATUS = {UploadTooLarge: 413, NotFound: 404, Forbidden: 403, Conflict: 409, Invalid: 400, Unavailable: 503}


@dataclass(frozen=True, slots=True)
class AgentApi:
    live: LiveConfig
    agents: AgentService
    access: AccessService
    files: FileService
    stream: AgentStream
    notifier: Notifier
    version: str
    cookie_secure: bool = True  # the session cookies are Secure (HTTPS only)
    admin: ConfigAdmin | None = None  # the admin API (/admin/…) when given
    supervision: SupervisorService | None = None  # the supervisor API (/supervisor/…, /reports/…) when given
    reports: ReportService | None = None
    handoffs: HandoffApi | None = None  # transfers, conferences, wrap-up, customer history
    supervisor_feed: SupervisorFeed | None = None  # the supervisor live stream (/supervisor/ws) when given

    @property
    def config(self) -> ContactCenterConfig:
        return self.live.current


def _agent_info(agent: AgentRecord) -> wire.AgentInfo:
    return wire.AgentInfo(agent_id=agent.agent_id, username=agent.username, first_name=agent.first_name,
                          last_name=agent.last_name, display_name=agent.display_name,
                          state=agent.state,  # type: ignore[arg-type]
                          max_chats=agent.max_chats, role=agent.role,  # type: ignore[arg-type]
                          team=agent.team, skills=agent.skills)


def _party(p: PartyRecord) -> wire.Party:
    return wire.Party(party_id=p.party_id, type=p.party_type, display_name=p.display_name, first_name=p.first_name,
                      last_name=p.last_name, agent_id=p.agent_id, joined_at=p.joined_at, left_at=p.left_at)


def _summary(view: ChatView) -> wire.ChatSummary:
    s = view.session
    return wire.ChatSummary(chat_id=s.chat_id, state=s.state, app_id=s.app_id,
                            client_kind=s.client_kind,  # type: ignore[arg-type]
                            created_at=s.created_at, last_seq=s.last_seq, parameters=s.parameters,
                            phone_number=s.phone_number, from_=s.from_, case_id=s.case_id,
                            queue_id=s.queue_id, priority=s.priority, parties=[_party(p) for p in view.parties])


def build_agent_app(api: AgentApi) -> FastAPI:
    app = FastAPI(title="frontdesk agent API", version=api.version, docs_url=None, redoc_url=None,
                  description="Log in, take chats from the queue and talk to customers. Live events "
                              "arrive on the WebSocket `/ws` (see docs/agent-api.md).")
    add_offline_docs(app, "frontdesk agent API")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_cookie(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the document

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(StorageUnavailable)
    async def storage_unavailable(request: Request, exc: StorageUnavailable) -> Response:
        return message_route.storage_unavailable()

    @app.exception_handler(ChatLockTimeout)
    async def chat_busy(request: Request, exc: ChatLockTimeout) -> Response:
        return message_route.chat_busy()

    current_credential = authentication(api.access)

    def seen(request: Request, credential: Credential) -> None:
        bind(tenant=credential.agent.tenant, agent=credential.agent.agent_id,
             chat=str(request.path_params.get("chat_id", "")))

    current_agent = agent_authentication(api.access, seen)

    Agent = Annotated[AgentRecord, Depends(current_agent)]

    async def socket_agent(ws: WebSocket) -> AgentRecord | None:
        """The agent a WebSocket connects as (``?ticket=`` or ``?token=``), through the one socket
        authentication (``authenticate_websocket``); None when it closed the socket with 4401."""
        credential = await authenticate_websocket(ws, api.access, token=ws.query_params.get("token", ""),
                                                  ticket=ws.query_params.get("ticket", ""))
        return credential.agent if credential is not None else None

    errors: dict[int | str, dict[str, Any]] = {code: {"model": wire.ErrorBody} for code in (400, 401, 403, 404, 409)}

    # the routes of what an agent does most (a message, a typing notice, a receipt) first: each
    # request is matched against the routes in order
    @app.post("/chats/{chat_id}/messages", response_model=wire.SentEvent, responses=errors)
    async def message(chat_id: str, body: wire.MessageRequest, agent: Agent) -> wire.SentEvent:
        sent = await api.agents.send_message(agent.agent_id, chat_id, body.text, body.client_msg_id)
        return wire.SentEvent(seq=sent.seq, msg_id=sent.msg_id)

    @app.post("/chats/{chat_id}/typing", response_model=wire.Ok, responses=errors)
    async def typing(chat_id: str, body: wire.TypingRequest, agent: Agent) -> wire.Ok:
        await api.agents.set_typing(agent.agent_id, chat_id, body.typing)
        return wire.Ok()

    @app.post("/chats/{chat_id}/receipts", response_model=wire.Ok, responses=errors)
    async def receipt(chat_id: str, body: wire.ReceiptRequest, agent: Agent) -> wire.Ok:
        await api.agents.send_receipt(agent.agent_id, chat_id, body.ref_msg_id, body.kind)
        return wire.Ok()

    async def log_in(request: Request, body: wire.LoginRequest, kind: str) -> tuple[str, AgentRecord]:
        tenant = normalise_tenant(body.tenant) or api.config.default_tenant
        resolved = api.config.resolve_tenant(tenant, "")
        address = request.client.host if request.client else ""
        try:
            # an unknown tenant is refused like an unknown username: same cost, same answer
            return await api.access.login(resolved.name if resolved else tenant, body.username, body.password,
                                          address, kind)
        except TooManyAttempts as exc:
            raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after_secs)}) from None
        except Forbidden:
            raise HTTPException(401, WRONG_CREDENTIALS) from None

    login_errors: dict[int | str, dict[str, Any]] = {**errors, 429: {"model": wire.ErrorBody,
                                                                   "description": "too many refused logins; "
                                                                                  "see Retry-After"}}

    @app.post("/login", response_model=wire.LoginResponse, responses=login_errors)
    async def login(request: Request, body: wire.LoginRequest) -> wire.LoginResponse:
        """A bearer token for scripts (send it as ``Authorization: Bearer …``)."""
        token, agent = await log_in(request, body, BEARER)
        return wire.LoginResponse(token=token, agent=_agent_info(agent))

    @app.post("/logout", response_model=wire.Ok, responses=errors)
    async def logout(agent: Agent) -> wire.Ok:
        await api.access.logout(agent.agent_id)
        return wire.Ok()

    @app.post("/session", response_model=wire.AgentInfo, responses=login_errors)
    async def open_session(request: Request, response: Response, body: wire.LoginRequest) -> wire.AgentInfo:
        """A browser session: sets the ``fd_session`` (HttpOnly) and ``fd_csrf`` cookies."""
        token, agent = await log_in(request, body, SESSION)
        set_session_cookies(response, token, api.cookie_secure)
        return _agent_info(agent)

    @app.delete("/session", response_model=wire.Ok, responses=errors)
    async def close_session(response: Response, agent: Agent) -> wire.Ok:
        """Log out (as ``POST /logout``) and clear the session cookies."""
        await api.access.logout(agent.agent_id)
        clear_session_cookies(response, api.cookie_secure)
        return wire.Ok()

    @app.post("/ws-ticket", response_model=wire.WsTicket, responses=errors)
    async def ws_ticket(credential: Annotated[Credential, Depends(current_credential)]) -> wire.WsTicket:
        """A single-use ticket to open ``/ws?ticket=…`` within its lifetime, bound to this session."""
        return wire.WsTicket(ticket=await api.access.issue_ticket(credential), expires_in_secs=TICKET_TTL_SECS)

    @app.get("/me", response_model=wire.AgentInfo, responses=errors)
    async def me(agent: Agent) -> wire.AgentInfo:
        return _agent_info(agent)

    @app.post("/state", response_model=wire.AgentInfo, responses=errors)
    async def set_state(body: wire.StateRequest, agent: Agent) -> wire.AgentInfo:
        return _agent_info(await api.agents.set_state(agent.agent_id, body.state))

    @app.get("/offers", response_model=list[wire.ChatSummary], responses=errors)
    async def offers(agent: Agent) -> list[wire.ChatSummary]:
        return [_summary(ChatView(s, [])) for s in await api.agents.offers(agent.agent_id)]

    @app.post("/chats/{chat_id}/accept", response_model=wire.ChatSummary, responses=errors)
    async def accept(chat_id: str, agent: Agent) -> wire.ChatSummary:
        return _summary(await api.agents.accept(agent.agent_id, chat_id))

    @app.post("/chats/{chat_id}/reject", response_model=wire.Ok, responses=errors)
    async def reject(chat_id: str, agent: Agent) -> wire.Ok:
        await api.agents.reject(agent.agent_id, chat_id)
        return wire.Ok()

    @app.get("/chats", response_model=list[wire.ChatSummary], responses=errors)
    async def chats(agent: Agent) -> list[wire.ChatSummary]:
        return [_summary(await api.agents.view(agent.agent_id, s.chat_id))
                for s in await api.agents.held_chats(agent.agent_id)]

    @app.get("/chats/{chat_id}", response_model=wire.ChatSummary, responses=errors)
    async def chat(chat_id: str, agent: Agent) -> wire.ChatSummary:
        return _summary(await api.agents.view(agent.agent_id, chat_id))

    @app.get("/chats/{chat_id}/events", response_model=wire.ChatEvents, responses=errors)
    async def chat_events(chat_id: str, agent: Agent, after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
                          wait: Annotated[float, Query(ge=0, le=MAX_EVENTS_WAIT_SECS)] = 0) -> wire.ChatEvents:
        """Events after ``after``; with ``wait`` > 0, hold until one arrives or ``wait`` seconds pass."""
        signal = api.notifier.subscribe(chat_topic(chat_id))
        try:
            records = await api.agents.read_events(agent.agent_id, chat_id, after)
            if not records and wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await signal.wait()
                records = await api.agents.read_events(agent.agent_id, chat_id, after)
        finally:
            api.notifier.unsubscribe(chat_topic(chat_id), signal)
        return wire.ChatEvents(chat_id=chat_id, events=[wire.ChatEvent(seq=r.seq, event=r.payload) for r in records])

    @app.post("/chats/{chat_id}/files", response_model=wire.FileSent, responses=errors)
    async def send_file(chat_id: str, agent: Agent, file: Annotated[UploadFile, File()]) -> wire.FileSent:
        await api.agents.view(agent.agent_id, chat_id)
        size = file.size if file.size is not None else 0
        record = await api.files.upload(agent.tenant, f"agent:{agent.agent_id}", file.filename or "file",
                                        file.content_type or "", file.file, size)
        event = await api.agents.send_file(agent.agent_id, chat_id, record.file_id)
        return wire.FileSent(seq=event.seq, file_id=record.file_id, file_name=record.file_name)

    @app.get("/chats/{chat_id}/files/{file_id}", responses=errors)
    async def get_file(chat_id: str, file_id: str, agent: Agent) -> FileResponse:
        await api.agents.view(agent.agent_id, chat_id)
        stored = await api.files.open(file_id, chat_id)
        return FileResponse(stored.path, media_type=stored.record.content_type, filename=stored.record.file_name,
                            content_disposition_type="attachment", headers={"X-Content-Type-Options": "nosniff"})

    @app.post("/chats/{chat_id}/forms", response_model=wire.FormShown, responses=errors)
    async def show_form(chat_id: str, body: wire.FormRequest, agent: Agent) -> wire.FormShown:
        form_id = await api.agents.show_form(agent.agent_id, chat_id, body.form_name, body.timeout_secs)
        return wire.FormShown(form_request_id=form_id)

    @app.post("/chats/{chat_id}/case", response_model=wire.Ok, responses=errors)
    async def set_case(chat_id: str, body: wire.CaseRequest, agent: Agent) -> wire.Ok:
        await api.agents.set_case(agent.agent_id, chat_id, body.case_id)
        return wire.Ok()

    @app.post("/chats/{chat_id}/signaling", response_model=wire.Ok, responses=errors)
    async def signaling(chat_id: str, body: wire.SignalingRequest, agent: Agent) -> wire.Ok:
        await api.agents.send_signaling(agent.agent_id, chat_id, body.data)
        return wire.Ok()

    @app.post("/chats/{chat_id}/end", response_model=wire.Ok, responses=errors)
    async def end(chat_id: str, agent: Agent) -> wire.Ok:
        await api.agents.end_chat(agent.agent_id, chat_id)
        return wire.Ok()

    async def readable(agent_id: str, cursors: dict[Any, int]) -> dict[str, int]:
        """The hello's cursors for chats this agent may read (as ``GET /chats/{id}/events``): a
        cursor naming any other chat would otherwise stream that chat's events."""
        allowed: dict[str, int] = {}
        for chat_id, seq in cursors.items():
            with contextlib.suppress(NotFound, Forbidden):
                await api.agents.view(agent_id, str(chat_id))
                allowed[str(chat_id)] = seq
        return allowed

    @app.websocket("/ws")
    async def websocket(ws: WebSocket, ticket: str = "", token: str = "") -> None:
        """Live events: open with ``?ticket=`` (``POST /ws-ticket``) or ``?token=``; send
        ``{"type": "hello", "cursors": {chat_id: seq}}`` first; receive ``snapshot`` and ``event``
        messages (docs/agent-api.md)."""
        credential = await authenticate_websocket(ws, api.access, token=token, ticket=ticket)
        if credential is None:
            return
        agent = credential.agent
        try:
            async with asyncio.timeout(HELLO_TIMEOUT_SECS):
                hello = await ws.receive_json()
        except (TimeoutError, ValueError, WebSocketDisconnect):
            if ws.client_state == WebSocketState.CONNECTED:
                await ws.close(WS_CLOSE_BAD_HELLO, "expected a hello message")
            return
        cursors = hello.get("cursors", {}) if isinstance(hello, dict) and hello.get("type") == "hello" else None
        if not isinstance(cursors, dict) or not all(type(v) is int and 0 <= v <= MAX_SEQ for v in cursors.values()):
            await ws.close(WS_CLOSE_BAD_HELLO, "hello.cursors must map chat ids to sequence numbers")
            return

        async def serve(stop: asyncio.Event) -> None:
            reader = asyncio.ensure_future(answer_pings_until_closed(ws, stop))
            try:
                await api.stream.run(agent.agent_id, credential.token_hash, ws.send_json,
                                     await readable(agent.agent_id, cursors), stop)
            except (WebSocketDisconnect, RuntimeError):
                pass
            finally:
                reader.cancel()

        await serve_while_session_lives(ws, api.access, api.notifier, credential, serve)

    # after the desktop's own routes, which every message, typing notice and receipt is matched
    # against first (each included router is a walk through its routes); no two routes of the API
    # match one path, so their order changes no answer (tests/test_route_order.py)
    if api.admin is not None:
        app.include_router(build_admin_router(api.admin, current_agent), prefix="/admin")
    if api.supervision is not None and api.reports is not None:
        app.include_router(build_supervisor_router(api.supervision, api.reports, current_agent, socket_agent,
                                                   api.supervisor_feed), prefix="")
    if api.handoffs is not None:
        app.include_router(build_handoff_router(api.handoffs, current_agent), responses=errors)
    return app
