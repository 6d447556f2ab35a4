"""Agent API routes for working with others and with the customer's past: transfers, conference
invitations, leaving, wrap-up, location requests, the customer's earlier chats, left messages."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from frontdesk.domain.agents import AgentService
from frontdesk.domain.directory import DirectoryService
from frontdesk.domain.errors import Invalid
from frontdesk.domain.handoffs import HandoffService
from frontdesk.domain.left_messages import LeftMessageService
from frontdesk.protocol import agent as wire
from frontdesk.storage.records import AgentRecord, LeftMessageRecord

LOCATION_FORM = "RequestLocation"  # the form name clients answer with their location


@dataclass
class HandoffApi:
    agents: AgentService
    handoffs: HandoffService
    left_messages: LeftMessageService


def _left(m: LeftMessageRecord) -> wire.LeftMessage:
    return wire.LeftMessage(message_id=m.message_id, chat_id=m.chat_id, queue_id=m.queue_id, created_at=m.created_at,
                            data=m.data, handled_by=m.handled_by, handled_at=m.handled_at)


def build_handoff_router(api: HandoffApi, current_agent: Callable[..., Awaitable[AgentRecord]]) -> APIRouter:
    router = APIRouter()
    Agent = Annotated[AgentRecord, Depends(current_agent)]

    @router.post("/chats/{chat_id}/transfer", response_model=wire.Ok)
    async def transfer(chat_id: str, body: wire.TransferRequest, agent: Agent) -> wire.Ok:
        """Transfer the chat to a queue or to an agent (give exactly one)."""
        if bool(body.queue) == bool(body.agent):
            raise Invalid("give exactly one of 'queue' or 'agent'")
        if body.queue:
            await api.handoffs.transfer_to_queue(agent.agent_id, chat_id, body.queue)
        else:
            await api.handoffs.transfer_to_agent(agent.agent_id, chat_id, body.agent)
        return wire.Ok()

    @router.post("/chats/{chat_id}/invite", response_model=wire.Ok)
    async def invite(chat_id: str, body: wire.InviteRequest, agent: Agent) -> wire.Ok:
        """Invite another agent into the chat (a conference)."""
        await api.handoffs.invite(agent.agent_id, chat_id, body.agent)
        return wire.Ok()

    @router.post("/chats/{chat_id}/join", response_model=wire.Ok)
    async def join(chat_id: str, agent: Agent) -> wire.Ok:
        """Accept an invitation: join the chat as another agent."""
        await api.handoffs.join(agent.agent_id, chat_id)
        return wire.Ok()

    @router.post("/chats/{chat_id}/decline", response_model=wire.Ok)
    async def decline(chat_id: str, agent: Agent) -> wire.Ok:
        await api.handoffs.decline(agent.agent_id, chat_id)
        return wire.Ok()

    @router.post("/chats/{chat_id}/leave", response_model=wire.Ok)
    async def leave(chat_id: str, agent: Agent) -> wire.Ok:
        """Leave a conference (another agent stays with the customer)."""
        await api.handoffs.leave(agent.agent_id, chat_id)
        return wire.Ok()

    @router.post("/chats/{chat_id}/wrapup", response_model=wire.WrapUp)
    async def wrap_up(chat_id: str, body: wire.WrapUpRequest, agent: Agent) -> wire.WrapUp:
        """Record the disposition and notes of a chat you left or that ended."""
        record = await api.handoffs.wrap_up(agent.agent_id, chat_id, body.disposition, body.notes)
        return wire.WrapUp(chat_id=record.chat_id, agent_id=record.agent_id, queue_id=record.queue_id,
                           disposition=record.disposition, notes=record.notes, created_at=record.created_at)

    @router.post("/chats/{chat_id}/location-request", response_model=wire.FormShown)
    async def location_request(chat_id: str, body: wire.LocationRequest, agent: Agent) -> wire.FormShown:
        """Ask the customer for their location (the ``RequestLocation`` form)."""
        form_id = await api.agents.show_form(agent.agent_id, chat_id, LOCATION_FORM, body.timeout_secs)
        return wire.FormShown(form_request_id=form_id)

    @router.get("/chats/{chat_id}/customer-history", response_model=list[wire.EarlierChat])
    async def customer_history(chat_id: str, agent: Agent) -> list[wire.EarlierChat]:
        """The customer's earlier chats (same client or same case), newest first, with transcripts."""
        return [wire.EarlierChat(chat_id=s.chat_id, state=s.state, queue_id=s.queue_id, case_id=s.case_id,
                                 created_at=s.created_at, ended_at=s.ended_at, end_reason=s.end_reason,
                                 events=[r.payload for r in records])
                for s, records in await api.agents.customer_history(agent.agent_id, chat_id)]

    directory = DirectoryService(api.agents.journal, api.agents.live)

    @router.get("/directory", response_model=wire.DirectoryInfo)
    async def colleagues(agent: Agent) -> wire.DirectoryInfo:
        """The queues, the other agents and the named forms of your tenant: where a chat can be
        transferred, whom to invite, which forms to push, and each queue's wrap-up dispositions."""
        found = await directory.directory(agent.agent_id)
        return wire.DirectoryInfo(
            queues=[wire.QueueChoice(queue_id=q.queue_id, name=q.name, dispositions=list(q.dispositions))
                    for q in found.queues],
            agents=[wire.ColleagueInfo(agent_id=c.agent.agent_id, username=c.agent.username,
                                       display_name=c.agent.display_name,
                                       state=c.agent.state,  # type: ignore[arg-type]
                                       load=c.load, max_chats=c.agent.max_chats) for c in found.agents],
            forms=[wire.FormChoice(name=f.name, title=f.title or f.name) for f in found.forms])

    @router.get("/left-messages", response_model=list[wire.LeftMessage])
    async def left_messages(agent: Agent, handled: Annotated[bool, Query()] = False) -> list[wire.LeftMessage]:
        """Messages customers left; ``handled=true`` includes those already handled."""
        return [_left(m) for m in await api.left_messages.list(agent.tenant, handled)]

    @router.post("/left-messages/{message_id}/handled", response_model=wire.LeftMessage)
    async def handled(message_id: str, agent: Agent) -> wire.LeftMessage:
        return _left(await api.left_messages.mark_handled(agent.tenant, agent.agent_id, message_id))

    return router
