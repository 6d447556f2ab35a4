"""Customer actions of the Mobile/Web API: request a chat, send events, read history and cases.

Who may touch a chat: the client that created it. For mobile clients that is the same
(tenant, appId, clientId). Web visitors all share clientId ``WebChat``: their chat id — a random
UUID only their browser learned — is the capability, and a chat requested by a browser that
presented its visitor cookie is bound to that cookie: requests without it are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from frontdesk.domain import routing, scenario, scenario_values
from frontdesk.domain.config import EntryConfig, TenantConfig
from frontdesk.domain.errors import Invalid, NotFound, Unavailable
from frontdesk.domain.files import shown_file_name
from frontdesk.domain.hours import entry_hours, is_open
from frontdesk.domain.ids import new_chat_id, new_msg_id
from frontdesk.domain.journal import ActionContext, ReadContext, to_staff
from frontdesk.domain.lifecycle import FORM_TIMEOUT_PREFIX, arm_inactivity, end_session
from frontdesk.domain.service import EngineService
from frontdesk.observability.context import bind
from frontdesk.protocol import events as ev
from frontdesk.protocol.client_events import ClientEvent
from frontdesk.storage.interfaces import Transaction
from frontdesk.storage.records import Audience, DeliveryState, EventRecord, JsonObject, SessionRecord

WEB = "web"
MOBILE = "mobile"
MAX_PARAMETERS_BYTES = 64 * 1024
MAX_CANCEL_REASON_CHARS = 500  # why the widget did not show a form, as the agents see it


@dataclass(frozen=True, slots=True)
class CustomerIdentity:
    tenant: TenantConfig
    entry: EntryConfig
    client_id: str
    visitor_cookie: str

    @property
    def kind(self) -> str:
        return WEB if self.client_id == "WebChat" else MOBILE


@dataclass(frozen=True, slots=True)
class ChatTicket:
    """What Request Chat and Get Active Chat answer."""

    chat_id: str
    state: str
    ewt_secs: int
    is_new_chat: bool
    phone_number: str


@dataclass(frozen=True, slots=True)
class HistoryRead:
    """A history answer and the tail it was read at: the newest customer-audience sequence number
    when it was read (the server-side cursor may move there once the answer was written)."""

    events: list[JsonObject]
    tail: int
    cursor: int  # the server-side cursor when it was read


@dataclass(frozen=True, slots=True)
class CaseSession:
    chat_id: str
    created_at: float
    events: list[JsonObject]


def visible_names(kind: str) -> frozenset[str]:
    return ev.MOBILE_EVENT_NAMES if kind == MOBILE else ev.WEB_EVENT_NAMES


def history_view(records: list[EventRecord], kind: str, with_seq: bool = False) -> list[JsonObject]:
    """History as the customer sees it: their own events and what was sent to them, filtered to
    the event names their client decodes; ``with_seq`` adds each event's sequence number as
    ``seq`` (the explicit cursor's answers)."""
    names = visible_names(kind)
    return [{**r.payload, "seq": r.seq} if with_seq else r.payload for r in records
            if r.name in names and (r.origin == "customer" or r.audience & Audience.CUSTOMER)]


class OwnedChat(Protocol):
    """Who a chat belongs to: a ``SessionRecord`` or a poll's ``DeliveryState``."""

    @property
    def tenant(self) -> str: ...
    @property
    def app_id(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def visitor_cookie(self) -> str: ...


class CustomerTail(Protocol):
    """Where a chat's customer log stands: a ``SessionRecord`` or a poll's ``DeliveryState``."""

    @property
    def customer_cursor(self) -> int: ...
    @property
    def customer_last_seq(self) -> int: ...
    @property
    def terminal(self) -> bool: ...


class CustomerService(EngineService):
    # ---- access -------------------------------------------------------------------------------

    @staticmethod
    def owns(identity: CustomerIdentity, session: OwnedChat) -> bool:
        if session.tenant != identity.tenant.name or session.app_id != identity.entry.app_id:
            return False
        if session.client_id != identity.client_id:
            return False
        # a web chat requested by a browser that presented its visitor cookie is bound to that
        # cookie; one requested without (cookies blocked, server-side scripts) is reachable by its id
        return not (identity.kind == WEB and session.visitor_cookie
                    and identity.visitor_cookie != session.visitor_cookie)

    async def load_owned(self, tx: Transaction, identity: CustomerIdentity, chat_id: str) -> SessionRecord:
        session = await tx.sessions.get(chat_id)
        if session is None or not self.owns(identity, session):
            raise NotFound("chat not found")
        return session

    async def delivery_state(self, tx: Transaction, identity: CustomerIdentity, chat_id: str) -> DeliveryState:
        """What a poll or a history read needs of the caller's chat (not the whole row);
        ``NotFound`` when it is not there or not the caller's."""
        return self.owned_state(identity, await tx.sessions.delivery_state(chat_id))

    def owned_state(self, identity: CustomerIdentity, state: DeliveryState | None) -> DeliveryState:
        """``state`` if it is of the caller's chat; ``NotFound`` when there is none or it is not theirs."""
        if state is None or not self.owns(identity, state):
            raise NotFound("chat not found")
        return state

    async def check_owned(self, identity: CustomerIdentity, chat_id: str) -> None:
        """The chat exists and belongs to the caller; ``NotFound`` otherwise."""
        async with self.journal.read(snapshot=False) as tx:
            await self.delivery_state(tx, identity, chat_id)

    @staticmethod
    def is_gone(session: CustomerTail, after_seq: int | None = None) -> bool:
        """Terminal and every event meant for the customer was delivered (per the cursor)."""
        cursor = session.customer_cursor if after_seq is None else after_seq
        return session.terminal and cursor >= session.customer_last_seq

    # ---- request chat ---------------------------------------------------------------------------

    async def request_chat(self, identity: CustomerIdentity, body: JsonObject) -> ChatTicket:
        entry = identity.entry
        if not entry.enabled:
            raise Unavailable("this chat entry is disabled")
        phone_number = _text_field(body, "phone_number")
        from_ = _text_field(body, "from")
        parameters = body.get("parameters", {})
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, dict):
            raise Invalid("'parameters' must be an object")
        initial = body.get("initial_message")
        initial_msg = _initial_message(initial)
        async with self.journal.action() as ctx:
            if identity.kind == MOBILE:
                existing = await ctx.tx.sessions.find_active_for_client(
                    identity.tenant.name, entry.app_id, identity.client_id, "")
                if existing is not None:
                    return ChatTicket(existing.chat_id, existing.state, existing.ewt_announced, False,
                                      existing.phone_number)
            session = SessionRecord(
                chat_id=new_chat_id(), tenant=identity.tenant.name, app_id=entry.app_id,
                client_id=identity.client_id, client_kind=identity.kind, visitor_cookie=identity.visitor_cookie,
                state="ivr", created_at=ctx.now, queue_id=entry.queue_id, phone_number=phone_number,
                from_=from_, parameters=parameters)
            await ctx.create(session)
            bind(chat=session.chat_id)  # the rest of this request's log lines are about this chat
            ctx.note("chat requested", chat=session.chat_id, tenant=session.tenant, entry=entry.app_id,
                     client_kind=identity.kind)
            # the customer's pre-chat question comes first; it never answers a form the scenario shows
            if initial_msg is not None:
                await self._customer_message(ctx, session, initial_msg)
            ctx.wake_tenant(session.tenant)
            # the scenario runs until it waits (state ivr), routes (queued, or further) or ends the chat
            await scenario.start(ctx, self.config, session, entry)
            return ChatTicket(session.chat_id, session.state, session.ewt_announced, True, phone_number)

    async def availability(self, identity: CustomerIdentity) -> tuple[str, int]:
        """Check Availability: the entry's hours only (never whether agents are logged in), with the
        estimate a chat entering the entry's queue now would be told (0: no estimate)."""
        entry = identity.entry
        now = self.journal.clock.now()
        if not entry.enabled or not is_open(entry_hours(identity.tenant, entry), now):
            return entry.unavailable_value, routing.UNKNOWN_EWT_SECS
        async with self.journal.read() as tx:
            secs = await routing.estimate_new_chat(ReadContext(tx, now), self.config, identity.tenant.name,
                                                   entry.queue_id)
        return "available", routing.UNKNOWN_EWT_SECS if secs is None else secs

    async def active_chat(self, identity: CustomerIdentity) -> ChatTicket:
        async with self.journal.read() as tx:
            session = await self._active_session(tx, identity)
        return ChatTicket(session.chat_id, session.state, session.ewt_announced, False, session.phone_number)

    @staticmethod
    async def _active_session(tx: Transaction, identity: CustomerIdentity) -> SessionRecord:
        """The caller's active chat: by clientId for mobile clients, by the presented visitor
        cookie for web visitors (who share clientId ``WebChat``, so without a cookie: none)."""
        if identity.kind == WEB and not identity.visitor_cookie:
            raise NotFound("no active chat")
        session = await tx.sessions.find_active_for_client(
            identity.tenant.name, identity.entry.app_id, identity.client_id,
            identity.visitor_cookie if identity.kind == WEB else "")
        if session is None:
            raise NotFound("no active chat")
        return session

    # ---- client events --------------------------------------------------------------------------

    async def apply_events(self, identity: CustomerIdentity, chat_id: str, events: list[ClientEvent]) -> None:
        """Apply a validated batch atomically: every event or none."""
        async with self.journal.action() as ctx:
            session = await self.load_owned(ctx.tx, identity, chat_id)
            if session.terminal:
                raise NotFound("chat is over")
            for event in events:
                if session.terminal:
                    break
                await self._apply(ctx, identity, session, event)

    async def _apply(self, ctx: ActionContext, identity: CustomerIdentity, session: SessionRecord,
                     event: ClientEvent) -> None:
        f = event.fields
        me = session.chat_id
        name = event.name
        if name == ev.MESSAGE:
            await self._customer_message(ctx, session, f)
            await self._answer_text_form(ctx, session, f["msg_text"])
            await arm_inactivity(ctx, session, identity.entry)
        elif name in (ev.TYPING, ev.NOT_TYPING):
            payload = (ev.typing(me, ctx.now, f.get("msg")) if name == ev.TYPING else ev.not_typing(me, ctx.now))
            await ctx.emit(session, to_staff(payload, "customer", in_history=False))
        elif name in (ev.MESSAGE_DELIVERED, ev.MESSAGE_READ):
            kind = "delivered" if name == ev.MESSAGE_DELIVERED else "read"
            await ctx.emit(session, to_staff(ev.receipt(kind, me, f["ref_msg_id"], ctx.now), "customer"))
        elif name in (ev.FORM_DATA, ev.SECURE_FORM_DATA) and f["data"] is None:
            await self._form_text(ctx, session, name, f)
            await arm_inactivity(ctx, session, identity.entry)
        elif name in (ev.FORM_DATA, ev.SECURE_FORM_DATA):
            await self._form_answer(ctx, session, name, f, answered=True)
            await arm_inactivity(ctx, session, identity.entry)
        elif name in (ev.FORM_CANCEL, ev.SECURE_FORM_CANCEL):
            await self._form_answer(ctx, session, name, f, answered=False)
        elif name == ev.FILE:
            await self._customer_file(ctx, session, f)
            await arm_inactivity(ctx, session, identity.entry)
        elif name == ev.LOCATION:
            payload = ev.location(me, f["msg_id"], f["latitude"], f["longitude"], f["url"], ctx.now)
            await ctx.emit(session, to_staff(payload, "customer"))
            await arm_inactivity(ctx, session, identity.entry)
        elif name == ev.NAVIGATION:
            payload = {"event": ev.NAVIGATION, "party_id": me, "msg_id": f["msg_id"], "page": f["page"],
                       "title": f["title"], "timestamp": ev.ts_string(ctx.now)}
            await ctx.emit(session, to_staff(payload, "customer"))
        elif name == ev.SIGNALING:
            await self._customer_signaling(ctx, session, f)
        elif name.startswith("chat_session_cobrowsing_"):
            payload = {"event": name, "party_id": me, **f, "timestamp": ev.ts_string(ctx.now)}
            await ctx.emit(session, to_staff(payload, "customer", in_history=False))
        elif name == ev.END:
            await ctx.emit(session, to_staff({"event": ev.END, "party_id": me, "timestamp": ev.ts_string(ctx.now)},
                                             "customer"))
            await end_session(ctx, session, "customer_end", customer_sees=False)
            # the customer has left: what they had not read yet is no longer theirs to fetch
            session.customer_cursor = session.customer_last_seq
        elif name == ev.DISCONNECT:
            await ctx.emit(session, to_staff({"event": ev.DISCONNECT, "party_id": me,
                                              "timestamp": ev.ts_string(ctx.now)}, "customer"))
            # with a survey on the entry, the agents leave and the survey runs; it ends the chat
            if not await scenario.start_survey(ctx, self.config, session, identity.entry):
                await end_session(ctx, session, "customer_disconnect", customer_sees=True)
        else:  # pragma: no cover - parse_client_events admits only the names above
            raise Invalid(f"unsupported event {name}")

    async def _customer_message(self, ctx: ActionContext, session: SessionRecord, f: JsonObject) -> None:
        msg_id = f.get("msg_id") or new_msg_id()
        payload = ev.message(session.chat_id, msg_id, f["msg"], f["msg_text"], ctx.now)
        await ctx.emit(session, to_staff(payload, "customer"))

    async def _form_text(self, ctx: ActionContext, session: SessionRecord, name: str, f: JsonObject) -> None:
        """Form data whose ``data`` is a string. For a text form (``form = ""``) the string is the
        answer, ``{"text": ...}``. For a named form it is the widget telling why it could not show
        it ("Form not found"): the form is cancelled and the agents' cancel event carries that
        ``reason``; the scenario goes on as after a cancel, so the customer's next typed text is
        an ordinary message and is never lost."""
        form = await ctx.tx.forms.get(session.chat_id, f["form_request_id"])
        if form is not None and form.form_name == scenario_values.TEXT_FORM:
            await self._form_answer(ctx, session, name, {**f, "data": {"text": f["text"]}}, answered=True)
            return
        cancel = ev.SECURE_FORM_CANCEL if name == ev.SECURE_FORM_DATA else ev.FORM_CANCEL
        await self._form_answer(ctx, session, cancel, f, answered=False, reason=f["text"] or "")

    async def _form_answer(self, ctx: ActionContext, session: SessionRecord, name: str, f: JsonObject,
                           answered: bool, reason: str = "") -> None:
        form = await ctx.tx.forms.get(session.chat_id, f["form_request_id"])
        if form is None:
            raise Invalid(f"form request {f['form_request_id']} was never shown in this chat")
        if answered and form.form_name == scenario_values.TEXT_FORM and form.state == "answered":
            return  # the web widget answers a text form twice: its message, then form_data {text}
        if form.state != "pending":
            raise Invalid(f"form request {form.form_request_id} is already {form.state}")
        if form.due_at is not None and ctx.now >= form.due_at:
            # past its deadline: its timer may not have run yet, but it will expire the form
            raise Invalid(f"form request {form.form_request_id} has expired")
        secure = name in (ev.SECURE_FORM_DATA, ev.SECURE_FORM_CANCEL)
        ours = scenario.is_waiting_on(session, form)
        if answered and ours:
            # a refused answer changes nothing: the form stays pending and can be answered again
            scenario_values.validate_answer(self.config, session, form.form_name, f.get("data", {}))
        form.state = "answered" if answered else "cancelled"
        form.data = f.get("data") if answered and not secure else None
        await ctx.tx.forms.update(form)
        await ctx.tx.timers.cancel(session.chat_id, f"{FORM_TIMEOUT_PREFIX}{form.form_request_id}")
        payload: JsonObject = {"event": name, "party_id": session.chat_id,
                               "form_request_id": form.form_request_id, "form_name": form.form_name or f["form_name"],
                               "timestamp": ev.ts_string(ctx.now)}
        if answered:
            payload["data"] = f.get("data", {})
        elif reason:
            payload["reason"] = reason[:MAX_CANCEL_REASON_CHARS]
        # secure form data reaches agents through the log but is kept out of the transcript
        await ctx.emit(session, to_staff(payload, "customer", in_history=not secure))
        if ours and answered:
            await scenario.on_form_answered(ctx, self.config, session, form, form.data)
        elif ours:
            await scenario.on_form_closed(ctx, self.config, session, form)

    async def _answer_text_form(self, ctx: ActionContext, session: SessionRecord, text: str) -> None:
        """A scenario waiting on a ``form = ""`` step takes the customer's next typed text as its
        answer (mobile clients send only the message; the web widget also sends form_data)."""
        form_request_id = scenario.waiting_text_form(session)
        if form_request_id is None or not text.strip():
            return
        form = await ctx.tx.forms.get(session.chat_id, form_request_id)
        if form is None or form.state != "pending" or (form.due_at is not None and ctx.now >= form.due_at):
            return
        await self._form_answer(ctx, session, ev.FORM_DATA, {"form_request_id": form_request_id,
                                                             "form_name": form.form_name,
                                                             "data": {"text": text}}, answered=True)

    async def _customer_file(self, ctx: ActionContext, session: SessionRecord, f: JsonObject) -> None:
        record = await ctx.tx.files.get(f["file_id"])
        if record is None or record.tenant != session.tenant or record.chat_id not in ("", session.chat_id):
            raise Invalid(f"file {f['file_id'][:64]} was not uploaded")
        file_name = shown_file_name(f["file_name"], record.file_name)
        await ctx.tx.files.attach(record.file_id, session.chat_id, file_name)
        file_type = f["file_type"] or ev.file_type_for(record.content_type)
        payload = ev.file(session.chat_id, f["msg_id"] or new_msg_id(), record.file_id, file_name,
                          file_type, ctx.now)
        await ctx.emit(session, to_staff(payload, "customer"))

    async def _customer_signaling(self, ctx: ActionContext, session: SessionRecord, f: JsonObject) -> None:
        destination = f["destination_party_id"]
        if destination:
            party = await ctx.tx.parties.get(destination)
            if party is None or party.chat_id != session.chat_id or party.left_at is not None:
                raise Invalid("destination_party_id is not a party of this chat")
        payload = ev.signaling(session.chat_id, f["msg_id"] or str(session.last_seq + 1), f["data"], ctx.now,
                               destination_party_id=destination or None)
        await ctx.emit(session, to_staff(payload, "customer", in_history=False))

    # ---- reading ------------------------------------------------------------------------------

    async def history(self, identity: CustomerIdentity, chat_id: str,
                      omit: tuple[int, int] | None = None, after: int | None = None) -> HistoryRead:
        """The chat's history as its customer sees it. ``omit = (after, upto)`` leaves out the
        events sent to the customer with a sequence number in that range (a poll has just shown
        them to the same page; the customer's own events are never polled, so they stay).

        ``after`` (frontdesk's explicit cursor, as for polls): only the history events after that
        sequence number, each with its ``seq``; "gone" is judged by that cursor, so a client that
        has not seen a chat's end yet can still read it."""
        async with self.journal.read(snapshot=False) as tx:
            session = await self.delivery_state(tx, identity, chat_id)
            if self.is_gone(session, after):
                raise NotFound("chat is over")
            records = await tx.events.read_history(chat_id)
        if omit is not None:
            low, upto = omit
            records = [r for r in records if not (low < r.seq <= upto and r.origin != "customer"
                                                  and r.audience & Audience.CUSTOMER)]
        if after is not None:
            shown = [r for r in records if r.seq > after]
            return HistoryRead(history_view(shown, identity.kind, with_seq=True), session.customer_last_seq,
                               session.customer_cursor)
        return HistoryRead(history_view(records, identity.kind), session.customer_last_seq, session.customer_cursor)

    async def case_history(self, identity: CustomerIdentity, chat_id: str | None) -> list[CaseSession]:
        async with self.journal.read() as tx:
            session = await self._case_session(tx, identity, chat_id)
            result: list[CaseSession] = []
            for other in await tx.sessions.list_for_case(session.tenant, session.case_id):
                if other.app_id != session.app_id or other.client_id != session.client_id:
                    continue
                records = await tx.events.read_history(other.chat_id)
                result.append(CaseSession(other.chat_id, other.created_at, history_view(records, identity.kind)))
        return result

    async def close_case(self, identity: CustomerIdentity, chat_id: str | None) -> None:
        async with self.journal.action() as ctx:
            session = await self._case_session(ctx.tx, identity, chat_id)
            await ctx.tx.cases.close(session.tenant, session.case_id, ctx.now)
            await ctx.emit(session, to_staff({"event": "frontdesk_case_closed", "case_id": session.case_id,
                                              "timestamp": ev.ts_string(ctx.now)}, "customer"))

    async def _case_session(self, tx: Transaction, identity: CustomerIdentity,
                            chat_id: str | None) -> SessionRecord:
        if chat_id is None:
            session = await self._active_session(tx, identity)
        else:
            session = await self.load_owned(tx, identity, chat_id)
        if not session.case_id:
            raise CaseNotSpecified("no case is set for this chat")
        return session

    async def subscribe_push(self, identity: CustomerIdentity, chat_id: str, subscription: JsonObject) -> None:
        async with self.journal.action() as ctx:
            session = await self.load_owned(ctx.tx, identity, chat_id)
            if session.terminal:
                raise NotFound("chat is over")
            if subscription:
                await ctx.tx.push.set(chat_id, subscription, ctx.now)
            else:
                await ctx.tx.push.delete(chat_id)

    async def party_for_photo(self, chat_id: str, party_id: str) -> PartyPhoto:
        """The photo of a chat's party. Loaded by ``<img>`` without credentials: the chat id and
        party id, both random, are what is needed."""
        async with self.journal.read() as tx:
            party = await tx.parties.get(party_id)
            if party is None or party.chat_id != chat_id:
                raise NotFound("no such party")
            agent = await tx.agents.get(party.agent_id) if party.agent_id else None
        return PartyPhoto(party.display_name, agent.photo_path if agent else "")

    async def chat_icon(self, chat_id: str) -> str:
        async with self.journal.read() as tx:
            session = await tx.sessions.get(chat_id)
        entry = self.entry_for(session) if session else None
        if entry is None or not entry.chat_icon_path:
            raise NotFound("no chat icon")
        return entry.chat_icon_path

    async def acknowledge(self, chat_id: str, seq: int) -> None:
        """The customer's poll response up to ``seq`` was written: move the server-side cursor (one
        statement, after every poll answer with events)."""
        async with self.journal.action(single_statement=True) as ctx:
            await ctx.tx.sessions.set_customer_cursor(chat_id, seq)


@dataclass(frozen=True, slots=True)
class PartyPhoto:
    display_name: str
    photo_path: str


class CaseNotSpecified(Invalid):
    """Case history or close case on a chat without a case (wire code 5601)."""


def _text_field(body: JsonObject, name: str) -> str:
    value: Any = body.get(name, "")
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise Invalid(f"'{name}' must be a string")
    if len(value) > 256:
        raise Invalid(f"'{name}' is longer than 256 characters")
    return value


def _initial_message(value: Any) -> JsonObject | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("msg"), str):
        raise Invalid("'initial_message' must be an object with a string 'msg'")
    msg = value["msg"]
    if not msg.strip():
        return None
    msg_id = value.get("msg_id")
    return {"msg": msg, "msg_text": ev.text_from_html(msg), "msg_id": "" if msg_id is None else str(msg_id)}
