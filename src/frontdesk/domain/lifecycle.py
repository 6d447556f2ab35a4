"""Transitions shared by customer, agent and timer actions: joining, leaving, ending, inactivity."""

from __future__ import annotations

from frontdesk.domain.config import EntryConfig
from frontdesk.domain.errors import Conflict, Forbidden, NotFound
from frontdesk.domain.ids import new_msg_id, new_party_id
from frontdesk.domain.journal import ActionContext, to_everyone, to_staff
from frontdesk.domain.offers import offer_decided
from frontdesk.protocol import events as ev
from frontdesk.storage.records import AgentRecord, PartyRecord, SessionRecord, TimerRecord

INACTIVITY_WARNING = "inactivity_warning"
INACTIVITY_TIMEOUT = "inactivity_timeout"
FORM_TIMEOUT_PREFIX = "form_timeout:"
OFFER_TIMEOUT = "offer_timeout"
QUEUE_MAX_WAIT = "queue_max_wait"
AGENT_LOST = "agent_lost"  # keyed "agent:<agent id>": the agent's desktop disconnected
DEFAULT_BOT_NAME = "Assistant"


async def active_parties(ctx: ActionContext, session: SessionRecord) -> list[PartyRecord]:
    return [p for p in await ctx.tx.parties.list_for_chat(session.chat_id) if p.left_at is None]


def party_of(parties: list[PartyRecord], agent_id: str) -> PartyRecord | None:
    """The agent's party among ``parties`` (None: the agent is not in them)."""
    return next((p for p in parties if p.agent_id == agent_id), None)


async def held_chat(ctx: ActionContext, agent_id: str,
                    chat_id: str) -> tuple[SessionRecord, PartyRecord, list[PartyRecord]]:
    """The guard of every action of an agent in a chat: the chat, the agent's party in it and its
    active parties. ``NotFound`` for an unknown chat, ``Conflict`` once it ended, ``Forbidden``
    when the agent is not in it."""
    session = await ctx.session(chat_id)
    if session is None:
        raise NotFound("no such chat")
    if session.terminal:
        raise Conflict("this chat has ended")
    parties = await active_parties(ctx, session)
    mine = party_of(parties, agent_id)
    if mine is None:
        raise Forbidden("you do not hold this chat")
    return session, mine, parties


async def join_internal(ctx: ActionContext, session: SessionRecord, agent: AgentRecord) -> PartyRecord:
    """The agent joins the chat as an ``internal`` party, announced to everyone
    (``chat_session_party_joined``): an accepted offer, an accepted invitation, a supervisor
    barging in."""
    party = PartyRecord(party_id=new_party_id(), chat_id=session.chat_id, party_type="internal",
                        agent_id=agent.agent_id, first_name=agent.first_name, last_name=agent.last_name,
                        display_name=agent.display_name, joined_at=ctx.now)
    await ctx.tx.parties.insert(party)
    await ctx.emit(session, to_everyone(ev.party_joined(party.party_id, "internal", party.first_name,
                                                        party.last_name, party.display_name, ctx.now)))
    ctx.wake_agent(agent.agent_id)
    ctx.note("party joined", chat=session.chat_id, party=party.party_id, agent=agent.agent_id)
    return party


async def party_leaves(ctx: ActionContext, session: SessionRecord, party: PartyRecord,
                       customer_sees: bool = True) -> None:
    party.left_at = ctx.now
    await ctx.tx.parties.update(party)
    payload = ev.party_left(party.party_id, party.party_type, ctx.now)
    await ctx.emit(session, to_everyone(payload) if customer_sees else to_staff(payload, "system"))
    ctx.wake_agent(party.agent_id)
    ctx.note("party left", chat=session.chat_id, party=party.party_id, agent=party.agent_id or None)


def ended_follows_timeout(session: SessionRecord) -> bool:
    """Whether the customer also gets ``chat_session_ended`` after ``chat_session_inactivity_timeout``.

    Web clients (clientId ``WebChat``: the v4 widget, the 3.15 page) stop polling on the timeout and
    handle every event of a batch, so an ended would end their chat a second time. Every other
    client polls on after the timeout: bridges stop only on ended (spchat polls a 404 forever), and
    the SDKs stop on it as they do on the 5005 they got before (docs/customer-api.md).
    """
    return session.client_kind != "web"


async def end_session(ctx: ActionContext, session: SessionRecord, reason: str, customer_sees: bool,
                      customer_sees_ended: bool | None = None) -> None:
    """Every party leaves, ``chat_session_ended`` is appended, and the session becomes terminal.

    ``customer_sees`` is False when the customer ended the chat themselves (or already received a
    terminal event such as ``chat_session_inactivity_timeout``): they stop polling, so nothing more
    is queued for them and the chat answers 5005 at once. ``customer_sees_ended`` (default: as
    ``customer_sees``) decides for the final ``chat_session_ended`` alone.
    """
    if session.terminal:
        return
    for party in await active_parties(ctx, session):
        await party_leaves(ctx, session, party, customer_sees)
    if session.offered_agent_id:
        await offer_decided(ctx, session.chat_id, session.offered_agent_id, "withdrawn")
        ctx.wake_agent(session.offered_agent_id)
        session.offered_agent_id = ""
    for invited in session.invited_agents:
        ctx.wake_agent(invited)
    session.invited_agents = []
    payload = ev.ended(ctx.now)
    ended_seen = customer_sees if customer_sees_ended is None else customer_sees_ended
    await ctx.emit(session, to_everyone(payload) if ended_seen else to_staff(payload, "system"))
    session.state = "completed" if session.connected_at is not None else "failed"
    session.terminal = True
    session.end_reason = reason
    session.ended_at = ctx.now
    await ctx.tx.timers.cancel_all(session.chat_id)
    ctx.wake_tenant(session.tenant)


async def connect_agent(ctx: ActionContext, session: SessionRecord, agent: AgentRecord,
                        entry: EntryConfig | None) -> PartyRecord:
    """The agent joins an offered chat: the scenario's bot hands over and leaves, the agent's
    party joins, the chat is connected and the customer-inactivity clock starts."""
    for bot in await active_parties(ctx, session):
        if bot.party_type == "scenario":
            await party_leaves(ctx, session, bot)
    party = await join_internal(ctx, session, agent)
    session.offered_agent_id = ""
    session.state = "connected"
    session.connected_at = session.connected_at or ctx.now
    await ctx.emit(session, to_everyone(ev.status("connected", 0)))
    if entry is not None:
        await arm_inactivity(ctx, session, entry)
    return party


async def arm_inactivity(ctx: ActionContext, session: SessionRecord, entry: EntryConfig) -> None:
    """(Re)start the customer-inactivity clock of a connected chat."""
    if session.terminal or session.state != "connected" or entry.inactivity_timeout_secs <= 0:
        return
    await ctx.tx.timers.cancel(session.chat_id, INACTIVITY_TIMEOUT)
    warning_secs = entry.inactivity_warning_secs
    if 0 < warning_secs < entry.inactivity_timeout_secs:
        await ctx.tx.timers.set(TimerRecord(session.chat_id, INACTIVITY_WARNING, ctx.now + warning_secs, {}))
    else:
        await ctx.tx.timers.cancel(session.chat_id, INACTIVITY_WARNING)
        await ctx.tx.timers.set(TimerRecord(session.chat_id, INACTIVITY_TIMEOUT,
                                            ctx.now + entry.inactivity_timeout_secs, {}))


async def scenario_party(ctx: ActionContext, session: SessionRecord, bot_name: str = DEFAULT_BOT_NAME) -> PartyRecord:
    """The chat's active ``scenario`` party; one joins (``party_joined``) when there is none."""
    for party in await active_parties(ctx, session):
        if party.party_type == "scenario":
            return party
    bot = PartyRecord(party_id=new_party_id(), chat_id=session.chat_id, party_type="scenario", agent_id="",
                      first_name=bot_name, last_name="", display_name=bot_name, joined_at=ctx.now)
    await ctx.tx.parties.insert(bot)
    await ctx.emit(session, to_everyone(ev.party_joined(bot.party_id, "scenario", bot.first_name, "",
                                                        bot.display_name, ctx.now)))
    return bot


async def say(ctx: ActionContext, session: SessionRecord, text: str, bot_name: str = DEFAULT_BOT_NAME) -> None:
    """The scenario party sends a message (joining first if it is not in the chat)."""
    bot = await scenario_party(ctx, session, bot_name)
    await ctx.emit(session, to_everyone(ev.message(bot.party_id, new_msg_id(), ev.html_from_text(text), text,
                                                   ctx.now)))


async def fail_session(ctx: ActionContext, session: SessionRecord, reason: str, message: str,
                       bot_name: str = DEFAULT_BOT_NAME) -> None:
    """No agent will take the chat: an optional message, ``chat_session_status`` failed, then the end."""
    if session.terminal:
        return
    if message:
        await say(ctx, session, message, bot_name)
    session.state = "failed"
    await ctx.emit(session, to_everyone(ev.status("failed", 0)))
    await end_session(ctx, session, reason, customer_sees=True)


def agent_key(agent_id: str) -> str:
    """The timer key of an agent's timers (timers are keyed by chat id)."""
    return f"agent:{agent_id}"
