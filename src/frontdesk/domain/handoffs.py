"""Agents passing chats on and working together: transfers to a queue or an agent, conference
invitations, leaving a conference, and wrap-up after a chat.

Rules (docs/routing.md):

- A transfer is made by the only agent in the chat (in a conference, the others stay: leave
  instead). The agent leaves (the customer sees ``party_left``); a queue transfer queues the chat
  in the target queue keeping its original arrival time; an agent transfer offers it to that
  agent, who must be logged in and below capacity, and whose rejection or lapsed offer puts the
  chat back in its queue.
- An invitation asks a second agent to join; the invited agent accepts (joins as another
  ``internal`` party, within capacity) or declines. Every agent in a conference can leave while
  another one stays.
- Wrap-up: every agent who was in a chat records, once, a disposition (one of the queue's
  ``dispositions`` when the queue lists any) and notes, after leaving the chat or after it ended.
"""

from __future__ import annotations

from frontdesk.domain import routing
from frontdesk.domain.errors import Conflict, Forbidden, Invalid, NotFound
from frontdesk.domain.journal import ActionContext, to_staff
from frontdesk.domain.lifecycle import arm_inactivity, held_chat, join_internal, party_leaves
from frontdesk.domain.service import EngineService
from frontdesk.protocol import events as ev
from frontdesk.storage.records import AgentRecord, PartyRecord, SessionRecord, WrapUpRecord

MAX_NOTES_CHARS = 4000


class HandoffService(EngineService):
    async def _target(self, ctx: ActionContext, tenant: str, target: str) -> AgentRecord:
        """An agent of the tenant by agent id or username."""
        agent = await ctx.tx.agents.get(target)
        if agent is None or agent.tenant != tenant:
            agent = await ctx.tx.agents.get_by_username(tenant, target)
        if agent is None:
            raise NotFound(f"no agent '{target}'")
        return agent

    async def _has_room(self, ctx: ActionContext, agent: AgentRecord) -> None:
        if agent.state == "logged_out":
            raise Conflict(f"agent '{agent.username}' is not logged in")
        (load,) = await ctx.chats_of_agents([agent.agent_id])
        if load >= agent.max_chats:
            raise Conflict(f"agent '{agent.username}' has no free chat slot")

    async def _only_agent(self, ctx: ActionContext, agent_id: str,
                          chat_id: str) -> tuple[SessionRecord, PartyRecord]:
        session, mine, parties = await held_chat(ctx, agent_id, chat_id)
        if any(p.party_type == "internal" and p.agent_id != agent_id for p in parties):
            raise Conflict("other agents are in this chat: leave it instead of transferring it")
        return session, mine

    async def transfer_to_queue(self, agent_id: str, chat_id: str, queue_id: str) -> None:
        async with self.journal.action() as ctx:
            session, mine = await self._only_agent(ctx, agent_id, chat_id)
            tenant = self.config.tenants.get(session.tenant)
            if tenant is None or queue_id not in tenant.queues:
                raise NotFound(f"no queue '{queue_id}'")
            await party_leaves(ctx, session, mine)
            session.declined_agents = [*session.declined_agents, agent_id]
            await ctx.emit(session, to_staff({"event": "frontdesk_transferred", "from_agent_id": agent_id,
                                              "to_queue": queue_id, "timestamp": ev.ts_string(ctx.now)}, "agent"))
            await routing.enqueue(ctx, self.config, session, queue_id)

    async def transfer_to_agent(self, agent_id: str, chat_id: str, target: str) -> None:
        async with self.journal.action() as ctx:
            session, mine = await self._only_agent(ctx, agent_id, chat_id)
            agent = await self._target(ctx, session.tenant, target)
            if agent.agent_id == agent_id:
                raise Invalid("you cannot transfer a chat to yourself")
            await self._has_room(ctx, agent)
            await party_leaves(ctx, session, mine)
            session.declined_agents = [*session.declined_agents, agent_id]
            await ctx.emit(session, to_staff({"event": "frontdesk_transferred", "from_agent_id": agent_id,
                                              "to_agent_id": agent.agent_id, "timestamp": ev.ts_string(ctx.now)},
                                             "agent"))
            await routing.offer_to(ctx, self.config, session, agent)

    async def invite(self, agent_id: str, chat_id: str, target: str) -> None:
        async with self.journal.action() as ctx:
            session, _, parties = await held_chat(ctx, agent_id, chat_id)
            agent = await self._target(ctx, session.tenant, target)
            if any(p.agent_id == agent.agent_id for p in parties):
                raise Conflict(f"agent '{agent.username}' is already in this chat")
            if agent.agent_id in session.invited_agents:
                raise Conflict(f"agent '{agent.username}' is already invited")
            await self._has_room(ctx, agent)
            session.invited_agents = [*session.invited_agents, agent.agent_id]
            await ctx.emit(session, to_staff({"event": "frontdesk_invited", "by_agent_id": agent_id,
                                              "agent_id": agent.agent_id, "timestamp": ev.ts_string(ctx.now)},
                                             "agent"))
            ctx.wake_agent(agent.agent_id)

    async def join(self, agent_id: str, chat_id: str) -> PartyRecord:
        """Accept an invitation: the agent joins as another ``internal`` party."""
        async with self.journal.action() as ctx:
            session = await ctx.session(chat_id)
            if session is None or agent_id not in session.invited_agents:
                raise Conflict("you are not invited to this chat")
            if session.terminal:
                raise Conflict("this chat has ended")
            agent = await ctx.tx.agents.get(agent_id)
            assert agent is not None
            await self._has_room(ctx, agent)
            session.invited_agents = [a for a in session.invited_agents if a != agent_id]
            party = await join_internal(ctx, session, agent)
            ctx.wake_tenant(session.tenant)
            return party

    async def decline(self, agent_id: str, chat_id: str) -> None:
        async with self.journal.action() as ctx:
            session = await ctx.session(chat_id)
            if session is None or agent_id not in session.invited_agents:
                raise Conflict("you are not invited to this chat")
            session.invited_agents = [a for a in session.invited_agents if a != agent_id]
            await ctx.emit(session, to_staff({"event": "frontdesk_invitation_declined", "agent_id": agent_id,
                                              "timestamp": ev.ts_string(ctx.now)}, "agent"))
            ctx.wake_agent(agent_id)

    async def leave(self, agent_id: str, chat_id: str) -> None:
        """Leave a conference; the last agent ends or transfers the chat instead."""
        async with self.journal.action() as ctx:
            session, mine, parties = await held_chat(ctx, agent_id, chat_id)
            if not any(p.party_type == "internal" and p.agent_id != agent_id for p in parties):
                raise Conflict("you are the only agent in this chat: end it or transfer it")
            await party_leaves(ctx, session, mine)
            entry = self.entry_for(session)
            if entry is not None:
                await arm_inactivity(ctx, session, entry)
            ctx.wake_tenant(session.tenant)
            await routing.dispatch(ctx, self.config, session.tenant)

    async def wrap_up(self, agent_id: str, chat_id: str, disposition: str, notes: str) -> WrapUpRecord:
        if len(notes) > MAX_NOTES_CHARS:
            raise Invalid(f"notes are longer than {MAX_NOTES_CHARS} characters")
        async with self.journal.action() as ctx:
            session = await ctx.session(chat_id)
            if session is None:
                raise NotFound("no such chat")
            mine = [p for p in await ctx.tx.parties.list_for_chat(chat_id) if p.agent_id == agent_id]
            if not mine:
                raise Forbidden("you were not in this chat")
            if not session.terminal and any(p.left_at is None for p in mine):
                raise Conflict("wrap up after leaving or ending the chat")
            if await ctx.tx.wrap_ups.get(chat_id, agent_id) is not None:
                raise Conflict("this chat is already wrapped up")
            queue = routing.queue_of(self.config, session)
            if queue is not None and queue.dispositions and disposition not in queue.dispositions:
                raise Invalid(f"disposition must be one of {', '.join(queue.dispositions)}")
            if not disposition.strip():
                raise Invalid("a disposition is required")
            record = WrapUpRecord(chat_id, agent_id, session.tenant, session.queue_id, disposition, notes, ctx.now)
            await ctx.tx.wrap_ups.insert(record)
            await ctx.emit(session, to_staff({"event": "frontdesk_wrap_up", "agent_id": agent_id,
                                              "disposition": disposition, "notes": notes,
                                              "timestamp": ev.ts_string(ctx.now)}, "agent", in_history=False))
            return record
