"""Agent actions: change state, take offered chats, talk to the customer, end chats (logging in
and out is ``access``)."""

from __future__ import annotations

from dataclasses import dataclass

from frontdesk.domain import routing
from frontdesk.domain.errors import Conflict, Forbidden, Invalid, NotFound
from frontdesk.domain.forms import show_form
from frontdesk.domain.ids import (
    new_msg_id,
)
from frontdesk.domain.journal import ActionContext, to_customer, to_everyone
from frontdesk.domain.keyed_messages import SentMessage, remember, sent_before
from frontdesk.domain.lifecycle import (
    AGENT_LOST,
    OFFER_TIMEOUT,
    agent_key,
    connect_agent,
    end_session,
    held_chat,
)
from frontdesk.domain.offers import offer_decided
from frontdesk.domain.roles import is_supervisor
from frontdesk.domain.service import EngineService
from frontdesk.protocol import events as ev
from frontdesk.storage.records import (
    AgentRecord,
    Audience,
    EventRecord,
    FileRecord,
    JsonObject,
    PartyRecord,
    SessionRecord,
    TimerRecord,
)

AGENT_STATES = ("ready", "not_ready")
MAX_FORM_TIMEOUT_SECS = 24 * 3600


@dataclass(frozen=True, slots=True)
class ChatView:
    """What an agent sees of a chat: its state, the customer's pre-chat data and its parties."""

    session: SessionRecord
    parties: list[PartyRecord]


class AgentService(EngineService):
    # ---- accounts ---------------------------------------------------------------------------------

    async def provision(self) -> None:
        """Create or update the agent accounts of the configuration (state and tokens are kept)."""
        async with self.journal.action() as ctx:
            for tenant in self.config.tenants.values():
                for conf in tenant.agents:
                    existing = await ctx.tx.agents.get_by_username(tenant.name, conf.username)
                    agent = AgentRecord(
                        agent_id=existing.agent_id if existing else f"{tenant.name}/{conf.username}",
                        tenant=tenant.name, username=conf.username, password_hash=conf.password_hash,
                        first_name=conf.first_name, last_name=conf.last_name, display_name=conf.display_name,
                        max_chats=conf.max_chats, state=existing.state if existing else "logged_out",
                        state_since=existing.state_since if existing else ctx.now, photo_path=conf.photo_path,
                        auto_accept=conf.auto_accept, skills=dict(conf.skills), team=conf.team, role=conf.role,
                        last_routed_at=existing.last_routed_at if existing else 0.0)
                    await ctx.tx.agents.upsert(agent)

    async def set_state(self, agent_id: str, state: str) -> AgentRecord:
        if state not in AGENT_STATES:
            raise Invalid(f"state must be one of {', '.join(AGENT_STATES)}")
        async with self.journal.action() as ctx:
            agent = await self._agent(ctx, agent_id)
            if agent.state != state:
                agent.state, agent.state_since = state, ctx.now
                await ctx.tx.agents.upsert(agent)
                ctx.wake_agent(agent_id)
                ctx.wake_tenant(agent.tenant)
            if state == "ready":
                await routing.dispatch(ctx, self.config, agent.tenant)
            return agent

    async def _agent(self, ctx: ActionContext, agent_id: str) -> AgentRecord:
        agent = await ctx.tx.agents.get(agent_id)
        if agent is None:
            raise NotFound("no such agent")
        return agent

    async def _release_chats(self, ctx: ActionContext, agent: AgentRecord) -> None:
        await routing.release_agent_chats(ctx, self.config, agent)

    # ---- desktop presence -------------------------------------------------------------------------

    async def desktop_connected(self, agent_id: str) -> None:
        """A desktop (WebSocket) of the agent is connected: a pending "agent lost" timer is off."""
        async with self.journal.action() as ctx:
            await ctx.tx.timers.cancel(agent_key(agent_id), AGENT_LOST)

    async def desktop_lost(self, agent_id: str) -> None:
        """The agent's last desktop disconnected: unless one reconnects within the tenant's
        ``agent_lost_grace_secs``, the agent is logged out and its chats go back to their queues.
        The grace runs from now (a pending "agent lost" timer is moved)."""
        await self._start_release(agent_id, restart_grace=True)

    async def desktops_lapsed(self, agent_id: str) -> None:
        """The process that had the agent's desktops died (their presence leases ran out): like
        ``desktop_lost``, but idempotent. While the agent's "agent lost" timer is pending this
        changes nothing (the grace runs from the first call), so a release that the at-least-once
        presence claims offer twice starts once."""
        await self._start_release(agent_id, restart_grace=False)

    async def _start_release(self, agent_id: str, restart_grace: bool) -> None:
        async with self.journal.action() as ctx:
            agent = await ctx.tx.agents.get(agent_id)
            tenant = self.config.tenants.get(agent.tenant) if agent else None
            if agent is None or tenant is None or agent.state == "logged_out":
                return
            timer = TimerRecord(agent_key(agent_id), AGENT_LOST, ctx.now + tenant.agent_lost_grace_secs,
                                {"agent_id": agent_id})
            if restart_grace:
                await ctx.tx.timers.set(timer)
            elif await ctx.tx.timers.get(timer.chat_id, AGENT_LOST) is None:
                await ctx.tx.timers.ensure(timer)  # (ensure: of two concurrent calls, the first one's)
            else:
                return  # its release has started already
            ctx.note("agent desktop disconnected: logged out unless it reconnects in time", agent=agent_id,
                     grace_secs=tenant.agent_lost_grace_secs)

    # ---- offers ---------------------------------------------------------------------------------

    async def offers(self, agent_id: str) -> list[SessionRecord]:
        async with self.journal.read() as tx:
            agent = await tx.agents.get(agent_id)
            if agent is None:
                return []
            connecting = await tx.sessions.list_in_state(agent.tenant, ("connecting",))
        return [s for s in connecting if s.offered_agent_id == agent_id]

    async def accept(self, agent_id: str, chat_id: str) -> ChatView:
        async with self.journal.action() as ctx:
            agent = await self._agent(ctx, agent_id)
            session = await ctx.session(chat_id)
            if session is None or session.tenant != agent.tenant:
                raise NotFound("no such chat")
            if session.terminal or session.state != "connecting" or session.offered_agent_id != agent_id:
                raise Conflict("this chat is not offered to you")
            await offer_decided(ctx, chat_id, agent_id, "accepted")
            await ctx.tx.timers.cancel(chat_id, OFFER_TIMEOUT)
            await connect_agent(ctx, session, agent, self.entry_for(session))
            ctx.wake_tenant(session.tenant)
            parties = await ctx.tx.parties.list_for_chat(chat_id)
            return ChatView(session, parties)

    async def reject(self, agent_id: str, chat_id: str) -> None:
        async with self.journal.action() as ctx:
            session = await ctx.session(chat_id)
            if session is None or session.offered_agent_id != agent_id or session.state != "connecting":
                raise Conflict("this chat is not offered to you")
            session.declined_agents = [*session.declined_agents, agent_id]
            await routing.requeue(ctx, self.config, session, "rejected")
            ctx.wake_agent(agent_id)
            await routing.dispatch(ctx, self.config, session.tenant)

    # ---- chats the agent holds ------------------------------------------------------------------------

    async def held_chats(self, agent_id: str) -> list[SessionRecord]:
        async with self.journal.read() as tx:
            return await tx.sessions.list_for_agent(agent_id)

    async def view(self, agent_id: str, chat_id: str) -> ChatView:
        async with self.journal.read(snapshot=False) as tx:
            session = await tx.sessions.get(chat_id)
            if session is None:
                raise NotFound("no such chat")
            parties = await tx.parties.list_for_chat(chat_id)
            monitoring = await tx.monitors.is_monitoring(chat_id, agent_id)
        if not (any(p.agent_id == agent_id for p in parties) or session.offered_agent_id == agent_id
                or agent_id in session.invited_agents or monitoring):
            raise Forbidden("you do not hold this chat")
        return ChatView(session, parties)

    async def customer_history(self, agent_id: str, chat_id: str, limit: int = 20) -> list[tuple[SessionRecord,
                                                                                                 list[EventRecord]]]:
        """The customer's earlier chats (same client, or same case), newest first, with their
        transcripts as agents see them."""
        view = await self.view(agent_id, chat_id)
        session = view.session
        async with self.journal.read() as tx:
            cookie = session.visitor_cookie if session.client_kind == "web" else ""
            earlier: dict[str, SessionRecord] = {}
            if session.client_kind != "web" or cookie:
                for other in await tx.sessions.list_for_client(session.tenant, session.client_id, cookie, limit + 1):
                    earlier[other.chat_id] = other
            if session.case_id:
                for other in await tx.sessions.list_for_case(session.tenant, session.case_id):
                    earlier[other.chat_id] = other
            earlier.pop(chat_id, None)
            chosen = sorted(earlier.values(), key=lambda s: s.created_at, reverse=True)[:limit]
            return [(other, [r for r in await tx.events.read_history(other.chat_id) if r.audience & Audience.AGENTS])
                    for other in chosen]

    async def read_events(self, agent_id: str, chat_id: str, after_seq: int, limit: int = 500) -> list[EventRecord]:
        view = await self.view(agent_id, chat_id)
        async with self.journal.read(snapshot=False) as tx:
            agent = await tx.agents.get(agent_id)
            # a supervisor monitoring a chat (not a party of it) reads what supervisors may see
            party = any(p.agent_id == agent_id for p in view.parties)
            supervisor = is_supervisor(agent)
            audience = Audience.SUPERVISORS if supervisor and not party else Audience.AGENTS
            return await tx.events.read_after(view.session.chat_id, after_seq, audience, limit)

    @staticmethod
    async def _held(ctx: ActionContext, agent_id: str, chat_id: str) -> tuple[SessionRecord, PartyRecord]:
        session, party, _ = await held_chat(ctx, agent_id, chat_id)
        return session, party

    async def send_message(self, agent_id: str, chat_id: str, text: str, client_msg_id: str = "") -> SentMessage:
        """Send ``text`` to the chat; with ``client_msg_id`` at most once however often it is asked
        (``keyed_messages``)."""
        if not text.strip():
            raise Invalid("a message needs text")
        async with self.journal.action() as ctx:
            session, party = await self._held(ctx, agent_id, chat_id)
            if client_msg_id:
                earlier = await sent_before(ctx, chat_id, party.party_id, client_msg_id, text)
                if earlier is not None:
                    return earlier
            payload = ev.message(party.party_id, new_msg_id(), ev.html_from_text(text), text, ctx.now)
            (record,) = await ctx.emit(session, to_everyone(payload, "agent"))
            sent = SentMessage(record.seq, str(payload["msg_id"]))
            if client_msg_id:
                await remember(ctx, chat_id, party.party_id, client_msg_id, text, sent)
            return sent

    async def set_typing(self, agent_id: str, chat_id: str, typing: bool) -> None:
        async with self.journal.action() as ctx:
            session, party = await self._held(ctx, agent_id, chat_id)
            payload = ev.typing(party.party_id, ctx.now) if typing else ev.not_typing(party.party_id, ctx.now)
            await ctx.emit(session, to_everyone(payload, "agent", in_history=False))

    async def send_receipt(self, agent_id: str, chat_id: str, ref_msg_id: str, kind: str) -> None:
        if kind not in ("delivered", "read"):
            raise Invalid("kind must be 'delivered' or 'read'")
        async with self.journal.action() as ctx:
            session, party = await self._held(ctx, agent_id, chat_id)
            await ctx.emit(session, to_everyone(ev.receipt(kind, party.party_id, ref_msg_id, ctx.now), "agent"))

    async def send_file(self, agent_id: str, chat_id: str, file_id: str) -> EventRecord:
        async with self.journal.action() as ctx:
            session, party = await self._held(ctx, agent_id, chat_id)
            record: FileRecord | None = await ctx.tx.files.get(file_id)
            if record is None or record.tenant != session.tenant or record.chat_id not in ("", chat_id):
                raise Invalid("no such uploaded file")
            await ctx.tx.files.attach(file_id, chat_id)
            payload = ev.file(party.party_id, new_msg_id(), file_id, record.file_name,
                              ev.file_type_for(record.content_type), ctx.now)
            (event,) = await ctx.emit(session, to_everyone(payload, "agent"))
            return event

    async def show_form(self, agent_id: str, chat_id: str, form_name: str, timeout_secs: int) -> int:
        if not 0 < timeout_secs <= MAX_FORM_TIMEOUT_SECS:
            raise Invalid(f"timeout_secs must be between 1 and {MAX_FORM_TIMEOUT_SECS}")
        async with self.journal.action() as ctx:
            session, party = await self._held(ctx, agent_id, chat_id)
            return await show_form(ctx, session, party, form_name, timeout_secs, "agent")

    async def set_case(self, agent_id: str, chat_id: str, case_id: str) -> None:
        if len(case_id) > 128:
            raise Invalid("case_id is longer than 128 characters")
        async with self.journal.action() as ctx:
            session, _ = await self._held(ctx, agent_id, chat_id)
            session.case_id = case_id
            if case_id:
                await ctx.tx.cases.ensure(session.tenant, case_id, ctx.now)
            await ctx.emit(session, to_everyone(ev.case_set(case_id, ctx.now), "agent"))

    async def send_signaling(self, agent_id: str, chat_id: str, data: JsonObject) -> None:
        if data.get("type") not in ev.SIGNALING_TYPES:
            raise Invalid(f"data.type must be one of {', '.join(sorted(ev.SIGNALING_TYPES))}")
        async with self.journal.action() as ctx:
            session, party = await self._held(ctx, agent_id, chat_id)
            payload = ev.signaling(party.party_id, str(session.last_seq + 1), data, ctx.now)
            await ctx.emit(session, to_customer(payload, "agent", in_history=False))

    async def end_chat(self, agent_id: str, chat_id: str) -> None:
        async with self.journal.action() as ctx:
            session, _ = await self._held(ctx, agent_id, chat_id)
            await end_session(ctx, session, "agent_end", customer_sees=True)
            await routing.dispatch(ctx, self.config, session.tenant)
