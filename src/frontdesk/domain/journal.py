"""The one way domain actions change state: a transaction that appends events and, after commit,
publishes wake-ups.

``Journal.action()`` opens a transaction; ``ActionContext.emit`` appends events to a session's log
and marks the session for saving; on commit every touched session is saved and every wake-up is
published. An exception rolls everything back and publishes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import operator
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import orjson

from frontdesk.bus.interfaces import Bus, agent_topic, chat_topic, tenant_topic
from frontdesk.domain.clock import Clock
from frontdesk.observability.logs import get_logger
from frontdesk.observability.metrics import Metrics
from frontdesk.storage.interfaces import Storage, StorageUnavailable, Transaction, TransientConflict
from frontdesk.storage.records import (
    Audience,
    EventRecord,
    JsonObject,
    NewEvent,
    SessionRecord,
    last_customer_seq,
    numbered,
)

log = get_logger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

MAX_ATTEMPTS = 5  # runs of one action that met other writers (serialization failures, deadlocks)
RETRY_BASE_SECS = 0.005  # the pause before the next run: random, up to this doubled per run (real time)


@dataclass(slots=True)
class _Attempt:
    committed: bool = False  # a transaction of this run committed: running it again would repeat that


_attempt: ContextVar[_Attempt | None] = ContextVar("frontdesk_attempt", default=None)


def retry_conflicts(action: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Run ``action`` again when the storage aborted one of its transactions for meeting another
    writer (``TransientConflict``: nothing of that transaction was stored), up to ``MAX_ATTEMPTS``
    runs with a short random pause. The one retry rule of the server: every domain service method
    has it (``EngineService``).

    Only a run none of whose transactions committed is repeated (its wake-ups were not published
    either): an action that committed one transaction and conflicted in a later one raises the
    conflict, since running it again would repeat the first. Nested retried calls each retry their
    own part, and a commit inside one counts for the runs around it."""

    @functools.wraps(action)
    async def retried(*args: P.args, **kwargs: P.kwargs) -> R:
        outer = _attempt.get()
        attempt = 1
        while True:
            run = _Attempt()
            token = _attempt.set(run)
            try:
                return await action(*args, **kwargs)
            except TransientConflict as conflict:
                if run.committed or attempt >= MAX_ATTEMPTS:
                    raise
                log.info("met another writer: running again", action=getattr(action, "__qualname__", "action"),
                         conflict=type(conflict.__cause__).__name__, run=attempt + 1, max_runs=MAX_ATTEMPTS)
            finally:
                _attempt.reset(token)
                if outer is not None and run.committed:
                    outer.committed = True
            await asyncio.sleep(random.uniform(0, RETRY_BASE_SECS * 2 ** attempt))  # jitter
            attempt += 1

    return retried


def to_everyone(payload: JsonObject, origin: str = "system", in_history: bool = True) -> NewEvent:
    """An event the customer and the staff read."""
    return NewEvent(payload=payload, audience=Audience.ALL, in_history=in_history, origin=origin)


def to_staff(payload: JsonObject, origin: str, in_history: bool = True) -> NewEvent:
    """An event only agents and supervisors read (the customer's own events, internal notices)."""
    return NewEvent(payload=payload, audience=Audience.STAFF, in_history=in_history, origin=origin)


def to_customer(payload: JsonObject, origin: str, in_history: bool = True) -> NewEvent:
    return NewEvent(payload=payload, audience=Audience.CUSTOMER | Audience.SUPERVISORS, in_history=in_history,
                    origin=origin)


# the database drivers whose exceptions are storage errors (a domain refusal or a bug is not one)
STORAGE_ERROR_MODULES = frozenset({"sqlite3", "psycopg", "psycopg2", "asyncpg"})


def is_storage_error(exc: BaseException) -> bool:
    return isinstance(exc, (OSError, StorageUnavailable)) or \
        type(exc).__module__.partition(".")[0] in STORAGE_ERROR_MODULES


def live_state(session: SessionRecord | None) -> tuple[str, str] | None:
    """``(tenant, state)`` of a chat that has not ended; None for an ended (or no) chat."""
    if session is None or session.terminal:
        return None
    return session.tenant, session.state


_SESSION_FIELDS = tuple(f.name for f in dataclasses.fields(SessionRecord))
# the fields holding dicts and lists (each made by its default factory): the others hold immutable values
_MUTABLE_AT = tuple(index for index, f in enumerate(dataclasses.fields(SessionRecord))
                    if f.default_factory in (dict, list))
_session_values = operator.attrgetter(*_SESSION_FIELDS)
Stored = tuple[object, ...]


def _stored(session: SessionRecord) -> Stored:
    """The session's fields as stored, in ``_SESSION_FIELDS`` order, its dicts and lists as JSON
    text: a change to any field, even inside its dicts and lists, changes that field's entry (and
    is cheaper to make and compare than a deep copy or the whole record's repr)."""
    values = list(_session_values(session))
    for index in _MUTABLE_AT:
        values[index] = orjson.dumps(values[index])
    return tuple(values)


def _changed(saved: Stored | None, now: Stored) -> list[str] | None:
    """The fields that differ (None: every one, nothing was stored before)."""
    if saved is None:
        return None
    return [name for name, old, new in zip(_SESSION_FIELDS, saved, now, strict=True) if old != new]


class ActionContext:
    writes = True  # whether the action may store what it computed (a read context may not)

    def __init__(self, tx: Transaction, now: float, metrics: Metrics | None = None) -> None:
        self.tx = tx
        self.now = now
        self.metrics = metrics  # counted after commit (``after_commit``); None in a read context
        self._sessions: dict[str, SessionRecord] = {}
        self._saved: dict[str, Stored] = {}  # chat id → the fields as last stored
        # chat id → the first sequence number and the events emitted since the last flush (stored then)
        self._pending: dict[str, tuple[int, list[NewEvent]]] = {}
        # chat id → its fields when appends are all that changed it since it was last stored
        self._appended_only: dict[str, Stored] = {}
        self._before: dict[str, tuple[str, str] | None] = {}  # chat id → its live state when first seen
        self._connected_before: dict[str, bool] = {}
        self.wakes: dict[str, int] = {}
        self.appended: dict[str, int] = {}  # origin → events appended
        self._after_commit: list[Callable[[], None]] = []
        self._new: set[str] = set()  # chats created in this action and not stored yet

    def track(self, session: SessionRecord) -> SessionRecord:
        """Save this session when the action commits, if it changed. The context is an identity
        map: the first instance it saw of a chat is the one every later load in this action returns."""
        tracked = self._sessions.setdefault(session.chat_id, session)
        if tracked is session and session.chat_id not in self._saved:
            self._saved[session.chat_id] = _stored(session)
            self._before[session.chat_id] = live_state(session)
            self._connected_before[session.chat_id] = session.connected_at is not None
        return tracked

    async def session(self, chat_id: str) -> SessionRecord | None:
        tracked = self._sessions.get(chat_id)
        if tracked is not None:
            return tracked
        loaded = await self.tx.sessions.get(chat_id)
        return self.track(loaded) if loaded is not None else None

    async def sessions_in_state(self, tenant: str, states: tuple[str, ...]) -> list[SessionRecord]:
        await self.flush()  # queries filter on stored state: store in-memory changes first
        return [self.track(s) for s in await self.tx.sessions.list_in_state(tenant, states)]

    async def sessions_of_agent(self, agent_id: str) -> list[SessionRecord]:
        await self.flush()
        return [self.track(s) for s in await self.tx.sessions.list_for_agent(agent_id)]

    async def chats_of_agents(self, agent_ids: list[str]) -> list[int]:
        """Chats each agent holds or is offered (its load against ``max_chats``); the in-memory
        changes are stored once for all."""
        await self.flush()
        return [await self.tx.agents.count_chats(agent_id) for agent_id in agent_ids]

    async def queued_head(self, tenant: str, queue_id: str, limit: int,
                          unstored: SessionRecord | None = None) -> list[SessionRecord]:
        """The first ``limit`` chats stored queued in the queue, in service order (this action's
        changes stored first, but for ``unstored``: see ``flush``)."""
        await self.flush(unstored)
        return [self.track(s) for s in await self.tx.sessions.list_queued(tenant, queue_id, limit)]

    def is_new(self, session: SessionRecord) -> bool:
        """Created in this action and not stored yet."""
        return session.chat_id in self._new

    async def create(self, session: SessionRecord) -> None:
        """A new chat, stored by the next ``flush`` as the action has made it by then: one INSERT,
        not an INSERT and then an UPDATE of what routing changed. Until then its row is not there
        for any statement to find: every query of the context flushes first."""
        self._before[session.chat_id] = None  # a new chat: it was nowhere before this action
        self._connected_before[session.chat_id] = False
        self.track(session)
        self._new.add(session.chat_id)

    async def emit(self, session: SessionRecord, *events: NewEvent) -> list[EventRecord]:
        if not events:
            return []
        if self.track(session) is not session:
            raise RuntimeError(f"two copies of chat {session.chat_id} in one action; load it through the context")
        chat_id = session.chat_id
        before = _stored(session)
        appended_only = before in (self._saved.get(chat_id), self._appended_only.get(chat_id))
        records = numbered(chat_id, session.last_seq + 1, self.now, events)
        self._pending.setdefault(chat_id, (records[0].seq, []))[1].extend(events)
        session.last_seq = records[-1].seq
        customer_seq = last_customer_seq(records)
        if customer_seq is not None:
            session.customer_last_seq = customer_seq
        if appended_only:
            self._appended_only[chat_id] = _stored(session)
        else:
            self._appended_only.pop(chat_id, None)
        self.wake(chat_topic(session.chat_id), session.last_seq)
        for event in events:
            self.appended[event.origin] = self.appended.get(event.origin, 0) + 1
        return records

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the action has committed (log lines and counters of what it did:
        a rolled-back action leaves neither)."""
        self._after_commit.append(callback)

    def note(self, event: str, **fields: Any) -> None:
        """Log ``event`` at info with ``fields`` once the action has committed."""
        self._after_commit.append(lambda: log.info(event, **fields))

    def transitions(self) -> list[tuple[SessionRecord, tuple[str, str] | None, tuple[str, str] | None, bool]]:
        """Each tracked chat: its live state before and after the action, and whether it connected
        (got an agent for the first time) in it."""
        return [(session, self._before.get(chat_id), live_state(session),
                 session.connected_at is not None and not self._connected_before.get(chat_id, True))
                for chat_id, session in self._sessions.items()]

    def committed(self) -> None:
        for callback in self._after_commit:
            callback()

    def wake(self, topic: str, seq: int = 0) -> None:
        self.wakes[topic] = max(seq, self.wakes.get(topic, 0))

    def wake_agent(self, agent_id: str) -> None:
        if agent_id:
            self.wake(agent_topic(agent_id))

    def wake_tenant(self, tenant: str) -> None:
        self.wake(tenant_topic(tenant))

    async def flush(self, unstored: SessionRecord | None = None) -> None:
        """Store the tracked sessions that changed since they were loaded or last stored: an
        action that looks at many chats writes only the ones it changed.

        The events emitted since the last flush are stored here too, each chat's in one append (no
        statement of a write action reads the log back): when appends are all that changed the chat,
        the append moves its sequence fields and the chat is not stored again (a message is one
        statement), else its fields that changed are. A chat created in this action is inserted
        whole first, its events after it.

        ``unstored``, a chat created in this action, is left as it is (with its events) for a later
        flush: routing offers a new chat before storing it, so its row is written once, as routing
        left it, not inserted queued and updated (the storage counts the parties its agents joined
        it by before its row when the row comes, ``agent_load_chat_inserted``)."""
        for chat_id, session in self._sessions.items():
            if session is unstored and chat_id in self._new:
                continue
            now = _stored(session)
            pending = self._pending.pop(chat_id, None)
            if chat_id in self._new:
                self._new.discard(chat_id)
                await self.tx.sessions.insert(session)  # with its sequence fields as its events leave them
                self._saved[chat_id] = now
                self._appended_only.pop(chat_id, None)
                if pending is not None:
                    await self.tx.events.append(chat_id, pending[0], self.now, pending[1], advance=False)
                continue
            if pending is not None:
                advance = now == self._appended_only.pop(chat_id, None)
                await self.tx.events.append(chat_id, pending[0], self.now, pending[1], advance=advance)
                if advance:
                    self._saved[chat_id] = now
            saved = self._saved.get(chat_id)
            if now != saved:
                await self.tx.sessions.update(session, _changed(saved, now))
                self._saved[chat_id] = now


class ReadContext(ActionContext):
    """An ``ActionContext`` over a read transaction, for the engine's queries (estimates,
    staffing): it never stores anything."""

    writes = False

    async def flush(self, unstored: SessionRecord | None = None) -> None:
        return None


class Journal:
    def __init__(self, storage: Storage, bus: Bus, clock: Clock, metrics: Metrics | None = None) -> None:
        self.storage = storage
        self.bus = bus
        self.clock = clock
        self.metrics = metrics if metrics is not None else Metrics()
        self._read_latency = self.metrics.storage_latency.labels("read")  # looked up once: every poll reads

    @asynccontextmanager
    async def action(self, single_statement: bool = False) -> AsyncIterator[ActionContext]:
        """One write transaction (see ``retry_conflicts`` for what happens when it meets another).
        ``single_statement``: the action is one statement of a store and changes no chat through the
        context (``Storage.transaction``: on PostgreSQL it goes without BEGIN and COMMIT)."""
        started = time.perf_counter()
        try:
            async with self.storage.transaction(single_statement) as tx:
                ctx = ActionContext(tx, self.clock.now(), self.metrics)
                yield ctx
                await ctx.flush()
        except Exception as exc:
            if is_storage_error(exc):
                self._failed("write", exc)
            raise
        finally:
            self.metrics.storage_latency.labels("write").observe(time.perf_counter() - started)
        run = _attempt.get()
        if run is not None:
            run.committed = True
        for topic, seq in ctx.wakes.items():
            self.bus.publish(topic, seq)
        self._observe(ctx)

    def _failed(self, kind: str, exc: Exception) -> None:
        """A transaction the storage failed (``is_storage_error``): counted and logged."""
        self.metrics.storage_errors.labels(kind).inc()
        log.error("storage transaction failed; rolled back", kind=kind, error=f"{type(exc).__name__}: {exc}")

    def _observe(self, ctx: ActionContext) -> None:
        metrics = self.metrics
        for origin, count in ctx.appended.items():
            metrics.events_appended.labels(origin).inc(count)
        for session, before, after, connected in ctx.transitions():
            metrics.chat_moved(before, after)
            if connected and session.ewt_predicted is not None and session.queued_at is not None \
                    and session.connected_at is not None:
                waited = session.connected_at - session.queued_at
                metrics.ewt_error.observe(abs(waited - session.ewt_predicted))
        ctx.committed()

    @asynccontextmanager
    async def read(self, snapshot: bool = True) -> AsyncIterator[Transaction]:
        """``Storage.read``: ``snapshot=False`` where the statements need not agree (see there)."""
        started = time.perf_counter()
        try:
            async with self.storage.read(snapshot) as tx:
                yield tx
        except Exception as exc:
            if is_storage_error(exc):
                self._failed("read", exc)
            raise
        finally:
            self._read_latency.observe(time.perf_counter() - started)
