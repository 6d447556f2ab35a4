"""SQLite implementation of every storage interface.

One writer connection in WAL mode serves the process's write transactions. SQLite calls are fast
enough to run on the event loop thread (no thread hop), and an ``asyncio.Lock`` keeps write
transactions from interleaving: ``BEGIN IMMEDIATE`` makes each one the database's only writer, so
every lock of the concurrency contract (the chat's row, the agent's row, the tenant's routing lock)
is already held by the one open write transaction, and ``lock_routing`` has nothing left to do.
Reads run on reader connections of their own (WAL readers: one committed snapshot each, never
waiting for the writer's lock).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from frontdesk.storage.records import (
    AgentLoad,
    AgentRecord,
    AppliedConfigRecord,
    Audience,
    DeliveryState,
    EventRecord,
    FileRecord,
    FormRequestRecord,
    JsonObject,
    KeyedMessageRecord,
    LeftMessageRecord,
    LoginFailuresRecord,
    NewEvent,
    OfferRecord,
    PartyRecord,
    QueueModelRecord,
    SeenTail,
    SessionRecord,
    TimerRecord,
    TokenRecord,
    WrapUpRecord,
    last_customer_seq,
    numbered,
)
from frontdesk.storage.sqlite.checkpoint import WAL_SIZE_LIMIT_BYTES, WRITER_SAFETY_PAGES, WalCheckpointer
from frontdesk.storage.sqlite.migrations import MIGRATIONS, migrate


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the stores use of a ``sqlite3.Connection`` (a ``CountingConnection`` is one too)."""

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor: ...
    def executemany(self, sql: str, parameters: Any, /) -> Cursor: ...


@dataclass(slots=True)
class StatementCounts:
    """What the stores asked of SQLite while counted (``SqliteStorage.counting``)."""

    statements: int = 0
    rows_read: int = 0  # rows fetched from results
    rows_written: int = 0  # rows inserted, updated or deleted


class _CountingCursor:
    def __init__(self, cursor: sqlite3.Cursor, counts: StatementCounts) -> None:
        self._cursor, self._counts = cursor, counts

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def fetchone(self) -> Any:
        row = self._cursor.fetchone()
        if row is not None:
            self._counts.rows_read += 1
        return row

    def fetchall(self) -> list[Any]:
        rows = self._cursor.fetchall()
        self._counts.rows_read += len(rows)
        return rows

    def __iter__(self) -> Iterator[Any]:
        for row in self._cursor:
            self._counts.rows_read += 1
            yield row


class CountingConnection:
    """A connection that counts statements, rows read and rows written."""

    def __init__(self, conn: sqlite3.Connection, counts: StatementCounts) -> None:
        self._conn, self.counts = conn, counts

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        return self._counted(lambda: self._conn.execute(sql, parameters))

    def executemany(self, sql: str, parameters: Any, /) -> Cursor:
        return self._counted(lambda: self._conn.executemany(sql, parameters))

    def _counted(self, run: Callable[[], sqlite3.Cursor]) -> Cursor:
        before = self._conn.total_changes
        cursor = run()
        self.counts.statements += 1
        self.counts.rows_written += self._conn.total_changes - before
        return _CountingCursor(cursor, self.counts)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


_SESSION_COLUMNS = (
    "chat_id, tenant, app_id, client_id, client_kind, visitor_cookie, state, created_at, queue_id, "
    "phone_number, from_, parameters, case_id, offered_agent_id, declined_agents, last_seq, "
    "customer_last_seq, customer_cursor, terminal, end_reason, ended_at, queued_at, connected_at, "
    "priority, required_skills, scenario, ewt_predicted, ewt_announced, invited_agents"
)
_SESSION_NAMES = tuple(_SESSION_COLUMNS.split(", "))
_SESSION_COLUMN_COUNT = len(_SESSION_NAMES)
_SESSION_INDEX = {name: index for index, name in enumerate(_SESSION_NAMES)}
_MAX_COMPOUND = 200  # SELECTs joined by UNION ALL in one statement (SQLite allows 500)


def _session_row(s: SessionRecord) -> tuple[Any, ...]:
    return (s.chat_id, s.tenant, s.app_id, s.client_id, s.client_kind, s.visitor_cookie, s.state, s.created_at,
            s.queue_id, s.phone_number, s.from_, _dumps(s.parameters), s.case_id, s.offered_agent_id,
            _dumps(s.declined_agents), s.last_seq, s.customer_last_seq, s.customer_cursor, int(s.terminal),
            s.end_reason, s.ended_at, s.queued_at, s.connected_at, s.priority, _dumps(s.required_skills),
            _dumps(s.scenario), s.ewt_predicted, s.ewt_announced, _dumps(s.invited_agents))


@functools.lru_cache(maxsize=256)
def _session_update(names: tuple[str, ...]) -> str:
    """The UPDATE of these columns of a chat's row: ``update`` looks each name up in ``_SESSION_INDEX``
    first, so no other text ever reaches a statement."""
    return "UPDATE sessions SET " + ", ".join(f"{name} = ?" for name in names) + " WHERE chat_id = ?"


def _session(row: sqlite3.Row) -> SessionRecord:
    return SessionRecord(
        chat_id=row[0], tenant=row[1], app_id=row[2], client_id=row[3], client_kind=row[4],
        visitor_cookie=row[5], state=row[6], created_at=row[7], queue_id=row[8], phone_number=row[9],
        from_=row[10], parameters=orjson.loads(row[11]), case_id=row[12], offered_agent_id=row[13],
        declined_agents=orjson.loads(row[14]), last_seq=row[15], customer_last_seq=row[16],
        customer_cursor=row[17], terminal=bool(row[18]), end_reason=row[19], ended_at=row[20],
        queued_at=row[21], connected_at=row[22], priority=row[23], required_skills=orjson.loads(row[24]),
        scenario=orjson.loads(row[25]), ewt_predicted=row[26], ewt_announced=row[27],
        invited_agents=orjson.loads(row[28]))


# the live chats in a state that has an index of its own (migrations 5 and 13), and the live chats'
# index (every live chat of a tenant) for any other state
_STATE_INDEXES = {"queued": "sessions_queued", "connecting": "sessions_connecting"}


@functools.lru_cache(maxsize=16)
def _in_state(state: str) -> tuple[str, bool]:
    """The statement of a tenant's (parameter 1) live chats in ``state``, in the order of
    ``list_in_state``, and whether it takes the state as parameter 2. A partial index is only usable
    when the statement names its state as a literal: only a name of ``_STATE_INDEXES`` is ever
    written in, any other state is a parameter."""
    index = _STATE_INDEXES.get(state)
    named = f"state = '{state}'" if index else "state = ?"
    return (f"SELECT {_SESSION_COLUMNS}, rowid FROM sessions INDEXED BY {index or 'sessions_client'} "
            f"WHERE tenant = ? AND terminal = 0 AND {named} ORDER BY queued_at, created_at, rowid", index is None)


_DELIVERY_STATE = ("SELECT tenant, app_id, client_id, visitor_cookie, customer_cursor, customer_last_seq, terminal "
                   "FROM sessions WHERE chat_id = ?")
_DELIVERY_STATES = ("SELECT chat_id, tenant, app_id, client_id, visitor_cookie, customer_cursor, customer_last_seq, "
                    "terminal FROM sessions WHERE chat_id IN (SELECT value FROM json_each(?))")
_TAILS_MOVED = ("SELECT s.chat_id FROM json_each(?) AS h JOIN sessions s ON s.chat_id = h.value ->> 0 "
                "WHERE s.customer_last_seq > h.value ->> 1 OR s.terminal > h.value ->> 2")


class _Sessions:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    async def insert(self, session: SessionRecord) -> None:
        marks = ",".join("?" * _SESSION_COLUMN_COUNT)
        self._c.execute(f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES ({marks})", _session_row(session))

    async def get(self, chat_id: str) -> SessionRecord | None:
        row = self._c.execute(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE chat_id = ?", (chat_id,)).fetchone()
        return _session(row) if row else None

    async def update(self, session: SessionRecord, fields: Sequence[str] | None = None) -> None:
        names = _SESSION_NAMES[1:] if fields is None else tuple(fields)
        row = _session_row(session)
        self._c.execute(_session_update(names), (*(row[_SESSION_INDEX[name]] for name in names), row[0]))

    async def delivery_state(self, chat_id: str) -> DeliveryState | None:
        row = self._c.execute(_DELIVERY_STATE, (chat_id,)).fetchone()
        return DeliveryState(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6])) if row else None

    async def delivery_states(self, chat_ids: Sequence[str]) -> dict[str, DeliveryState]:
        if not chat_ids:
            return {}
        # one statement whatever the number of chats: the list goes in as one JSON parameter
        rows = self._c.execute(_DELIVERY_STATES, (_dumps(list(chat_ids)),))
        return {str(r[0]): DeliveryState(r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7])) for r in rows}

    async def tails_moved(self, seen: Sequence[SeenTail]) -> list[str]:
        if not seen:
            return []
        # one statement whatever the number of chats: the list goes in as one JSON parameter
        held = _dumps([(t.chat_id, t.customer_last_seq, int(t.terminal)) for t in seen])
        return [str(r[0]) for r in self._c.execute(_TAILS_MOVED, (held,))]

    async def set_customer_cursor(self, chat_id: str, seq: int) -> None:
        self._c.execute("UPDATE sessions SET customer_cursor = MAX(customer_cursor, ?) WHERE chat_id = ?",
                        (seq, chat_id))

    async def find_active_for_client(self, tenant: str, app_id: str, client_id: str,
                                     visitor_cookie: str) -> SessionRecord | None:
        # the partial index of live chats: the planner would otherwise walk the client's whole history
        query = (f"SELECT {_SESSION_COLUMNS} FROM sessions INDEXED BY sessions_client WHERE tenant = ? "
                 "AND app_id = ? AND client_id = ? AND terminal = 0")
        params: tuple[Any, ...] = (tenant, app_id, client_id)
        if visitor_cookie:
            query += " AND visitor_cookie = ?"
            params = (*params, visitor_cookie)
        row = self._c.execute(query + " ORDER BY created_at DESC LIMIT 1", params).fetchone()
        return _session(row) if row else None

    async def list_in_state(self, tenant: str, states: Sequence[str]) -> list[SessionRecord]:
        rows: list[sqlite3.Row] = []
        for state in dict.fromkeys(states):
            query, takes_state = _in_state(state)
            rows.extend(self._c.execute(query, (tenant, state) if takes_state else (tenant,)))
        if len(states) > 1:  # queued_at (NULL first), created_at, rowid
            rows.sort(key=lambda r: (r[21] is not None, r[21] or 0.0, r[7], r[29]))
        return [_session(r) for r in rows]

    async def list_for_agent(self, agent_id: str) -> list[SessionRecord]:
        cols = ", ".join(f"s.{c}" for c in _SESSION_COLUMNS.split(", "))
        rows = self._c.execute(
            f"SELECT DISTINCT {cols} FROM sessions s JOIN parties p ON p.chat_id = s.chat_id "
            "WHERE p.agent_id = ? AND p.left_at IS NULL AND s.terminal = 0 ORDER BY s.created_at",
            (agent_id,)).fetchall()
        return [_session(r) for r in rows]

    async def list_for_case(self, tenant: str, case_id: str) -> list[SessionRecord]:
        rows = self._c.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE tenant = ? AND case_id = ? ORDER BY created_at",
            (tenant, case_id)).fetchall()
        return [_session(r) for r in rows]

    async def list_active(self, tenant: str) -> list[SessionRecord]:
        rows = self._c.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions INDEXED BY sessions_client WHERE tenant = ? AND terminal = 0 "
            "ORDER BY created_at", (tenant,)).fetchall()
        return [_session(r) for r in rows]

    async def list_with_invitations(self, tenant: str) -> list[SessionRecord]:
        rows = self._c.execute(
            # the partial index holds only chats with invitations: without it the planner walks every chat
            f"SELECT {_SESSION_COLUMNS} FROM sessions INDEXED BY sessions_invited WHERE tenant = ? AND terminal = 0 "
            "AND invited_agents != '[]' ORDER BY created_at", (tenant,)).fetchall()
        return [_session(r) for r in rows]

    async def list_created_between(self, tenant: str, since: float, until: float) -> list[SessionRecord]:
        rows = self._c.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE tenant = ? AND created_at >= ? AND created_at < ? "
            "ORDER BY created_at", (tenant, since, until)).fetchall()
        return [_session(r) for r in rows]

    async def list_for_client(self, tenant: str, client_id: str, visitor_cookie: str,
                              limit: int) -> list[SessionRecord]:
        query = f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE tenant = ? AND client_id = ?"
        params: tuple[Any, ...] = (tenant, client_id)
        if visitor_cookie:
            query += " AND visitor_cookie = ?"
            params = (*params, visitor_cookie)
        rows = self._c.execute(query + " ORDER BY created_at DESC LIMIT ?", (*params, limit)).fetchall()
        return [_session(r) for r in rows]

    async def recent_handle_times(self, tenant: str, queue_id: str, limit: int) -> list[float]:
        rows = self._c.execute(
            "SELECT ended_at - connected_at FROM sessions WHERE tenant = ? AND queue_id = ? "
            "AND connected_at IS NOT NULL AND ended_at IS NOT NULL ORDER BY ended_at DESC LIMIT ?",
            (tenant, queue_id, limit)).fetchall()
        return [float(r[0]) for r in rows]

    async def recent_handle_times_of(self, tenant: str, queue_ids: Sequence[str],
                                     limit: int) -> dict[str, list[float]]:
        times: dict[str, list[float]] = {}
        for start in range(0, len(queue_ids), _MAX_COMPOUND):
            chunk = queue_ids[start:start + _MAX_COMPOUND]
            # one index range per queue, newest first, joined in one statement
            part = ("SELECT * FROM (SELECT queue_id, ended_at - connected_at FROM sessions INDEXED BY sessions_done "
                    "WHERE tenant = ? AND queue_id = ? AND connected_at IS NOT NULL AND ended_at IS NOT NULL "
                    "ORDER BY ended_at DESC LIMIT ?)")
            params: list[Any] = []
            for queue_id in chunk:
                params.extend((tenant, queue_id, limit))
            for queue_id, secs in self._c.execute(" UNION ALL ".join([part] * len(chunk)), params):
                times.setdefault(str(queue_id), []).append(float(secs))
        return times

    async def list_queued(self, tenant: str, queue_id: str, limit: int) -> list[SessionRecord]:
        rows = self._c.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions INDEXED BY sessions_queued WHERE tenant = ? AND queue_id = ? "
            "AND terminal = 0 AND state = 'queued' ORDER BY priority DESC, queued_at, created_at, rowid LIMIT ?",
            (tenant, queue_id, limit)).fetchall()
        return [_session(r) for r in rows]

    async def count_queued(self, tenant: str, queue_id: str, min_priority: int | None = None) -> int:
        query = "SELECT COALESCE(SUM(queued), 0) FROM queue_lengths WHERE tenant = ? AND queue_id = ?"
        params: tuple[Any, ...] = (tenant, queue_id)
        if min_priority is not None:
            query, params = query + " AND priority >= ?", (*params, min_priority)
        return int(self._c.execute(query, params).fetchone()[0])

    async def any_queued(self, tenant: str) -> bool:
        row = self._c.execute("SELECT 1 FROM queue_lengths WHERE tenant = ? AND queued > 0 LIMIT 1",
                              (tenant,)).fetchone()
        return row is not None

    async def count_queued_ahead(self, session: SessionRecord) -> int:
        queued_at = session.queued_at if session.queued_at is not None else session.created_at
        row = self._c.execute(
            "SELECT COUNT(*) FROM sessions INDEXED BY sessions_queued WHERE tenant = ?5 AND queue_id = ?6 "
            # from the index alone (no table row per entry): the session itself never satisfies it
            "AND terminal = 0 AND state = 'queued' AND (priority > ?2 OR (priority = ?2 AND "
            "(queued_at < ?3 OR (queued_at = ?3 AND (created_at < ?4 OR (created_at = ?4 AND "
            "rowid < COALESCE((SELECT rowid FROM sessions WHERE chat_id = ?1), 1 << 62)))))))",
            (session.chat_id, session.priority, queued_at, session.created_at, session.tenant,
             session.queue_id)).fetchone()
        return int(row[0])


def _event(row: sqlite3.Row) -> EventRecord:
    return EventRecord(chat_id=row[0], seq=row[1], ts=row[2], name=row[3], audience=Audience(row[4]),
                       in_history=bool(row[5]), origin=row[6], payload=orjson.loads(row[7]))


_EVENT_COLUMNS = "chat_id, seq, ts, name, audience, in_history, origin, payload"


class _Events:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    async def append(self, chat_id: str, first_seq: int, ts: float, events: Sequence[NewEvent],
                     advance: bool = True) -> list[EventRecord]:
        records = numbered(chat_id, first_seq, ts, events)
        self._c.executemany(
            f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
            [(r.chat_id, r.seq, r.ts, r.name, int(r.audience), int(r.in_history), r.origin, _dumps(r.payload))
             for r in records])
        if records and advance:
            self._c.execute("UPDATE sessions SET last_seq = ?, customer_last_seq = COALESCE(?, customer_last_seq) "
                            "WHERE chat_id = ?", (records[-1].seq, last_customer_seq(records), chat_id))
        return records

    async def read_after(self, chat_id: str, after_seq: int, audience: Audience,
                         limit: int) -> list[EventRecord]:
        rows = self._c.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE chat_id = ? AND seq > ? AND (audience & ?) != 0 "
            "ORDER BY seq LIMIT ?", (chat_id, after_seq, int(audience), limit)).fetchall()
        return [_event(r) for r in rows]

    async def read_history(self, chat_id: str) -> list[EventRecord]:
        rows = self._c.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE chat_id = ? AND in_history = 1 ORDER BY seq",
            (chat_id,)).fetchall()
        return [_event(r) for r in rows]


_PARTY_COLUMNS = "party_id, chat_id, party_type, agent_id, first_name, last_name, display_name, joined_at, left_at"


def _party(row: sqlite3.Row) -> PartyRecord:
    return PartyRecord(*row)


class _Parties:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    async def insert(self, party: PartyRecord) -> None:
        self._c.execute(f"INSERT INTO parties ({_PARTY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                        (party.party_id, party.chat_id, party.party_type, party.agent_id, party.first_name,
                         party.last_name, party.display_name, party.joined_at, party.left_at))

    async def update(self, party: PartyRecord) -> None:
        self._c.execute("UPDATE parties SET left_at = ?, display_name = ? WHERE party_id = ?",
                        (party.left_at, party.display_name, party.party_id))

    async def get(self, party_id: str) -> PartyRecord | None:
        row = self._c.execute(f"SELECT {_PARTY_COLUMNS} FROM parties WHERE party_id = ?", (party_id,)).fetchone()
        return _party(row) if row else None

    async def list_for_chat(self, chat_id: str) -> list[PartyRecord]:
        rows = self._c.execute(f"SELECT {_PARTY_COLUMNS} FROM parties WHERE chat_id = ? ORDER BY joined_at",
                               (chat_id,)).fetchall()
        return [_party(r) for r in rows]

    async def list_joined_between(self, tenant: str, since: float, until: float) -> list[PartyRecord]:
        cols = ", ".join(f"p.{c}" for c in _PARTY_COLUMNS.split(", "))
        rows = self._c.execute(
            # the parties of the period first (CROSS JOIN keeps that order): the planner would otherwise walk
            # every chat of the tenant and look its parties up
            f"SELECT {cols} FROM parties p INDEXED BY parties_joined CROSS JOIN sessions s ON s.chat_id = p.chat_id "
            "WHERE s.tenant = ? AND p.joined_at >= ? AND p.joined_at < ? ORDER BY p.joined_at",
            (tenant, since, until)).fetchall()
        return [_party(r) for r in rows]

    async def list_present(self, tenant: str) -> list[PartyRecord]:
        cols = ", ".join(f"p.{c}" for c in _PARTY_COLUMNS.split(", "))
        rows = self._c.execute(
            f"SELECT {cols} FROM sessions s INDEXED BY sessions_client JOIN parties p ON p.chat_id = s.chat_id "
            "WHERE s.tenant = ? AND s.terminal = 0 AND p.left_at IS NULL ORDER BY p.joined_at, p.party_id",
            (tenant,)).fetchall()
        return [_party(r) for r in rows]


_AGENT_COLUMNS = ("agent_id, tenant, username, password_hash, first_name, last_name, display_name, max_chats, "
                  "state, state_since, photo_path, auto_accept, skills, team, role, last_routed_at")


def _agent(row: sqlite3.Row) -> AgentRecord:
    return AgentRecord(agent_id=row[0], tenant=row[1], username=row[2], password_hash=row[3], first_name=row[4],
                       last_name=row[5], display_name=row[6], max_chats=row[7], state=row[8], state_since=row[9],
                       photo_path=row[10], auto_accept=bool(row[11]), skills=orjson.loads(row[12]), team=row[13],
                       role=row[14], last_routed_at=row[15])


# migration 11's index of the ready agents in routing's order (the expression is the index's, verbatim)
_IDLE = "max(state_since, last_routed_at)"
_READY_BY_IDLE = (f"SELECT {_AGENT_COLUMNS}, load FROM agents INDEXED BY agents_idle WHERE tenant = ? "
                  f"AND state = 'ready' AND load < max_chats{{after}} ORDER BY {_IDLE}, agent_id LIMIT ?")
_AFTER_IDLE = f" AND ({_IDLE}, agent_id) > (?, ?)"


class _Agents:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    async def upsert(self, agent: AgentRecord) -> None:
        self._c.execute(
            f"INSERT INTO agents ({_AGENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (agent_id) DO "
            "UPDATE SET tenant = excluded.tenant, username = excluded.username, "
            "password_hash = excluded.password_hash, first_name = excluded.first_name, "
            "last_name = excluded.last_name, display_name = excluded.display_name, "
            "max_chats = excluded.max_chats, state = excluded.state, state_since = excluded.state_since, "
            "photo_path = excluded.photo_path, auto_accept = excluded.auto_accept, skills = excluded.skills, "
            "team = excluded.team, role = excluded.role, last_routed_at = excluded.last_routed_at",
            (agent.agent_id, agent.tenant, agent.username, agent.password_hash, agent.first_name, agent.last_name,
             agent.display_name, agent.max_chats, agent.state, agent.state_since, agent.photo_path,
             int(agent.auto_accept), _dumps(agent.skills), agent.team, agent.role, agent.last_routed_at))

    async def mark_routed(self, agent_id: str, at: float) -> None:
        self._c.execute("UPDATE agents SET last_routed_at = ? WHERE agent_id = ?", (at, agent_id))

    async def get(self, agent_id: str) -> AgentRecord | None:
        row = self._c.execute(f"SELECT {_AGENT_COLUMNS} FROM agents WHERE agent_id = ?", (agent_id,)).fetchone()
        return _agent(row) if row else None

    async def get_by_username(self, tenant: str, username: str) -> AgentRecord | None:
        row = self._c.execute(f"SELECT {_AGENT_COLUMNS} FROM agents WHERE tenant = ? AND username = ?",
                              (tenant, username)).fetchone()
        return _agent(row) if row else None

    async def list_for_tenant(self, tenant: str) -> list[AgentRecord]:
        rows = self._c.execute(f"SELECT {_AGENT_COLUMNS} FROM agents WHERE tenant = ? ORDER BY state_since",
                               (tenant,)).fetchall()
        return [_agent(r) for r in rows]

    async def ready_by_idle(self, tenant: str, after: tuple[float, str] | None,
                            limit: int) -> list[tuple[AgentRecord, int]]:
        if after is None:
            rows = self._c.execute(_READY_BY_IDLE.format(after=""), (tenant, limit)).fetchall()
        else:
            rows = self._c.execute(_READY_BY_IDLE.format(after=_AFTER_IDLE), (tenant, *after, limit)).fetchall()
        return [(_agent(r), int(r[16])) for r in rows]

    async def count_chats(self, agent_id: str) -> int:
        row = self._c.execute("SELECT load FROM agents WHERE agent_id = ?", (agent_id,)).fetchone()
        return int(row[0]) if row else 0

    async def chat_loads(self, tenant: str) -> dict[str, int]:
        rows = self._c.execute("SELECT agent_id, load FROM agents WHERE tenant = ? AND load != 0", (tenant,))
        return {str(r[0]): int(r[1]) for r in rows}

    async def load_counters(self, tenant: str) -> dict[str, AgentLoad]:
        rows = self._c.execute("SELECT agent_id, load, load_changes FROM agents WHERE tenant = ?", (tenant,))
        return {str(r[0]): AgentLoad(int(r[1]), int(r[2])) for r in rows}

    async def connected_chats(self, tenant: str) -> list[tuple[str, float]]:
        rows = self._c.execute(
            "SELECT p.agent_id, COALESCE(s.connected_at, p.joined_at) FROM parties p INDEXED BY parties_agent "
            "JOIN sessions s ON s.chat_id = p.chat_id WHERE p.left_at IS NULL AND p.agent_id > '' "
            "AND s.tenant = ? AND s.terminal = 0", (tenant,)).fetchall()
        return [(str(r[0]), float(r[1])) for r in rows]

    async def add_token(self, token: TokenRecord) -> None:
        self._c.execute(f"INSERT INTO agent_tokens ({_TOKEN_COLUMNS}) VALUES (?,?,?,?,?,?)",
                        (token.token_hash, token.agent_id, token.kind, token.created_at, token.expires_at,
                         token.parent_hash))

    async def token(self, token_hash: str) -> TokenRecord | None:
        row = self._c.execute(f"SELECT {_TOKEN_COLUMNS} FROM agent_tokens WHERE token_hash = ?",
                              (token_hash,)).fetchone()
        return _token(row) if row else None

    async def extend_token(self, token_hash: str, expires_at: float) -> None:
        self._c.execute("UPDATE agent_tokens SET expires_at = MAX(expires_at, ?) WHERE token_hash = ?",
                        (expires_at, token_hash))

    async def delete_token(self, token_hash: str) -> None:
        self._c.execute("DELETE FROM agent_tokens WHERE token_hash = ?", (token_hash,))

    async def drop_tokens(self, agent_id: str) -> None:
        self._c.execute("DELETE FROM agent_tokens WHERE agent_id = ?", (agent_id,))

    async def expired_tokens(self, now: float, limit: int) -> list[TokenRecord]:
        rows = self._c.execute(f"SELECT {_TOKEN_COLUMNS} FROM agent_tokens WHERE expires_at <= ? "
                               "ORDER BY expires_at LIMIT ?", (now, limit)).fetchall()
        return [_token(r) for r in rows]


_TOKEN_COLUMNS = "token_hash, agent_id, kind, created_at, expires_at, parent_hash"  # noqa: S105 - column names


def _token(row: sqlite3.Row) -> TokenRecord:
    return TokenRecord(token_hash=row[0], agent_id=row[1], kind=row[2], created_at=row[3], expires_at=row[4],
                       parent_hash=row[5])


_FILE_COLUMNS = "file_id, tenant, chat_id, file_name, content_type, size, created_at, uploader"


class _Files:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    async def insert(self, record: FileRecord) -> None:
        self._c.execute(f"INSERT INTO files ({_FILE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
                        (record.file_id, record.tenant, record.chat_id, record.file_name, record.content_type,
                         record.size, record.created_at, record.uploader))

    async def get(self, file_id: str) -> FileRecord | None:
        row = self._c.execute(f"SELECT {_FILE_COLUMNS} FROM files WHERE file_id = ?", (file_id,)).fetchone()
        return FileRecord(*row) if row else None

    async def attach(self, file_id: str, chat_id: str, file_name: str = "") -> None:
        self._c.execute("UPDATE files SET chat_id = ?, file_name = CASE WHEN ? = '' THEN file_name ELSE ? END "
                        "WHERE file_id = ?", (chat_id, file_name, file_name, file_id))

    async def count_for_tenant(self, tenant: str) -> int:
        return int(self._c.execute("SELECT COUNT(*) FROM files WHERE tenant = ?", (tenant,)).fetchone()[0])

    async def oldest_for_tenant(self, tenant: str, limit: int) -> list[FileRecord]:
        rows = self._c.execute(f"SELECT {_FILE_COLUMNS} FROM files WHERE tenant = ? ORDER BY created_at LIMIT ?",
                               (tenant, limit)).fetchall()
        return [FileRecord(*r) for r in rows]

    async def delete(self, file_id: str) -> None:
        self._c.execute("DELETE FROM files WHERE file_id = ?", (file_id,))


def _timer(row: sqlite3.Row) -> TimerRecord:
    return TimerRecord(chat_id=row[0], kind=row[1], due_at=row[2], payload=orjson.loads(row[3]), failures=row[4])


class _Timers:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    async def set(self, timer: TimerRecord) -> None:
        self._c.execute("INSERT INTO timers (chat_id, kind, due_at, payload, failures) VALUES (?,?,?,?,?) "
                        "ON CONFLICT (chat_id, kind) DO UPDATE SET due_at = excluded.due_at, "
                        "payload = excluded.payload, failures = excluded.failures",
                        (timer.chat_id, timer.kind, timer.due_at, _dumps(timer.payload), timer.failures))

    async def get(self, chat_id: str, kind: str) -> TimerRecord | None:
        row = self._c.execute("SELECT chat_id, kind, due_at, payload, failures FROM timers WHERE chat_id = ? "
                              "AND kind = ?", (chat_id, kind)).fetchone()
        return _timer(row) if row else None

    async def ensure(self, timer: TimerRecord) -> None:
        self._c.execute("INSERT INTO timers (chat_id, kind, due_at, payload, failures) VALUES (?,?,?,?,?) "
                        "ON CONFLICT (chat_id, kind) DO NOTHING",
                        (timer.chat_id, timer.kind, timer.due_at, _dumps(timer.payload), timer.failures))

    async def claim(self, chat_id: str, kind: str, due_at: float) -> TimerRecord | None:
        row = self._c.execute("DELETE FROM timers WHERE chat_id = ? AND kind = ? AND due_at = ? "
                              "RETURNING chat_id, kind, due_at, payload, failures", (chat_id, kind, due_at)).fetchone()
        return _timer(row) if row else None

    async def cancel(self, chat_id: str, kind: str) -> None:
        self._c.execute("DELETE FROM timers WHERE chat_id = ? AND kind = ?", (chat_id, kind))

    async def cancel_all(self, chat_id: str) -> None:
        self._c.execute("DELETE FROM timers WHERE chat_id = ?", (chat_id,))

    async def due(self, now: float, limit: int) -> list[TimerRecord]:
        rows = self._c.execute("SELECT chat_id, kind, due_at, payload, failures FROM timers WHERE due_at <= ? "
                               "ORDER BY due_at LIMIT ?", (now, limit)).fetchall()
        return [_timer(r) for r in rows]

    async def next_due_at(self) -> float | None:
        row = self._c.execute("SELECT MIN(due_at) FROM timers").fetchone()
        return float(row[0]) if row and row[0] is not None else None


class _Forms:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    async def insert(self, form: FormRequestRecord) -> None:
        self._c.execute("INSERT INTO form_requests (chat_id, form_request_id, form_name, party_id, state, due_at, "
                        "data) VALUES (?,?,?,?,?,?,?)",
                        (form.chat_id, form.form_request_id, form.form_name, form.party_id, form.state,
                         form.due_at, None if form.data is None else _dumps(form.data)))

    async def get(self, chat_id: str, form_request_id: int) -> FormRequestRecord | None:
        row = self._c.execute("SELECT chat_id, form_request_id, form_name, party_id, state, due_at, data "
                              "FROM form_requests WHERE chat_id = ? AND form_request_id = ?",
                              (chat_id, form_request_id)).fetchone()
        if row is None:
            return None
        return FormRequestRecord(chat_id=row[0], form_request_id=row[1], form_name=row[2], party_id=row[3],
                                 state=row[4], due_at=row[5], data=None if row[6] is None else orjson.loads(row[6]))

    async def update(self, form: FormRequestRecord) -> None:
        self._c.execute("UPDATE form_requests SET state = ?, data = ? WHERE chat_id = ? AND form_request_id = ?",
                        (form.state, None if form.data is None else _dumps(form.data), form.chat_id,
                         form.form_request_id))


class _Push:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    async def set(self, chat_id: str, subscription: JsonObject, updated_at: float) -> None:
        self._c.execute("INSERT INTO push_subscriptions (chat_id, subscription, updated_at) VALUES (?,?,?) "
                        "ON CONFLICT (chat_id) DO UPDATE SET subscription = excluded.subscription, "
                        "updated_at = excluded.updated_at", (chat_id, _dumps(subscription), updated_at))

    async def delete(self, chat_id: str) -> None:
        self._c.execute("DELETE FROM push_subscriptions WHERE chat_id = ?", (chat_id,))

    async def get(self, chat_id: str) -> JsonObject | None:
        row = self._c.execute("SELECT subscription FROM push_subscriptions WHERE chat_id = ?", (chat_id,)).fetchone()
        return orjson.loads(row[0]) if row else None


_KEYED_MESSAGE_COLUMNS = "chat_id, party_id, client_msg_id, seq, msg_id, text_digest"


class _KeyedMessages:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    async def insert(self, message: KeyedMessageRecord) -> None:
        self._c.execute(f"INSERT INTO keyed_messages ({_KEYED_MESSAGE_COLUMNS}) VALUES (?,?,?,?,?,?)",
                        (message.chat_id, message.party_id, message.client_msg_id, message.seq, message.msg_id,
                         message.text_digest))

    async def get(self, chat_id: str, party_id: str, client_msg_id: str) -> KeyedMessageRecord | None:
        row = self._c.execute(f"SELECT {_KEYED_MESSAGE_COLUMNS} FROM keyed_messages WHERE chat_id = ? "
                              "AND party_id = ? AND client_msg_id = ?", (chat_id, party_id, client_msg_id)).fetchone()
        return KeyedMessageRecord(*row) if row else None


class _Cases:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    async def ensure(self, tenant: str, case_id: str, created_at: float) -> None:
        self._c.execute("INSERT INTO cases (tenant, case_id, created_at) VALUES (?,?,?) "
                        "ON CONFLICT (tenant, case_id) DO NOTHING", (tenant, case_id, created_at))

    async def close(self, tenant: str, case_id: str, closed_at: float) -> bool:
        cur = self._c.execute("UPDATE cases SET closed_at = ? WHERE tenant = ? AND case_id = ? AND closed_at IS NULL",
                              (closed_at, tenant, case_id))
        return cur.rowcount > 0

    async def is_closed(self, tenant: str, case_id: str) -> bool:
        row = self._c.execute("SELECT closed_at FROM cases WHERE tenant = ? AND case_id = ?",
                              (tenant, case_id)).fetchone()
        return bool(row and row[0] is not None)


_OFFER_COLUMNS = "chat_id, agent_id, tenant, queue_id, offered_at, outcome, decided_at"


class _Offers:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    async def insert(self, offer: OfferRecord) -> None:
        self._c.execute(f"INSERT INTO offers ({_OFFER_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
                        (offer.chat_id, offer.agent_id, offer.tenant, offer.queue_id, offer.offered_at,
                         offer.outcome, offer.decided_at))

    async def decide(self, chat_id: str, agent_id: str, outcome: str, decided_at: float) -> None:
        self._c.execute("UPDATE offers SET outcome = ?, decided_at = ? WHERE chat_id = ? AND agent_id = ? "
                        "AND outcome = 'pending'", (outcome, decided_at, chat_id, agent_id))

    async def list_between(self, tenant: str, since: float, until: float) -> list[OfferRecord]:
        rows = self._c.execute(f"SELECT {_OFFER_COLUMNS} FROM offers WHERE tenant = ? AND offered_at >= ? "
                               "AND offered_at < ? ORDER BY offered_at", (tenant, since, until)).fetchall()
        return [OfferRecord(*r) for r in rows]


_WRAP_UP_COLUMNS = "chat_id, agent_id, tenant, queue_id, disposition, notes, created_at"


class _WrapUps:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    async def insert(self, wrap_up: WrapUpRecord) -> None:
        self._c.execute(f"INSERT INTO wrap_ups ({_WRAP_UP_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
                        (wrap_up.chat_id, wrap_up.agent_id, wrap_up.tenant, wrap_up.queue_id, wrap_up.disposition,
                         wrap_up.notes, wrap_up.created_at))

    async def get(self, chat_id: str, agent_id: str) -> WrapUpRecord | None:
        row = self._c.execute(f"SELECT {_WRAP_UP_COLUMNS} FROM wrap_ups WHERE chat_id = ? AND agent_id = ?",
                              (chat_id, agent_id)).fetchone()
        return WrapUpRecord(*row) if row else None

    async def list_between(self, tenant: str, since: float, until: float) -> list[WrapUpRecord]:
        rows = self._c.execute(f"SELECT {_WRAP_UP_COLUMNS} FROM wrap_ups WHERE tenant = ? AND created_at >= ? "
                               "AND created_at < ? ORDER BY created_at", (tenant, since, until)).fetchall()
        return [WrapUpRecord(*r) for r in rows]


_LEFT_MESSAGE_COLUMNS = "message_id, tenant, chat_id, queue_id, created_at, data, handled_by, handled_at"


def _left_message(row: sqlite3.Row) -> LeftMessageRecord:
    return LeftMessageRecord(message_id=row[0], tenant=row[1], chat_id=row[2], queue_id=row[3], created_at=row[4],
                             data=orjson.loads(row[5]), handled_by=row[6], handled_at=row[7])


class _LeftMessages:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    async def insert(self, message: LeftMessageRecord) -> None:
        self._c.execute(f"INSERT INTO left_messages ({_LEFT_MESSAGE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
                        (message.message_id, message.tenant, message.chat_id, message.queue_id, message.created_at,
                         _dumps(message.data), message.handled_by, message.handled_at))

    async def get(self, message_id: str) -> LeftMessageRecord | None:
        row = self._c.execute(f"SELECT {_LEFT_MESSAGE_COLUMNS} FROM left_messages WHERE message_id = ?",
                              (message_id,)).fetchone()
        return _left_message(row) if row else None

    async def update(self, message: LeftMessageRecord) -> None:
        self._c.execute("UPDATE left_messages SET handled_by = ?, handled_at = ? WHERE message_id = ?",
                        (message.handled_by, message.handled_at, message.message_id))

    async def list_for_tenant(self, tenant: str, include_handled: bool) -> list[LeftMessageRecord]:
        query = f"SELECT {_LEFT_MESSAGE_COLUMNS} FROM left_messages WHERE tenant = ?"
        if not include_handled:
            query += " AND handled_at IS NULL"
        rows = self._c.execute(query + " ORDER BY created_at", (tenant,)).fetchall()
        return [_left_message(r) for r in rows]


class _Monitors:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    async def add(self, chat_id: str, agent_id: str, since: float) -> None:
        self._c.execute("INSERT INTO monitors (chat_id, agent_id, since) VALUES (?,?,?) "
                        "ON CONFLICT (chat_id, agent_id) DO NOTHING", (chat_id, agent_id, since))

    async def remove(self, chat_id: str, agent_id: str) -> None:
        self._c.execute("DELETE FROM monitors WHERE chat_id = ? AND agent_id = ?", (chat_id, agent_id))

    async def chats_of(self, agent_id: str) -> list[str]:
        rows = self._c.execute("SELECT chat_id FROM monitors WHERE agent_id = ? ORDER BY since",
                               (agent_id,)).fetchall()
        return [str(r[0]) for r in rows]

    async def is_monitoring(self, chat_id: str, agent_id: str) -> bool:
        row = self._c.execute("SELECT 1 FROM monitors WHERE chat_id = ? AND agent_id = ?",
                              (chat_id, agent_id)).fetchone()
        return row is not None

    async def list_for_tenant(self, tenant: str) -> list[tuple[str, str]]:
        rows = self._c.execute("SELECT m.chat_id, m.agent_id FROM agents a JOIN monitors m ON m.agent_id = a.agent_id "
                               "WHERE a.tenant = ? ORDER BY m.since, m.chat_id", (tenant,)).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]


class _QueueModels:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    async def get(self, tenant: str, queue_id: str) -> QueueModelRecord | None:
        row = self._c.execute("SELECT tenant, queue_id, computed_at, staffing, waits, tail_step_secs FROM queue_models "
                              "WHERE tenant = ? AND queue_id = ?", (tenant, queue_id)).fetchone()
        if row is None:
            return None
        return QueueModelRecord(tenant=row[0], queue_id=row[1], computed_at=row[2], staffing=row[3],
                                waits=tuple(orjson.loads(row[4])), tail_step_secs=row[5])

    async def list_for_tenant(self, tenant: str) -> dict[str, QueueModelRecord]:
        rows = self._c.execute("SELECT tenant, queue_id, computed_at, staffing, waits, tail_step_secs "
                               "FROM queue_models WHERE tenant = ?", (tenant,)).fetchall()
        return {str(r[1]): QueueModelRecord(tenant=r[0], queue_id=r[1], computed_at=r[2], staffing=r[3],
                                            waits=tuple(orjson.loads(r[4])), tail_step_secs=r[5]) for r in rows}

    async def put(self, model: QueueModelRecord) -> None:
        self._c.execute("INSERT INTO queue_models (tenant, queue_id, computed_at, staffing, waits, tail_step_secs) "
                        "VALUES (?,?,?,?,?,?) ON CONFLICT (tenant, queue_id) DO UPDATE SET "
                        "computed_at = excluded.computed_at, staffing = excluded.staffing, waits = excluded.waits, "
                        "tail_step_secs = excluded.tail_step_secs",
                        (model.tenant, model.queue_id, model.computed_at, model.staffing, _dumps(list(model.waits)),
                         model.tail_step_secs))


class _LoginFailures:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    async def get(self, key: str) -> LoginFailuresRecord | None:
        row = self._c.execute("SELECT key, failures, window_start FROM login_failures WHERE key = ?",
                              (key,)).fetchone()
        return LoginFailuresRecord(row[0], row[1], row[2]) if row else None

    async def set(self, record: LoginFailuresRecord) -> None:
        self._c.execute("INSERT INTO login_failures (key, failures, window_start) VALUES (?,?,?) ON CONFLICT (key) "
                        "DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start",
                        (record.key, record.failures, record.window_start))

    async def delete(self, key: str) -> None:
        self._c.execute("DELETE FROM login_failures WHERE key = ?", (key,))

    async def delete_before(self, window_start: float) -> None:
        self._c.execute("DELETE FROM login_failures WHERE window_start < ?", (window_start,))


class _AppliedConfig:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    async def get(self) -> AppliedConfigRecord | None:
        row = self._c.execute("SELECT version, document, file_digest, applied_at FROM applied_config "
                              "WHERE id = 1").fetchone()
        return AppliedConfigRecord(int(row[0]), str(row[1]), str(row[2]), float(row[3])) if row else None

    async def version(self) -> int:
        row = self._c.execute("SELECT version FROM applied_config WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    async def put(self, record: AppliedConfigRecord) -> None:
        self._c.execute("INSERT INTO applied_config (id, version, document, file_digest, applied_at) "
                        "VALUES (1,?,?,?,?) ON CONFLICT (id) DO UPDATE SET version = excluded.version, "
                        "document = excluded.document, file_digest = excluded.file_digest, "
                        "applied_at = excluded.applied_at",
                        (record.version, record.document, record.file_digest, record.applied_at))


class SqliteTransaction:
    def __init__(self, conn: Connection) -> None:
        self.sessions = _Sessions(conn)
        self.events = _Events(conn)
        self.keyed_messages = _KeyedMessages(conn)
        self.parties = _Parties(conn)
        self.agents = _Agents(conn)
        self.files = _Files(conn)
        self.timers = _Timers(conn)
        self.forms = _Forms(conn)
        self.push = _Push(conn)
        self.cases = _Cases(conn)
        self.offers = _Offers(conn)
        self.wrap_ups = _WrapUps(conn)
        self.left_messages = _LeftMessages(conn)
        self.monitors = _Monitors(conn)
        self.login_failures = _LoginFailures(conn)
        self.queue_models = _QueueModels(conn)
        self.applied_config = _AppliedConfig(conn)

    async def lock_routing(self, tenant: str) -> None:
        """Held already: the open write transaction is the database's only writer."""


class SqliteStorage:
    """The SQLite backend. ``synchronous`` NORMAL survives a process crash; FULL also a power cut."""

    def __init__(self, path: Path | str, synchronous: str = "NORMAL") -> None:
        self._path = str(path)
        self._conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute(f"PRAGMA synchronous = {synchronous}")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.execute("PRAGMA busy_timeout = 5000")
        # checkpoints run in a thread of their own (checkpoint.py); the writer's is a safety net
        self._conn.execute(f"PRAGMA wal_autocheckpoint = {WRITER_SAFETY_PAGES}")
        self._conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
        self.schema_version = migrate(self._conn)
        self._tx = SqliteTransaction(self._conn)
        self._lock = asyncio.Lock()
        # idle reader connections, each with its stores (made once: a poll's read allocates none)
        self._readers: list[tuple[sqlite3.Connection, SqliteTransaction]] = []
        self._counts: StatementCounts | None = None
        self._checkpointer: WalCheckpointer | None = None  # started by open()

    def _reader(self) -> tuple[sqlite3.Connection, SqliteTransaction]:
        if self._readers:
            return self._readers.pop()
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA busy_timeout = 5000")
        return conn, SqliteTransaction(conn)

    async def open(self) -> None:
        """Start the WAL checkpoints (the constructor connected and migrated)."""
        if self._checkpointer is None:
            self._checkpointer = WalCheckpointer(self._path)
            self._checkpointer.start()

    @asynccontextmanager
    async def transaction(self, single_statement: bool = False) -> AsyncIterator[SqliteTransaction]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (the one writer), one statement or many alike."""
        async with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._tx
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @asynccontextmanager
    async def read(self, snapshot: bool = True) -> AsyncIterator[SqliteTransaction]:
        """A read on a reader connection of its own (readers do not take the writer's lock). With
        ``snapshot`` one transaction (``BEGIN`` … ``ROLLBACK``): the snapshot of the last commit,
        whatever the writer does meanwhile. Without, each statement is its own implicit read
        transaction and sees the last commit when it starts: an idle poll's one statement runs
        without the two extra statements."""
        reader = self._reader()
        conn, stores = reader
        if snapshot:
            conn.execute("BEGIN")
        try:
            counts = self._counts
            yield stores if counts is None else SqliteTransaction(CountingConnection(conn, counts))
        finally:
            if snapshot:
                conn.execute("ROLLBACK")
            self._readers.append(reader)

    @contextmanager
    def counting(self) -> Iterator[StatementCounts]:
        """Count the statements and rows of every transaction while the block runs (tests measure
        what an action costs with it; the stores run on the plain connections otherwise)."""
        counts = StatementCounts()
        plain, self._tx = self._tx, SqliteTransaction(CountingConnection(self._conn, counts))
        self._counts = counts
        try:
            yield counts
        finally:
            self._tx = plain
            self._counts = None

    async def ready(self) -> str | None:
        """Readiness (``/readyz``): None when the database answers and has every migration; else why not."""
        async with self._lock:
            try:
                version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
            except sqlite3.Error as exc:
                return f"storage: {exc}"
        if version != len(MIGRATIONS):
            return f"storage: schema version {version}, expected {len(MIGRATIONS)}"
        return None

    @property
    def checkpointer(self) -> WalCheckpointer | None:
        """The WAL checkpoint thread, once ``open()`` started it."""
        return self._checkpointer

    async def close(self) -> None:
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)  # waits for a pass in progress
            self._checkpointer = None
        async with self._lock:
            for reader, _ in self._readers:
                reader.close()
            self._readers.clear()
            self._conn.close()
