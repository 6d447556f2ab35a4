"""PostgreSQL implementation of every storage interface (asyncpg; per process a pool of connections for
write transactions and one for reads).

The dialect of this backend lives here and in ``migrations.py``: ``$n`` parameters, ``FOR UPDATE``,
``GREATEST``, ``arrival`` for SQLite's ``rowid`` ties. The concurrency contract
(``storage/interfaces.py``, docs/event-delivery.md) maps onto PostgreSQL like this:

- a write transaction runs at READ COMMITTED; every chat or agent it loads to change
  (``sessions.get``, the lists of chats an action tracks, ``agents.get``) is locked with
  ``FOR UPDATE`` until commit, so two nodes changing one chat or one agent take turns and each
  sees the other's commit (no lost whole-row update, sequence numbers from the locked
  ``last_seq``: gap-free and ordered);
- ``lock_routing`` is a transaction-scoped advisory lock per tenant;
- ``timers.claim`` is ``DELETE … RETURNING``: of concurrent claims one gets the row;
- a read runs on a connection of the read pool, takes no row locks and never waits for writers
  (neither for their locks nor for a connection one of them holds while it waits for a lock):
  ``read()`` is a READ ONLY transaction at REPEATABLE READ (one snapshot for all its statements);
  ``read(snapshot=False)`` runs each statement by itself (autocommit: each sees the newest commit),
  one round trip per statement and no BEGIN or COMMIT;
- ``transaction(single_statement=True)`` sends its one statement by itself (autocommit: PostgreSQL
  runs a lone statement as a transaction of its own), without the BEGIN and COMMIT round trips;
- PostgreSQL's serialization failures and deadlocks leave as ``TransientConflict``.
- A lost connection or a database that cannot be reached leaves as ``StorageUnavailable``.

A connection goes back to the pool as it is (``_keep_session``): these stores never change a
session's state (no ``SET``, ``LISTEN``, cursors or session-level advisory locks; the routing lock is
transaction-scoped), so asyncpg's default reset query would be one more round trip per transaction
for nothing; asyncpg itself still rolls back a transaction left open. The connection keeps its
prepared statements (``statement_cache_size``): every statement is a constant text, prepared once
per connection.

PostgreSQL's text cannot hold NUL (code point 0; SQLite's can): every text parameter is written and looked
up with NUL replaced by U+FFFD (``_Connection``), so such input is stored and found alike instead of
failing the statement (JSON columns never hold a raw NUL: the encoder escapes it).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, NamedTuple, TypeAlias

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from frontdesk.storage.interfaces import StorageUnavailable, TransientConflict
from frontdesk.storage.postgres.migrations import MIGRATIONS, migrate
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

log = logging.getLogger(__name__)

Row = asyncpg.Record
Conn: TypeAlias = "asyncpg.Connection[Row] | PoolConnectionProxy[Row]"  # a connection of the pool


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _text(value: Any) -> Any:
    """A parameter PostgreSQL can take: NUL in text (or in a list of texts) becomes U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, list):
        return [_text(item) for item in value]
    return value


class _Connection:
    """The statements the stores run on a pooled connection, with their text parameters made
    storable (``_text``)."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def execute(self, query: str, *args: Any) -> str:
        return await self._conn.execute(query, *map(_text, args))

    async def executemany(self, query: str, args: list[tuple[Any, ...]]) -> None:
        await self._conn.executemany(query, [tuple(map(_text, row)) for row in args])

    async def fetch(self, query: str, *args: Any) -> list[Row]:
        return await self._conn.fetch(query, *map(_text, args))

    async def fetchrow(self, query: str, *args: Any) -> Row | None:
        return await self._conn.fetchrow(query, *map(_text, args))

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self._conn.fetchval(query, *map(_text, args))


def _marks(count: int, start: int = 1) -> str:
    return ",".join(f"${i}" for i in range(start, start + count))


_SESSION_COLUMNS = (
    "chat_id, tenant, app_id, client_id, client_kind, visitor_cookie, state, created_at, queue_id, "
    "phone_number, from_, parameters, case_id, offered_agent_id, declined_agents, last_seq, "
    "customer_last_seq, customer_cursor, terminal, end_reason, ended_at, queued_at, connected_at, "
    "priority, required_skills, scenario, ewt_predicted, ewt_announced, invited_agents"
)
_SESSION_NAMES = tuple(_SESSION_COLUMNS.split(", "))
_SESSION_INDEX = {name: index for index, name in enumerate(_SESSION_NAMES)}


def _session_row(s: SessionRecord) -> tuple[Any, ...]:
    return (s.chat_id, s.tenant, s.app_id, s.client_id, s.client_kind, s.visitor_cookie, s.state, s.created_at,
            s.queue_id, s.phone_number, s.from_, _dumps(s.parameters), s.case_id, s.offered_agent_id,
            _dumps(s.declined_agents), s.last_seq, s.customer_last_seq, s.customer_cursor, s.terminal,
            s.end_reason, s.ended_at, s.queued_at, s.connected_at, s.priority, _dumps(s.required_skills),
            _dumps(s.scenario), s.ewt_predicted, s.ewt_announced, _dumps(s.invited_agents))


def _session(row: Row) -> SessionRecord:
    return SessionRecord(
        chat_id=row[0], tenant=row[1], app_id=row[2], client_id=row[3], client_kind=row[4],
        visitor_cookie=row[5], state=row[6], created_at=row[7], queue_id=row[8], phone_number=row[9],
        from_=row[10], parameters=orjson.loads(row[11]), case_id=row[12], offered_agent_id=row[13],
        declined_agents=orjson.loads(row[14]), last_seq=row[15], customer_last_seq=row[16],
        customer_cursor=row[17], terminal=row[18], end_reason=row[19], ended_at=row[20],
        queued_at=row[21], connected_at=row[22], priority=row[23], required_skills=orjson.loads(row[24]),
        scenario=orjson.loads(row[25]), ewt_predicted=row[26], ewt_announced=row[27],
        invited_agents=orjson.loads(row[28]))


# the live chats in a state that has a partial index of its own (migrations 5 and 13); any other state
# is read from the index of every live chat of a tenant
_STATE_INDEXED = frozenset({"queued", "connecting"})


@functools.lru_cache(maxsize=16)
def _in_state(state: str) -> tuple[str, bool]:
    """The statement of a tenant's ($1) live chats in ``state``, in the order of ``list_in_state``
    (``arrival`` last), and whether it takes the state as $2. The planner uses a partial index only
    for a literal state (a parameter's value is unknown to a generic plan): only a name of
    ``_STATE_INDEXED`` is ever written in, any other state is a parameter."""
    named = f"state = '{state}'" if state in _STATE_INDEXED else "state = $2"
    return (f"SELECT {_SESSION_COLUMNS}, arrival FROM sessions WHERE tenant = $1 AND NOT terminal AND {named} "
            "ORDER BY queued_at NULLS FIRST, created_at, arrival", state not in _STATE_INDEXED)


class _Store:
    def __init__(self, conn: _Connection, writes: bool) -> None:
        self._c = conn
        self._writes = writes
        # in a write transaction what is loaded to be changed is locked until commit
        self._lock = " FOR UPDATE" if writes else ""


async def _lock_routing(conn: _Connection, tenant: str) -> None:
    await conn.execute("SELECT frontdesk_lock_routing($1)", tenant)  # a function of migration 9's: its triggers take it


_SESSION_INSERT = f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES ({_marks(len(_SESSION_NAMES))})"


@functools.lru_cache(maxsize=256)
def _session_update(names: tuple[str, ...]) -> str:
    """The UPDATE of these columns of a chat's row: ``update`` looks each name up in ``_SESSION_INDEX``
    first, so no other text ever reaches a statement."""
    return ("UPDATE sessions SET " + ", ".join(f"{name} = ${i}" for i, name in enumerate(names, 2))
            + " WHERE chat_id = $1")


_DELIVERY_STATE = ("SELECT tenant, app_id, client_id, visitor_cookie, customer_cursor, customer_last_seq, terminal "
                   "FROM sessions WHERE chat_id = $1")
_DELIVERY_STATES = ("SELECT chat_id, tenant, app_id, client_id, visitor_cookie, customer_cursor, customer_last_seq, "
                    "terminal FROM sessions WHERE chat_id = ANY($1::text[])")
_TAILS_MOVED = ("SELECT s.chat_id FROM unnest($1::text[], $2::bigint[], $3::boolean[]) AS h(chat_id, last_seq, ended) "
                "JOIN sessions s ON s.chat_id = h.chat_id WHERE s.customer_last_seq > h.last_seq "
                "OR (s.terminal AND NOT h.ended)")


class _Sessions(_Store):
    async def insert(self, session: SessionRecord) -> None:
        await self._c.execute(_SESSION_INSERT, *_session_row(session))

    async def get(self, chat_id: str) -> SessionRecord | None:
        row = await self._c.fetchrow(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE chat_id = $1{self._lock}",
                                     chat_id)
        return _session(row) if row else None

    async def update(self, session: SessionRecord, fields: Sequence[str] | None = None) -> None:
        names = _SESSION_NAMES[1:] if fields is None else tuple(fields)
        row = _session_row(session)
        await self._c.execute(_session_update(names), row[0], *(row[_SESSION_INDEX[name]] for name in names))

    async def delivery_state(self, chat_id: str) -> DeliveryState | None:
        row = await self._c.fetchrow(_DELIVERY_STATE, chat_id)
        return DeliveryState(row[0], row[1], row[2], row[3], row[4], row[5], row[6]) if row else None

    async def delivery_states(self, chat_ids: Sequence[str]) -> dict[str, DeliveryState]:
        if not chat_ids:
            return {}
        rows = await self._c.fetch(_DELIVERY_STATES, list(chat_ids))
        return {str(r[0]): DeliveryState(r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows}

    async def tails_moved(self, seen: Sequence[SeenTail]) -> list[str]:
        if not seen:
            return []
        rows = await self._c.fetch(_TAILS_MOVED, [t.chat_id for t in seen], [t.customer_last_seq for t in seen],
                                   [t.terminal for t in seen])
        return [str(r[0]) for r in rows]

    async def set_customer_cursor(self, chat_id: str, seq: int) -> None:
        await self._c.execute("UPDATE sessions SET customer_cursor = GREATEST(customer_cursor, $1) "
                              "WHERE chat_id = $2 AND customer_cursor < $1", seq, chat_id)

    async def find_active_for_client(self, tenant: str, app_id: str, client_id: str,
                                     visitor_cookie: str) -> SessionRecord | None:
        query = (f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE tenant = $1 AND app_id = $2 AND client_id = $3 "
                 "AND NOT terminal")
        params: list[Any] = [tenant, app_id, client_id]
        if visitor_cookie:
            query += " AND visitor_cookie = $4"
            params.append(visitor_cookie)
        row = await self._c.fetchrow(query + " ORDER BY created_at DESC, arrival DESC LIMIT 1", *params)
        return _session(row) if row else None

    async def list_in_state(self, tenant: str, states: Sequence[str]) -> list[SessionRecord]:
        rows: list[Row] = []
        for state in dict.fromkeys(states):
            query, takes_state = _in_state(state)
            params = (tenant, state) if takes_state else (tenant,)
            rows.extend(await self._c.fetch(query + self._lock, *params))
        if len(states) > 1:  # queued_at (NULL first), created_at, arrival
            rows.sort(key=lambda r: (r[21] is not None, r[21] or 0.0, r[7], r[29]))
        return [_session(r) for r in rows]

    async def list_for_agent(self, agent_id: str) -> list[SessionRecord]:
        rows = await self._c.fetch(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE chat_id IN (SELECT chat_id FROM parties "
            "WHERE agent_id = $1 AND left_at IS NULL) AND NOT terminal "
            f"ORDER BY created_at, arrival{self._lock}", agent_id)
        return [_session(r) for r in rows]

    async def list_for_case(self, tenant: str, case_id: str) -> list[SessionRecord]:
        rows = await self._c.fetch(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE tenant = $1 AND case_id = $2 "
                                   "ORDER BY created_at, arrival", tenant, case_id)
        return [_session(r) for r in rows]

    async def list_active(self, tenant: str) -> list[SessionRecord]:
        rows = await self._c.fetch(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE tenant = $1 AND NOT terminal "
                                   "ORDER BY created_at, arrival", tenant)
        return [_session(r) for r in rows]

    async def list_with_invitations(self, tenant: str) -> list[SessionRecord]:
        rows = await self._c.fetch(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE tenant = $1 AND NOT terminal "
                                   "AND invited_agents != '[]' ORDER BY created_at, arrival", tenant)
        return [_session(r) for r in rows]

    async def list_created_between(self, tenant: str, since: float, until: float) -> list[SessionRecord]:
        rows = await self._c.fetch(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE tenant = $1 AND created_at >= $2 "
                                   "AND created_at < $3 ORDER BY created_at, arrival", tenant, since, until)
        return [_session(r) for r in rows]

    async def list_for_client(self, tenant: str, client_id: str, visitor_cookie: str,
                              limit: int) -> list[SessionRecord]:
        query = f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE tenant = $1 AND client_id = $2"
        params: list[Any] = [tenant, client_id]
        if visitor_cookie:
            query += " AND visitor_cookie = $3"
            params.append(visitor_cookie)
        rows = await self._c.fetch(query + f" ORDER BY created_at DESC, arrival DESC LIMIT ${len(params) + 1}",
                                   *params, limit)
        return [_session(r) for r in rows]

    async def recent_handle_times(self, tenant: str, queue_id: str, limit: int) -> list[float]:
        rows = await self._c.fetch(
            "SELECT ended_at - connected_at FROM sessions WHERE tenant = $1 AND queue_id = $2 "
            "AND connected_at IS NOT NULL AND ended_at IS NOT NULL ORDER BY ended_at DESC, arrival DESC LIMIT $3",
            tenant, queue_id, limit)
        return [float(r[0]) for r in rows]

    async def recent_handle_times_of(self, tenant: str, queue_ids: Sequence[str],
                                     limit: int) -> dict[str, list[float]]:
        rows = await self._c.fetch(
            # one index range per queue, newest first, in one statement
            "SELECT q.queue_id, t.secs FROM unnest($2::text[]) AS q(queue_id) CROSS JOIN LATERAL "
            "(SELECT ended_at - connected_at AS secs, ended_at, arrival FROM sessions WHERE tenant = $1 "
            "AND queue_id = q.queue_id AND connected_at IS NOT NULL AND ended_at IS NOT NULL "
            "ORDER BY ended_at DESC, arrival DESC LIMIT $3) t ORDER BY q.queue_id, t.ended_at DESC, t.arrival DESC",
            tenant, list(queue_ids), limit)
        times: dict[str, list[float]] = {}
        for queue_id, secs in rows:
            times.setdefault(str(queue_id), []).append(float(secs))
        return times

    async def list_queued(self, tenant: str, queue_id: str, limit: int) -> list[SessionRecord]:
        rows = await self._c.fetch(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE tenant = $1 AND queue_id = $2 AND NOT terminal "
            "AND state = 'queued' ORDER BY priority DESC, queued_at, created_at, arrival "
            f"LIMIT $3{self._lock}", tenant, queue_id, limit)
        return [_session(r) for r in rows]

    async def count_queued(self, tenant: str, queue_id: str, min_priority: int | None = None) -> int:
        if min_priority is None:
            value = await self._c.fetchval("SELECT COALESCE(SUM(queued), 0) FROM queue_lengths WHERE tenant = $1 "
                                           "AND queue_id = $2", tenant, queue_id)
        else:
            value = await self._c.fetchval("SELECT COALESCE(SUM(queued), 0) FROM queue_lengths WHERE tenant = $1 "
                                           "AND queue_id = $2 AND priority >= $3", tenant, queue_id, min_priority)
        return int(value)

    async def any_queued(self, tenant: str) -> bool:
        row = await self._c.fetchrow("SELECT 1 FROM queue_lengths WHERE tenant = $1 AND queued > 0 LIMIT 1", tenant)
        return row is not None

    async def count_queued_ahead(self, session: SessionRecord) -> int:
        queued_at = session.queued_at if session.queued_at is not None else session.created_at
        value = await self._c.fetchval(
            "SELECT COUNT(*) FROM sessions WHERE tenant = $5 AND queue_id = $6 AND NOT terminal "
            "AND state = 'queued' AND (priority > $2 OR (priority = $2 AND (queued_at < $3 OR (queued_at = $3 AND "
            "(created_at < $4 OR (created_at = $4 AND arrival < COALESCE((SELECT arrival FROM sessions "
            "WHERE chat_id = $1), 4611686018427387904)))))))",
            session.chat_id, session.priority, float(queued_at), float(session.created_at), session.tenant,
            session.queue_id)
        return int(value)


_EVENT_COLUMNS = "chat_id, seq, ts, name, audience, in_history, origin, payload"


def _event(row: Row) -> EventRecord:
    return EventRecord(chat_id=row[0], seq=row[1], ts=row[2], name=row[3], audience=Audience(row[4]),
                       in_history=row[5], origin=row[6], payload=orjson.loads(row[7]))


# Appending is one statement whatever the number of events (one round trip, one prepared text): the
# events come as arrays, one per column, numbered from the first sequence number in their order, and
# (``_ADVANCE``) the chat's row moves along in the same statement. The arrays are all text[], cast
# here: asyncpg encodes text[] by itself, where an integer or boolean array would cost type lookups
# on every new connection.
_INSERT_EVENTS = (
    f"INSERT INTO events ({_EVENT_COLUMNS}) SELECT $1, $2 + e.n - 1, $3, e.name, e.audience::integer, "
    "e.in_history::boolean, e.origin, e.payload FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], "
    "$8::text[]) WITH ORDINALITY AS e(name, audience, in_history, origin, payload, n)")
_ADVANCE = (f"WITH appended AS ({_INSERT_EVENTS}) UPDATE sessions SET last_seq = $9, "
            "customer_last_seq = COALESCE($10, customer_last_seq) WHERE chat_id = $1")


class _Events(_Store):
    async def append(self, chat_id: str, first_seq: int, ts: float, events: Sequence[NewEvent],
                     advance: bool = True) -> list[EventRecord]:
        records = numbered(chat_id, first_seq, ts, events)
        if not records:
            return records
        columns = (chat_id, first_seq, ts, [r.name for r in records], [str(int(r.audience)) for r in records],
                   [str(r.in_history).lower() for r in records], [r.origin for r in records],
                   [_dumps(r.payload) for r in records])
        if advance:
            await self._c.execute(_ADVANCE, *columns, records[-1].seq, last_customer_seq(records))
        else:
            await self._c.execute(_INSERT_EVENTS, *columns)
        return records

    async def read_after(self, chat_id: str, after_seq: int, audience: Audience,
                         limit: int) -> list[EventRecord]:
        rows = await self._c.fetch(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE chat_id = $1 AND seq > $2 AND (audience & $3) != 0 "
            "ORDER BY seq LIMIT $4", chat_id, after_seq, int(audience), limit)
        return [_event(r) for r in rows]

    async def read_history(self, chat_id: str) -> list[EventRecord]:
        rows = await self._c.fetch(f"SELECT {_EVENT_COLUMNS} FROM events WHERE chat_id = $1 AND in_history "
                                   "ORDER BY seq", chat_id)
        return [_event(r) for r in rows]


_PARTY_COLUMNS = "party_id, chat_id, party_type, agent_id, first_name, last_name, display_name, joined_at, left_at"
_PARTY_COLUMNS_P = ", ".join(f"p.{c}" for c in _PARTY_COLUMNS.split(", "))


def _party(row: Row) -> PartyRecord:
    return PartyRecord(*row)


class _Parties(_Store):
    async def insert(self, party: PartyRecord) -> None:
        await self._c.execute(f"INSERT INTO parties ({_PARTY_COLUMNS}) VALUES ({_marks(9)})",
                              party.party_id, party.chat_id, party.party_type, party.agent_id, party.first_name,
                              party.last_name, party.display_name, party.joined_at, party.left_at)

    async def update(self, party: PartyRecord) -> None:
        await self._c.execute("UPDATE parties SET left_at = $1, display_name = $2 WHERE party_id = $3",
                              party.left_at, party.display_name, party.party_id)

    async def get(self, party_id: str) -> PartyRecord | None:
        row = await self._c.fetchrow(f"SELECT {_PARTY_COLUMNS} FROM parties WHERE party_id = $1", party_id)
        return _party(row) if row else None

    async def list_for_chat(self, chat_id: str) -> list[PartyRecord]:
        rows = await self._c.fetch(f"SELECT {_PARTY_COLUMNS} FROM parties WHERE chat_id = $1 "
                                   "ORDER BY joined_at, arrival", chat_id)
        return [_party(r) for r in rows]

    async def list_joined_between(self, tenant: str, since: float, until: float) -> list[PartyRecord]:
        rows = await self._c.fetch(
            f"SELECT {_PARTY_COLUMNS_P} FROM parties p JOIN sessions s ON s.chat_id = p.chat_id "
            "WHERE s.tenant = $1 AND p.joined_at >= $2 AND p.joined_at < $3 ORDER BY p.joined_at, p.arrival",
            tenant, since, until)
        return [_party(r) for r in rows]

    async def list_present(self, tenant: str) -> list[PartyRecord]:
        rows = await self._c.fetch(
            f"SELECT {_PARTY_COLUMNS_P} FROM sessions s JOIN parties p ON p.chat_id = s.chat_id "
            "WHERE s.tenant = $1 AND NOT s.terminal AND p.left_at IS NULL ORDER BY p.joined_at, p.party_id", tenant)
        return [_party(r) for r in rows]


_AGENT_COLUMNS = ("agent_id, tenant, username, password_hash, first_name, last_name, display_name, max_chats, "
                  "state, state_since, photo_path, auto_accept, skills, team, role, last_routed_at")
_TOKEN_COLUMNS = "token_hash, agent_id, kind, created_at, expires_at, parent_hash"  # noqa: S105 - column names


def _agent(row: Row) -> AgentRecord:
    return AgentRecord(agent_id=row[0], tenant=row[1], username=row[2], password_hash=row[3], first_name=row[4],
                       last_name=row[5], display_name=row[6], max_chats=row[7], state=row[8], state_since=row[9],
                       photo_path=row[10], auto_accept=row[11], skills=orjson.loads(row[12]), team=row[13],
                       role=row[14], last_routed_at=row[15])


def _token(row: Row) -> TokenRecord:
    return TokenRecord(token_hash=row[0], agent_id=row[1], kind=row[2], created_at=row[3], expires_at=row[4],
                       parent_hash=row[5])


_AGENT_UPSERT = (
    f"INSERT INTO agents ({_AGENT_COLUMNS}) VALUES ({_marks(16)}) ON CONFLICT (agent_id) DO "
    "UPDATE SET tenant = excluded.tenant, username = excluded.username, password_hash = excluded.password_hash, "
    "first_name = excluded.first_name, last_name = excluded.last_name, display_name = excluded.display_name, "
    "max_chats = excluded.max_chats, state = excluded.state, state_since = excluded.state_since, "
    "photo_path = excluded.photo_path, auto_accept = excluded.auto_accept, skills = excluded.skills, "
    "team = excluded.team, role = excluded.role, last_routed_at = excluded.last_routed_at")


# migration 11's index of the ready agents in routing's order: its expressions verbatim (agent ids in
# code point order, as routing compares them, whatever the database's collation)
_IDLE = 'GREATEST(state_since, last_routed_at), agent_id COLLATE "C"'
_READY_BY_IDLE = (f"SELECT {_AGENT_COLUMNS}, load FROM agents WHERE tenant = $1 AND state = 'ready' "
                  f"AND load < max_chats{{after}} ORDER BY {_IDLE} LIMIT {{limit}}")
_AFTER_IDLE = ' AND (GREATEST(state_since, last_routed_at), agent_id COLLATE "C") > ($2, $3)'


class _Agents(_Store):
    async def upsert(self, agent: AgentRecord) -> None:
        await self._c.execute(_AGENT_UPSERT, agent.agent_id, agent.tenant, agent.username, agent.password_hash,
                              agent.first_name, agent.last_name, agent.display_name, agent.max_chats, agent.state,
                              agent.state_since, agent.photo_path, agent.auto_accept, _dumps(agent.skills),
                              agent.team, agent.role, agent.last_routed_at)

    async def mark_routed(self, agent_id: str, at: float) -> None:
        await self._c.execute("UPDATE agents SET last_routed_at = $1 WHERE agent_id = $2", at, agent_id)

    # An agent's row is locked only under its tenant's routing lock, taken first: routing takes the
    # routing lock, then the agents' rows (``mark_routed``), so no two transactions ever wait for
    # these two locks in opposite orders.

    async def get(self, agent_id: str) -> AgentRecord | None:
        if self._writes:  # the tenant's routing lock (taken by the row's own tenant), then the row
            locked = await self._c.fetchrow("SELECT frontdesk_lock_routing(tenant) FROM agents WHERE agent_id = $1",
                                            agent_id)
            if locked is None:
                return None
        row = await self._c.fetchrow(f"SELECT {_AGENT_COLUMNS} FROM agents WHERE agent_id = $1{self._lock}",
                                     agent_id)
        return _agent(row) if row else None

    async def get_by_username(self, tenant: str, username: str) -> AgentRecord | None:
        if self._writes:
            await _lock_routing(self._c, tenant)
        row = await self._c.fetchrow(f"SELECT {_AGENT_COLUMNS} FROM agents WHERE tenant = $1 AND username = $2"
                                     f"{self._lock}", tenant, username)
        return _agent(row) if row else None

    async def list_for_tenant(self, tenant: str) -> list[AgentRecord]:
        rows = await self._c.fetch(f"SELECT {_AGENT_COLUMNS} FROM agents WHERE tenant = $1 "
                                   "ORDER BY state_since, arrival", tenant)
        return [_agent(r) for r in rows]

    async def ready_by_idle(self, tenant: str, after: tuple[float, str] | None,
                            limit: int) -> list[tuple[AgentRecord, int]]:
        if after is None:
            rows = await self._c.fetch(_READY_BY_IDLE.format(after="", limit="$2"), tenant, limit)
        else:
            rows = await self._c.fetch(_READY_BY_IDLE.format(after=_AFTER_IDLE, limit="$4"), tenant, *after, limit)
        return [(_agent(r), int(r[16])) for r in rows]

    async def count_chats(self, agent_id: str) -> int:
        value = await self._c.fetchval("SELECT load FROM agents WHERE agent_id = $1", agent_id)
        return int(value or 0)

    async def chat_loads(self, tenant: str) -> dict[str, int]:
        rows = await self._c.fetch("SELECT agent_id, load FROM agents WHERE tenant = $1 AND load != 0", tenant)
        return {str(r[0]): int(r[1]) for r in rows}

    async def load_counters(self, tenant: str) -> dict[str, AgentLoad]:
        rows = await self._c.fetch("SELECT agent_id, load, load_changes FROM agents WHERE tenant = $1", tenant)
        return {str(r[0]): AgentLoad(int(r[1]), int(r[2])) for r in rows}

    async def connected_chats(self, tenant: str) -> list[tuple[str, float]]:
        rows = await self._c.fetch(
            "SELECT p.agent_id, COALESCE(s.connected_at, p.joined_at) FROM parties p "
            "JOIN sessions s ON s.chat_id = p.chat_id WHERE p.left_at IS NULL AND p.agent_id > '' "
            "AND s.tenant = $1 AND NOT s.terminal ORDER BY p.arrival", tenant)
        return [(str(r[0]), float(r[1])) for r in rows]

    async def add_token(self, token: TokenRecord) -> None:
        await self._c.execute(f"INSERT INTO agent_tokens ({_TOKEN_COLUMNS}) VALUES ({_marks(6)})",
                              token.token_hash, token.agent_id, token.kind, token.created_at, token.expires_at,
                              token.parent_hash)

    async def token(self, token_hash: str) -> TokenRecord | None:
        row = await self._c.fetchrow(f"SELECT {_TOKEN_COLUMNS} FROM agent_tokens WHERE token_hash = $1", token_hash)
        return _token(row) if row else None

    async def extend_token(self, token_hash: str, expires_at: float) -> None:
        await self._c.execute("UPDATE agent_tokens SET expires_at = $1 WHERE token_hash = $2 AND expires_at < $1",
                              expires_at, token_hash)

    async def delete_token(self, token_hash: str) -> None:
        await self._c.execute("DELETE FROM agent_tokens WHERE token_hash = $1", token_hash)

    async def drop_tokens(self, agent_id: str) -> None:
        await self._c.execute("DELETE FROM agent_tokens WHERE agent_id = $1", agent_id)

    async def expired_tokens(self, now: float, limit: int) -> list[TokenRecord]:
        rows = await self._c.fetch(f"SELECT {_TOKEN_COLUMNS} FROM agent_tokens WHERE expires_at <= $1 "
                                   "ORDER BY expires_at, arrival LIMIT $2", now, limit)
        return [_token(r) for r in rows]


_FILE_COLUMNS = "file_id, tenant, chat_id, file_name, content_type, size, created_at, uploader"


class _Files(_Store):
    async def insert(self, record: FileRecord) -> None:
        await self._c.execute(f"INSERT INTO files ({_FILE_COLUMNS}) VALUES ({_marks(8)})",
                              record.file_id, record.tenant, record.chat_id, record.file_name, record.content_type,
                              record.size, record.created_at, record.uploader)

    async def get(self, file_id: str) -> FileRecord | None:
        row = await self._c.fetchrow(f"SELECT {_FILE_COLUMNS} FROM files WHERE file_id = $1", file_id)
        return FileRecord(*row) if row else None

    async def attach(self, file_id: str, chat_id: str, file_name: str = "") -> None:
        await self._c.execute("UPDATE files SET chat_id = $1, file_name = CASE WHEN $2 = '' THEN file_name "
                              "ELSE $2 END WHERE file_id = $3", chat_id, file_name, file_id)

    async def count_for_tenant(self, tenant: str) -> int:
        return int(await self._c.fetchval("SELECT COUNT(*) FROM files WHERE tenant = $1", tenant))

    async def oldest_for_tenant(self, tenant: str, limit: int) -> list[FileRecord]:
        rows = await self._c.fetch(f"SELECT {_FILE_COLUMNS} FROM files WHERE tenant = $1 "
                                   "ORDER BY created_at, arrival LIMIT $2", tenant, limit)
        return [FileRecord(*r) for r in rows]

    async def delete(self, file_id: str) -> None:
        await self._c.execute("DELETE FROM files WHERE file_id = $1", file_id)


_TIMER_COLUMNS = "chat_id, kind, due_at, payload, failures"


def _timer(row: Row) -> TimerRecord:
    return TimerRecord(chat_id=row[0], kind=row[1], due_at=row[2], payload=orjson.loads(row[3]), failures=row[4])


class _Timers(_Store):
    async def set(self, timer: TimerRecord) -> None:
        await self._c.execute(f"INSERT INTO timers ({_TIMER_COLUMNS}) VALUES ($1,$2,$3,$4,$5) "
                              "ON CONFLICT (chat_id, kind) DO UPDATE SET due_at = excluded.due_at, "
                              "payload = excluded.payload, failures = excluded.failures",
                              timer.chat_id, timer.kind, timer.due_at, _dumps(timer.payload), timer.failures)

    async def get(self, chat_id: str, kind: str) -> TimerRecord | None:
        row = await self._c.fetchrow(f"SELECT {_TIMER_COLUMNS} FROM timers WHERE chat_id = $1 AND kind = $2",
                                     chat_id, kind)
        return _timer(row) if row else None

    async def ensure(self, timer: TimerRecord) -> None:
        await self._c.execute(f"INSERT INTO timers ({_TIMER_COLUMNS}) VALUES ($1,$2,$3,$4,$5) "
                              "ON CONFLICT (chat_id, kind) DO NOTHING",
                              timer.chat_id, timer.kind, timer.due_at, _dumps(timer.payload), timer.failures)

    async def claim(self, chat_id: str, kind: str, due_at: float) -> TimerRecord | None:
        row = await self._c.fetchrow(f"DELETE FROM timers WHERE chat_id = $1 AND kind = $2 AND due_at = $3 "
                                     f"RETURNING {_TIMER_COLUMNS}", chat_id, kind, due_at)
        return _timer(row) if row else None

    async def cancel(self, chat_id: str, kind: str) -> None:
        await self._c.execute("DELETE FROM timers WHERE chat_id = $1 AND kind = $2", chat_id, kind)

    async def cancel_all(self, chat_id: str) -> None:
        await self._c.execute("DELETE FROM timers WHERE chat_id = $1", chat_id)

    async def due(self, now: float, limit: int) -> list[TimerRecord]:
        rows = await self._c.fetch(f"SELECT {_TIMER_COLUMNS} FROM timers WHERE due_at <= $1 "
                                   "ORDER BY due_at, arrival LIMIT $2", now, limit)
        return [_timer(r) for r in rows]

    async def next_due_at(self) -> float | None:
        value = await self._c.fetchval("SELECT MIN(due_at) FROM timers")
        return float(value) if value is not None else None


class _Forms(_Store):
    async def insert(self, form: FormRequestRecord) -> None:
        await self._c.execute("INSERT INTO form_requests (chat_id, form_request_id, form_name, party_id, state, "
                              "due_at, data) VALUES ($1,$2,$3,$4,$5,$6,$7)",
                              form.chat_id, form.form_request_id, form.form_name, form.party_id, form.state,
                              form.due_at, None if form.data is None else _dumps(form.data))

    async def get(self, chat_id: str, form_request_id: int) -> FormRequestRecord | None:
        row = await self._c.fetchrow("SELECT chat_id, form_request_id, form_name, party_id, state, due_at, data "
                                     "FROM form_requests WHERE chat_id = $1 AND form_request_id = $2",
                                     chat_id, form_request_id)
        if row is None:
            return None
        return FormRequestRecord(chat_id=row[0], form_request_id=row[1], form_name=row[2], party_id=row[3],
                                 state=row[4], due_at=row[5], data=None if row[6] is None else orjson.loads(row[6]))

    async def update(self, form: FormRequestRecord) -> None:
        await self._c.execute("UPDATE form_requests SET state = $1, data = $2 WHERE chat_id = $3 "
                              "AND form_request_id = $4", form.state,
                              None if form.data is None else _dumps(form.data), form.chat_id, form.form_request_id)


class _Push(_Store):
    async def set(self, chat_id: str, subscription: JsonObject, updated_at: float) -> None:
        await self._c.execute("INSERT INTO push_subscriptions (chat_id, subscription, updated_at) VALUES ($1,$2,$3) "
                              "ON CONFLICT (chat_id) DO UPDATE SET subscription = excluded.subscription, "
                              "updated_at = excluded.updated_at", chat_id, _dumps(subscription), updated_at)

    async def delete(self, chat_id: str) -> None:
        await self._c.execute("DELETE FROM push_subscriptions WHERE chat_id = $1", chat_id)

    async def get(self, chat_id: str) -> JsonObject | None:
        value = await self._c.fetchval("SELECT subscription FROM push_subscriptions WHERE chat_id = $1", chat_id)
        return orjson.loads(value) if value is not None else None


_KEYED_MESSAGE_COLUMNS = "chat_id, party_id, client_msg_id, seq, msg_id, text_digest"


class _KeyedMessages(_Store):
    async def insert(self, message: KeyedMessageRecord) -> None:
        await self._c.execute(f"INSERT INTO keyed_messages ({_KEYED_MESSAGE_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6)",
                              message.chat_id, message.party_id, message.client_msg_id, message.seq, message.msg_id,
                              message.text_digest)

    async def get(self, chat_id: str, party_id: str, client_msg_id: str) -> KeyedMessageRecord | None:
        row = await self._c.fetchrow(f"SELECT {_KEYED_MESSAGE_COLUMNS} FROM keyed_messages WHERE chat_id = $1 "
                                     "AND party_id = $2 AND client_msg_id = $3", chat_id, party_id, client_msg_id)
        return KeyedMessageRecord(*row) if row else None


class _Cases(_Store):
    async def ensure(self, tenant: str, case_id: str, created_at: float) -> None:
        await self._c.execute("INSERT INTO cases (tenant, case_id, created_at) VALUES ($1,$2,$3) "
                              "ON CONFLICT (tenant, case_id) DO NOTHING", tenant, case_id, created_at)

    async def close(self, tenant: str, case_id: str, closed_at: float) -> bool:
        row = await self._c.fetchrow("UPDATE cases SET closed_at = $1 WHERE tenant = $2 AND case_id = $3 "
                                     "AND closed_at IS NULL RETURNING 1", closed_at, tenant, case_id)
        return row is not None

    async def is_closed(self, tenant: str, case_id: str) -> bool:
        row = await self._c.fetchrow("SELECT closed_at FROM cases WHERE tenant = $1 AND case_id = $2",
                                     tenant, case_id)
        return bool(row and row[0] is not None)


_OFFER_COLUMNS = "chat_id, agent_id, tenant, queue_id, offered_at, outcome, decided_at"


class _Offers(_Store):
    async def insert(self, offer: OfferRecord) -> None:
        await self._c.execute(f"INSERT INTO offers ({_OFFER_COLUMNS}) VALUES ({_marks(7)})",
                              offer.chat_id, offer.agent_id, offer.tenant, offer.queue_id, offer.offered_at,
                              offer.outcome, offer.decided_at)

    async def decide(self, chat_id: str, agent_id: str, outcome: str, decided_at: float) -> None:
        await self._c.execute("UPDATE offers SET outcome = $1, decided_at = $2 WHERE chat_id = $3 AND agent_id = $4 "
                              "AND outcome = 'pending'", outcome, decided_at, chat_id, agent_id)

    async def list_between(self, tenant: str, since: float, until: float) -> list[OfferRecord]:
        rows = await self._c.fetch(f"SELECT {_OFFER_COLUMNS} FROM offers WHERE tenant = $1 AND offered_at >= $2 "
                                   "AND offered_at < $3 ORDER BY offered_at, arrival", tenant, since, until)
        return [OfferRecord(*r) for r in rows]


_WRAP_UP_COLUMNS = "chat_id, agent_id, tenant, queue_id, disposition, notes, created_at"


class _WrapUps(_Store):
    async def insert(self, wrap_up: WrapUpRecord) -> None:
        await self._c.execute(f"INSERT INTO wrap_ups ({_WRAP_UP_COLUMNS}) VALUES ({_marks(7)})",
                              wrap_up.chat_id, wrap_up.agent_id, wrap_up.tenant, wrap_up.queue_id,
                              wrap_up.disposition, wrap_up.notes, wrap_up.created_at)

    async def get(self, chat_id: str, agent_id: str) -> WrapUpRecord | None:
        row = await self._c.fetchrow(f"SELECT {_WRAP_UP_COLUMNS} FROM wrap_ups WHERE chat_id = $1 AND agent_id = $2",
                                     chat_id, agent_id)
        return WrapUpRecord(*row) if row else None

    async def list_between(self, tenant: str, since: float, until: float) -> list[WrapUpRecord]:
        rows = await self._c.fetch(f"SELECT {_WRAP_UP_COLUMNS} FROM wrap_ups WHERE tenant = $1 AND created_at >= $2 "
                                   "AND created_at < $3 ORDER BY created_at, arrival", tenant, since, until)
        return [WrapUpRecord(*r) for r in rows]


_LEFT_MESSAGE_COLUMNS = "message_id, tenant, chat_id, queue_id, created_at, data, handled_by, handled_at"


def _left_message(row: Row) -> LeftMessageRecord:
    return LeftMessageRecord(message_id=row[0], tenant=row[1], chat_id=row[2], queue_id=row[3], created_at=row[4],
                             data=orjson.loads(row[5]), handled_by=row[6], handled_at=row[7])


class _LeftMessages(_Store):
    async def insert(self, message: LeftMessageRecord) -> None:
        await self._c.execute(f"INSERT INTO left_messages ({_LEFT_MESSAGE_COLUMNS}) VALUES ({_marks(8)})",
                              message.message_id, message.tenant, message.chat_id, message.queue_id,
                              message.created_at, _dumps(message.data), message.handled_by, message.handled_at)

    async def get(self, message_id: str) -> LeftMessageRecord | None:
        row = await self._c.fetchrow(f"SELECT {_LEFT_MESSAGE_COLUMNS} FROM left_messages WHERE message_id = $1"
                                     f"{self._lock}", message_id)
        return _left_message(row) if row else None

    async def update(self, message: LeftMessageRecord) -> None:
        await self._c.execute("UPDATE left_messages SET handled_by = $1, handled_at = $2 WHERE message_id = $3",
                              message.handled_by, message.handled_at, message.message_id)

    async def list_for_tenant(self, tenant: str, include_handled: bool) -> list[LeftMessageRecord]:
        query = f"SELECT {_LEFT_MESSAGE_COLUMNS} FROM left_messages WHERE tenant = $1"
        if not include_handled:
            query += " AND handled_at IS NULL"
        rows = await self._c.fetch(query + " ORDER BY created_at, arrival", tenant)
        return [_left_message(r) for r in rows]


class _Monitors(_Store):
    async def add(self, chat_id: str, agent_id: str, since: float) -> None:
        await self._c.execute("INSERT INTO monitors (chat_id, agent_id, since) VALUES ($1,$2,$3) "
                              "ON CONFLICT (chat_id, agent_id) DO NOTHING", chat_id, agent_id, since)

    async def remove(self, chat_id: str, agent_id: str) -> None:
        await self._c.execute("DELETE FROM monitors WHERE chat_id = $1 AND agent_id = $2", chat_id, agent_id)

    async def chats_of(self, agent_id: str) -> list[str]:
        rows = await self._c.fetch("SELECT chat_id FROM monitors WHERE agent_id = $1 ORDER BY since, arrival",
                                   agent_id)
        return [str(r[0]) for r in rows]

    async def is_monitoring(self, chat_id: str, agent_id: str) -> bool:
        row = await self._c.fetchrow("SELECT 1 FROM monitors WHERE chat_id = $1 AND agent_id = $2", chat_id, agent_id)
        return row is not None

    async def list_for_tenant(self, tenant: str) -> list[tuple[str, str]]:
        rows = await self._c.fetch("SELECT m.chat_id, m.agent_id FROM agents a JOIN monitors m "
                                   "ON m.agent_id = a.agent_id WHERE a.tenant = $1 ORDER BY m.since, m.chat_id",
                                   tenant)
        return [(str(r[0]), str(r[1])) for r in rows]


class _QueueModels(_Store):
    async def get(self, tenant: str, queue_id: str) -> QueueModelRecord | None:
        row = await self._c.fetchrow("SELECT tenant, queue_id, computed_at, staffing, waits, tail_step_secs "
                                     "FROM queue_models WHERE tenant = $1 AND queue_id = $2", tenant, queue_id)
        if row is None:
            return None
        return QueueModelRecord(tenant=row[0], queue_id=row[1], computed_at=row[2], staffing=row[3],
                                waits=tuple(orjson.loads(row[4])), tail_step_secs=row[5])

    async def list_for_tenant(self, tenant: str) -> dict[str, QueueModelRecord]:
        rows = await self._c.fetch("SELECT tenant, queue_id, computed_at, staffing, waits, tail_step_secs "
                                   "FROM queue_models WHERE tenant = $1", tenant)
        return {str(r[1]): QueueModelRecord(tenant=r[0], queue_id=r[1], computed_at=r[2], staffing=r[3],
                                            waits=tuple(orjson.loads(r[4])), tail_step_secs=r[5]) for r in rows}

    async def put(self, model: QueueModelRecord) -> None:
        await self._c.execute(
            "INSERT INTO queue_models (tenant, queue_id, computed_at, staffing, waits, tail_step_secs) "
            "VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (tenant, queue_id) DO UPDATE SET "
            "computed_at = excluded.computed_at, staffing = excluded.staffing, waits = excluded.waits, "
            "tail_step_secs = excluded.tail_step_secs",
            model.tenant, model.queue_id, model.computed_at, model.staffing, _dumps(list(model.waits)),
            model.tail_step_secs)


class _LoginFailures(_Store):
    async def get(self, key: str) -> LoginFailuresRecord | None:
        row = await self._c.fetchrow(f"SELECT key, failures, window_start FROM login_failures WHERE key = $1"
                                     f"{self._lock}", key)
        return LoginFailuresRecord(row[0], row[1], row[2]) if row else None

    async def set(self, record: LoginFailuresRecord) -> None:
        await self._c.execute("INSERT INTO login_failures (key, failures, window_start) VALUES ($1,$2,$3) "
                              "ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, "
                              "window_start = excluded.window_start", record.key, record.failures,
                              record.window_start)

    async def delete(self, key: str) -> None:
        await self._c.execute("DELETE FROM login_failures WHERE key = $1", key)

    async def delete_before(self, window_start: float) -> None:
        await self._c.execute("DELETE FROM login_failures WHERE window_start < $1", window_start)


class _AppliedConfig(_Store):
    async def get(self) -> AppliedConfigRecord | None:
        row = await self._c.fetchrow(f"SELECT version, document, file_digest, applied_at FROM applied_config "
                                     f"WHERE id = 1{self._lock}")
        return AppliedConfigRecord(int(row[0]), str(row[1]), str(row[2]), float(row[3])) if row else None

    async def version(self) -> int:
        return int(await self._c.fetchval("SELECT version FROM applied_config WHERE id = 1") or 0)

    async def put(self, record: AppliedConfigRecord) -> None:
        await self._c.execute("INSERT INTO applied_config (id, version, document, file_digest, applied_at) "
                              "VALUES (1,$1,$2,$3,$4) ON CONFLICT (id) DO UPDATE SET version = excluded.version, "
                              "document = excluded.document, file_digest = excluded.file_digest, "
                              "applied_at = excluded.applied_at",
                              record.version, record.document, record.file_digest, record.applied_at)


class PostgresTransaction:
    def __init__(self, pooled: Conn, writes: bool) -> None:
        self._c = conn = _Connection(pooled)
        self.sessions = _Sessions(conn, writes)
        self.events = _Events(conn, writes)
        self.keyed_messages = _KeyedMessages(conn, writes)
        self.parties = _Parties(conn, writes)
        self.agents = _Agents(conn, writes)
        self.files = _Files(conn, writes)
        self.timers = _Timers(conn, writes)
        self.forms = _Forms(conn, writes)
        self.push = _Push(conn, writes)
        self.cases = _Cases(conn, writes)
        self.offers = _Offers(conn, writes)
        self.wrap_ups = _WrapUps(conn, writes)
        self.left_messages = _LeftMessages(conn, writes)
        self.monitors = _Monitors(conn, writes)
        self.login_failures = _LoginFailures(conn, writes)
        self.queue_models = _QueueModels(conn, writes)
        self.applied_config = _AppliedConfig(conn, writes)

    async def lock_routing(self, tenant: str) -> None:
        await _lock_routing(self._c, tenant)


_TRANSIENT = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)
# the server went away or refuses work now (terminated, restarting, shutting down): not this request's fault
_LOST = (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError)
CONNECT_TIMEOUT_SECS = 5.0  # a database that does not answer a new connection fails requests this fast
DEFAULT_POOL_SIZE = 10  # connections for transactions per process, half as many for reads (docs/operations.md)
STATEMENT_CACHE_SIZE = 1024  # prepared statements per connection: more than the stores have


@asynccontextmanager
async def _unavailable_as_such(acquired: list[bool]) -> AsyncIterator[None]:
    """Lost connections (anywhere) and every failure to connect (before a connection was acquired:
    refused, timed out, the database not accepting connections) are ``StorageUnavailable``."""
    try:
        yield
    except _LOST as exc:
        raise StorageUnavailable(f"the database connection was lost: {type(exc).__name__}") from exc
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        if acquired:
            raise
        raise StorageUnavailable(f"the database cannot be reached: {type(exc).__name__}") from exc


async def _keep_session(conn: asyncpg.Connection[Row]) -> None:
    """The pool's reset on release: nothing to send (see the module's docstring)."""


class _Pools(NamedTuple):
    writes: asyncpg.Pool[Row]  # write transactions (which may wait for each other's locks)
    reads: asyncpg.Pool[Row]  # reads, which so never wait for a connection a writer holds


async def _pool(url: str, size: int) -> asyncpg.Pool[Row]:
    return await asyncpg.create_pool(url, min_size=1, max_size=size, reset=_keep_session,
                                     statement_cache_size=STATEMENT_CACHE_SIZE, timeout=CONNECT_TIMEOUT_SECS)


class PostgresStorage:
    """The PostgreSQL backend: pools of connections to the database a ``postgresql://`` URL names.

    ``open()`` creates the pools and migrates the schema; the first transaction opens them if nobody
    did. Write transactions and reads have a pool each: transactions waiting for a chat's row or a
    tenant's routing lock hold their connections meanwhile, and a read must not wait behind them
    (the contract: reads never wait for writers). ``pool_size`` bounds this process's connections
    for transactions, ``read_pool_size`` (default half of it) those for reads (a held long poll holds
    none: reads are short); they are opened as the load needs them and kept while it lasts."""

    def __init__(self, url: str, pool_size: int = DEFAULT_POOL_SIZE, read_pool_size: int | None = None) -> None:
        self._url = url
        self._pool_size = pool_size
        self._read_pool_size = read_pool_size if read_pool_size is not None else max(1, pool_size // 2)
        self._pools: _Pools | None = None
        self._opening = asyncio.Lock()
        self.schema_version = 0

    async def open(self) -> None:
        async with self._opening:
            if self._pools is not None:
                return
            writes = await _pool(self._url, self._pool_size)
            try:
                async with writes.acquire() as conn:
                    self.schema_version = await migrate(conn)
                    if await conn.fetchval("SHOW autovacuum") == "off":
                        log.warning("PostgreSQL runs with autovacuum off: its planner has no statistics of "
                                    "frontdesk's tables unless someone runs ANALYZE (docs/operations.md)")
                reads = await _pool(self._url, self._read_pool_size)
            except BaseException:
                await writes.close()
                raise
            self._pools = _Pools(writes, reads)

    async def _ready(self) -> _Pools:
        if self._pools is None:
            await self.open()
        assert self._pools is not None
        return self._pools

    @asynccontextmanager
    async def transaction(self, single_statement: bool = False) -> AsyncIterator[PostgresTransaction]:
        """A write transaction (see the module's docstring); with ``single_statement`` its one
        statement is sent by itself and commits by itself (no BEGIN or COMMIT round trips)."""
        acquired: list[bool] = []
        async with _unavailable_as_such(acquired):
            pools = await self._ready()
            async with pools.writes.acquire() as conn:
                acquired.append(True)
                try:
                    if single_statement:
                        yield PostgresTransaction(conn, writes=True)
                    else:
                        async with conn.transaction():
                            yield PostgresTransaction(conn, writes=True)
                except _TRANSIENT as exc:
                    raise TransientConflict(str(exc)) from exc

    @asynccontextmanager
    async def read(self, snapshot: bool = True) -> AsyncIterator[PostgresTransaction]:
        """A read (see the module's docstring): with ``snapshot`` one READ ONLY REPEATABLE READ
        transaction, else each statement by itself."""
        acquired: list[bool] = []
        async with _unavailable_as_such(acquired):
            pools = await self._ready()
            async with pools.reads.acquire() as conn:
                if not snapshot:
                    acquired.append(True)
                    yield PostgresTransaction(conn, writes=False)
                    return
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    acquired.append(True)
                    yield PostgresTransaction(conn, writes=False)

    async def ready(self) -> str | None:
        pools = self._pools
        if pools is None:
            return "storage: not connected"
        try:
            async with pools.reads.acquire() as conn:
                version = await conn.fetchval("SELECT version FROM frontdesk_schema")
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            return f"storage: {type(exc).__name__}: {exc}"
        if version != len(MIGRATIONS):
            return f"storage: schema version {version}, expected {len(MIGRATIONS)}"
        return None

    async def close(self) -> None:
        async with self._opening:
            if self._pools is not None:
                for pool in self._pools:
                    await pool.close()
                self._pools = None
