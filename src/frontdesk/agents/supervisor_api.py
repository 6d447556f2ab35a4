"""The supervisor API (``/agent/api/v1/supervisor/…``) and the reports (``/agent/api/v1/reports/…``).
Only agents whose role is ``supervisor`` or ``admin`` may call them (docs/supervisors.md)."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.websockets import WebSocketState

from frontdesk.agents.sockets import answer_pings_until_closed
from frontdesk.delivery.supervisor_feed import SupervisorFeed
from frontdesk.domain.reports import (
    AGENT_COLUMNS,
    QUEUE_COLUMNS,
    SERVICE_LEVEL_SECS,
    SURVEY_AGENT_COLUMNS,
    SURVEY_QUEUE_COLUMNS,
    ReportService,
    to_csv,
)
from frontdesk.domain.roles import NOT_A_SUPERVISOR, is_supervisor, require_supervisor
from frontdesk.domain.supervision import Overview, SupervisorService
from frontdesk.storage.records import AgentRecord, JsonObject

WS_CLOSE_NOT_SUPERVISOR = 4403
WS_CLOSE_SESSION_ENDED = 4410

# ---- bodies and answers ------------------------------------------------------------------------------------


class SupervisorError(BaseModel):
    detail: str


class QueueOverview(BaseModel):
    queue_id: str
    name: str
    waiting: int = Field(description="chats waiting in the queue now")
    longest_wait_secs: float = Field(description="how long the chat waiting longest has waited (0: none)")
    ewt_new_chat_secs: int | None = Field(description="the estimate a chat joining now would get (null: nobody "
                                                      "staffed)")
    estimates: dict[str, int] = Field(description="chat id → estimated wait of each waiting chat, seconds")
    agents_logged_in: int = Field(description="logged-in agents with the queue's skills")
    agents_ready: int = Field(description="of which ready")


class AgentOverview(BaseModel):
    agent_id: str
    username: str
    display_name: str
    role: str
    team: str
    skills: dict[str, int]
    state: str
    state_since: float
    chats: list[str] = Field(description="chats the agent is in")
    offers: list[str] = Field(description="chats offered to the agent, not yet accepted")
    load: int = Field(description="chats held plus offered")
    max_chats: int


class ChatAgentOverview(BaseModel):
    agent_id: str
    display_name: str
    party_id: str
    joined_at: float


class ChatOverview(BaseModel):
    chat_id: str
    state: str
    queue_id: str
    app_id: str
    created_at: float
    queued_at: float | None
    connected_at: float | None
    waiting_secs: float | None = Field(description="queued or offered: seconds since first entering a queue")
    connected_secs: float | None = Field(description="connected: seconds since the first agent joined")
    offered_agent_id: str
    agents: list[ChatAgentOverview]
    monitors: list[str] = Field(description="supervisors monitoring the chat")
    customer_name: str = Field(description="the pre-chat first_name and last_name, joined; empty when none")


class OverviewAnswer(BaseModel):
    tenant: str
    now: float
    queues: list[QueueOverview]
    agents: list[AgentOverview]
    chats: list[ChatOverview]


class MonitorAnswer(BaseModel):
    chat_id: str
    monitoring: bool
    chats: list[str] = Field(description="every chat the supervisor monitors now")


class WhisperRequest(BaseModel):
    text: str = Field(min_length=1, max_length=32_000)


class WhisperAnswer(BaseModel):
    seq: int


class BargeAnswer(BaseModel):
    chat_id: str
    party_id: str


class ForceStateRequest(BaseModel):
    state: Literal["ready", "not_ready", "logged_out"]


class ForcedState(BaseModel):
    agent_id: str
    state: str
    state_since: float


class QueueReportRow(BaseModel):
    queue_id: str
    offered: int
    answered: int
    abandoned: int
    failed: int
    other_unanswered: int
    waiting: int
    wait_p50_secs: float | None
    wait_p90_secs: float | None
    wait_p99_secs: float | None
    handle_avg_secs: float | None
    handle_p90_secs: float | None
    answered_within_sl: int
    service_level: float | None
    ewt_samples: int
    ewt_abs_error_p50_secs: float | None
    ewt_rel_error_p50: float | None


class AgentReportRow(BaseModel):
    agent_id: str
    username: str
    display_name: str
    team: str
    offers: int
    accepted: int
    rejected: int
    timed_out: int
    withdrawn: int
    pending: int
    chats_handled: int
    handle_avg_secs: float | None
    wrap_ups: int
    wrap_ups_by_disposition: dict[str, int]


class QueueReport(BaseModel):
    tenant: str
    since: float
    until: float
    generated_at: float
    service_level_secs: float
    queues: list[QueueReportRow]


class AgentReport(BaseModel):
    tenant: str
    since: float
    until: float
    generated_at: float
    agents: list[AgentReportRow]


class SurveyQueueReportRow(BaseModel):
    queue_id: str
    surveys: int = Field(description="chats created in the range whose post-chat survey ran")
    answered: int = Field(description="of them, those whose customer gave a rating")
    rating_avg: float | None = Field(description="the mean rating of the answered; null when none")
    ratings: dict[str, int] = Field(description='rating ("0" … "10") → how many customers gave it')


class SurveyAgentReportRow(BaseModel):
    agent_id: str
    username: str
    display_name: str
    team: str
    surveys: int = Field(description="surveyed chats the agent was in (a chat several agents served counts "
                                     "for each)")
    answered: int
    rating_avg: float | None
    ratings: dict[str, int]


class SurveyQueueReport(BaseModel):
    tenant: str
    since: float
    until: float
    generated_at: float
    queues: list[SurveyQueueReportRow]


class SurveyAgentReport(BaseModel):
    tenant: str
    since: float
    until: float
    generated_at: float
    agents: list[SurveyAgentReportRow]


def parse_time(value: str | None, name: str) -> float | None:
    """Epoch seconds, or an ISO-8601 date-time (UTC when it names no offset)."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"{name} must be epoch seconds or an ISO-8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _overview(view: Overview) -> OverviewAnswer:
    return OverviewAnswer.model_validate(asdict(view))


async def overview_body(supervision: SupervisorService, tenant: str) -> JsonObject:
    """The tenant's overview as the JSON body of ``GET /supervisor/overview`` (what the live
    stream pushes)."""
    return _overview(await supervision.tenant_overview(tenant)).model_dump(mode="json")


SocketAgent = Callable[[WebSocket], Awaitable[AgentRecord | None]]


def build_supervisor_router(supervision: SupervisorService, reports: ReportService,
                            current_agent: Callable[..., Awaitable[AgentRecord]],
                            socket_agent: SocketAgent | None = None,
                            feed: SupervisorFeed | None = None) -> APIRouter:
    """The supervisor and report routes; ``current_agent`` is the agent API's bearer-token
    dependency, ``socket_agent`` its WebSocket authentication (with ``feed``, the live stream
    ``/supervisor/ws`` is served)."""

    async def current_supervisor(agent: Annotated[AgentRecord, Depends(current_agent)]) -> AgentRecord:
        return require_supervisor(agent)

    Supervisor = Annotated[AgentRecord, Depends(current_supervisor)]
    errors: dict[int | str, dict[str, Any]] = {code: {"model": SupervisorError}
                                               for code in (400, 401, 403, 404, 409)}
    csv_answer: dict[int | str, dict[str, Any]] = {
        200: {"content": {"text/csv": {"schema": {"type": "string"}}},
              "description": "JSON, or CSV (a header row, then one row per line) with ?format=csv"}}
    supervisor = APIRouter(prefix="/supervisor", responses=errors, tags=["supervisor"])
    report = APIRouter(prefix="/reports", responses={**errors, **csv_answer}, tags=["reports"])

    @supervisor.get("/overview", response_model=OverviewAnswer)
    async def overview(agent: Supervisor) -> OverviewAnswer:
        """Queues, agents and active chats of the supervisor's tenant, now."""
        return _overview(await supervision.overview(agent.agent_id))

    @supervisor.post("/chats/{chat_id}/monitor", response_model=MonitorAnswer)
    async def monitor(chat_id: str, agent: Supervisor) -> MonitorAnswer:
        """Silently follow a chat: nobody in it is told; its events arrive on
        ``GET /chats/{id}/events`` and the WebSocket."""
        await supervision.monitor(agent.agent_id, chat_id)
        return MonitorAnswer(chat_id=chat_id, monitoring=True,
                             chats=await supervision.monitored_chats(agent.agent_id))

    @supervisor.delete("/chats/{chat_id}/monitor", response_model=MonitorAnswer)
    async def stop_monitoring(chat_id: str, agent: Supervisor) -> MonitorAnswer:
        """Stop following a chat."""
        await supervision.stop_monitoring(agent.agent_id, chat_id)
        return MonitorAnswer(chat_id=chat_id, monitoring=False,
                             chats=await supervision.monitored_chats(agent.agent_id))

    @supervisor.post("/chats/{chat_id}/whisper", response_model=WhisperAnswer)
    async def whisper(chat_id: str, body: WhisperRequest, agent: Supervisor) -> WhisperAnswer:
        """A ``frontdesk_whisper`` event for the chat's agents and supervisors, never the customer
        (monitor or join the chat first)."""
        record = await supervision.whisper(agent.agent_id, chat_id, body.text)
        return WhisperAnswer(seq=record.seq)

    @supervisor.post("/chats/{chat_id}/barge", response_model=BargeAnswer)
    async def barge(chat_id: str, agent: Supervisor) -> BargeAnswer:
        """Join a connected chat as an internal party (the customer sees ``party_joined``); then
        use the agent endpoints (``POST /chats/{id}/messages``, …)."""
        party = await supervision.barge(agent.agent_id, chat_id)
        return BargeAnswer(chat_id=chat_id, party_id=party.party_id)

    @supervisor.post("/agents/{agent_id:path}/state", response_model=ForcedState)
    async def force_state(agent_id: str, body: ForceStateRequest, agent: Supervisor) -> ForcedState:
        """Set an agent's state; ``logged_out`` revokes its tokens and gives its chats back to the queue."""
        forced = await supervision.force_state(agent.agent_id, agent_id, body.state)
        return ForcedState(agent_id=forced.agent_id, state=forced.state, state_since=forced.state_since)

    if socket_agent is not None and feed is not None:
        _add_live_stream(supervisor, supervision, socket_agent, feed)

    Since = Annotated[str | None, Query(description="start (inclusive): epoch seconds or ISO-8601; "
                                                    "default until − 24 h")]
    Until = Annotated[str | None, Query(description="end (exclusive): epoch seconds or ISO-8601; default now")]
    Format = Annotated[Literal["json", "csv"], Query(alias="format", description="json (default) or csv")]

    def csv_response(text: str, name: str) -> Response:
        return Response(text, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})

    @report.get("/queues", response_model=QueueReport)
    async def queue_report(agent: Supervisor, since: Since = None, until: Until = None,
                           fmt: Format = "json") -> Any:
        """Per queue: offered, answered, abandoned, failed, waits, handle times, service level and
        the error of the estimated wait (docs/supervisors.md)."""
        result = await reports.queues(agent.agent_id, parse_time(since, "since"), parse_time(until, "until"))
        if fmt == "csv":
            return csv_response(to_csv(QUEUE_COLUMNS, result.rows), "queues")
        return QueueReport(tenant=result.tenant, since=result.since, until=result.until,
                           generated_at=result.generated_at, service_level_secs=SERVICE_LEVEL_SECS,
                           queues=[QueueReportRow.model_validate(asdict(r)) for r in result.rows])

    @report.get("/agents", response_model=AgentReport)
    async def agent_report(agent: Supervisor, since: Since = None, until: Until = None,
                           fmt: Format = "json") -> Any:
        """Per agent: offers and their outcomes, chats handled, handle time, wrap-ups by disposition."""
        result = await reports.agents(agent.agent_id, parse_time(since, "since"), parse_time(until, "until"))
        if fmt == "csv":
            return csv_response(to_csv(AGENT_COLUMNS, result.rows), "agents")
        return AgentReport(tenant=result.tenant, since=result.since, until=result.until,
                           generated_at=result.generated_at,
                           agents=[AgentReportRow.model_validate(asdict(r)) for r in result.rows])

    @report.get("/surveys/queues", response_model=SurveyQueueReport)
    async def survey_queue_report(agent: Supervisor, since: Since = None, until: Until = None,
                                  fmt: Format = "json") -> Any:
        """Per queue: post-chat surveys, ratings given, their mean and distribution (docs/supervisors.md)."""
        result = await reports.survey_queues(agent.agent_id, parse_time(since, "since"), parse_time(until, "until"))
        if fmt == "csv":
            return csv_response(to_csv(SURVEY_QUEUE_COLUMNS, result.rows), "survey-queues")
        return SurveyQueueReport(tenant=result.tenant, since=result.since, until=result.until,
                                 generated_at=result.generated_at,
                                 queues=[SurveyQueueReportRow.model_validate(asdict(r)) for r in result.rows])

    @report.get("/surveys/agents", response_model=SurveyAgentReport)
    async def survey_agent_report(agent: Supervisor, since: Since = None, until: Until = None,
                                  fmt: Format = "json") -> Any:
        """Per agent: post-chat surveys of the chats the agent served, ratings, mean and distribution."""
        result = await reports.survey_agents(agent.agent_id, parse_time(since, "since"), parse_time(until, "until"))
        if fmt == "csv":
            return csv_response(to_csv(SURVEY_AGENT_COLUMNS, result.rows), "survey-agents")
        return SurveyAgentReport(tenant=result.tenant, since=result.since, until=result.until,
                                 generated_at=result.generated_at,
                                 agents=[SurveyAgentReportRow.model_validate(asdict(r)) for r in result.rows])

    router = APIRouter()
    router.include_router(supervisor)
    router.include_router(report)
    return router


def _add_live_stream(router: APIRouter, supervision: SupervisorService, socket_agent: SocketAgent,
                     feed: SupervisorFeed) -> None:
    @router.websocket("/ws")
    async def live_overview(ws: WebSocket) -> None:
        """The overview pushed on every change of the tenant (docs/supervisors.md): no hello;
        ``{"type": "overview", "overview": …}`` at once and after each change (at most one per
        0.5 s), ``{"type": "ping"}`` keep-alives. Close 4401 bad token, 4403 not a supervisor,
        4410 the session ended."""
        agent = await socket_agent(ws)
        if agent is None:
            return
        if not is_supervisor(agent):
            await ws.close(WS_CLOSE_NOT_SUPERVISOR, NOT_A_SUPERVISOR)
            return
        stop = asyncio.Event()

        async def session_open() -> bool:
            return await supervision.still_supervising(agent.agent_id)

        reader = asyncio.ensure_future(answer_pings_until_closed(ws, stop))
        code = 1000
        try:
            if not await feed.run(agent.tenant, agent.agent_id, ws.send_json, stop, session_open):
                code = WS_CLOSE_SESSION_ENDED
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            reader.cancel()
            if ws.client_state == WebSocketState.CONNECTED:
                with contextlib.suppress(RuntimeError):
                    await ws.close(code, "the session ended" if code == WS_CLOSE_SESSION_ENDED else None)
