"""Every statement the stores run on the chats' tables (sessions, parties, offers, agents) reads them
through an index: SQLite's own plan of each (``EXPLAIN QUERY PLAN``, with the statement's parameters),
never a scan of the table, so no statement's cost grows with the chats stored. The indexes a new chat
writes are few (migrations 12 and 13); this shows what each query still has."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from frontdesk.storage.records import AgentRecord, OfferRecord, PartyRecord, SeenTail, SessionRecord
from frontdesk.storage.sqlite.migrations import migrate
from frontdesk.storage.sqlite.store import SqliteTransaction

pytestmark = pytest.mark.sqlite_only  # SQLite's plans

CHAT_TABLES = {"sessions", "parties", "offers", "agents"}


class PlanningConnection:
    """A connection that asks SQLite for the plan of each statement before running it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.plans: dict[str, list[str]] = {}

    def _plan(self, sql: str, parameters: Any) -> None:
        if sql.lstrip().startswith(("SELECT", "UPDATE", "DELETE")):
            rows = self._conn.execute("EXPLAIN QUERY PLAN " + sql, parameters).fetchall()
            self.plans[sql] = [str(row[3]) for row in rows]

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        self._plan(sql, parameters)
        return self._conn.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        return self._conn.executemany(sql, parameters)


def _table_scans(plan: list[str]) -> list[str]:
    """The plan's steps that read a whole chats' table row by row ("SCAN sessions", "SCAN s")."""
    aliases = {"s": "sessions", "p": "parties", "a": "agents"}
    return [step for step in plan if step.startswith("SCAN ") and "USING" not in step
            and aliases.get(step.split()[1], step.split()[1]) in CHAT_TABLES]


def _chat(chat_id: str, state: str, **changes: Any) -> SessionRecord:
    record = SessionRecord(chat_id=chat_id, tenant="t", app_id="a", client_id=f"client-{chat_id}",
                           client_kind="web", visitor_cookie="", state=state, created_at=1.0, queue_id="q")
    for key, value in changes.items():
        setattr(record, key, value)
    return record


@pytest.fixture
def planned(tmp_path: Path) -> Iterator[tuple[SqliteTransaction, PlanningConnection]]:
    conn = sqlite3.connect(tmp_path / "plans.sqlite3", isolation_level=None)
    migrate(conn)
    planning = PlanningConnection(conn)
    yield SqliteTransaction(planning), planning
    conn.close()


async def _every_chat_query(tx: SqliteTransaction) -> None:
    """A few stored chats, then every query of the chats' tables the stores have."""
    agent = AgentRecord("a1", "t", "ann", "x", "Ann", "", "Ann", 3, "ready", 1.0)
    await tx.agents.upsert(agent)
    queued = _chat("c1", "queued", queued_at=1.0)
    offered = _chat("c2", "connecting", offered_agent_id="a1", case_id="case-1")
    ended = _chat("c3", "closed", terminal=True, connected_at=2.0, ended_at=3.0)
    connected = _chat("c4", "connected", connected_at=2.0, invited_agents=["a1"])
    for chat in (queued, offered, ended, connected):
        await tx.sessions.insert(chat)
    party = PartyRecord("p1", "c4", "internal", "a1", "Ann", "", "Ann", 2.0)
    await tx.parties.insert(party)
    await tx.offers.insert(OfferRecord("c2", "a1", "t", "q", 1.5, "pending"))
    s, p, a = tx.sessions, tx.parties, tx.agents
    await s.get("c1")
    await s.update(connected, ("ewt_announced",))
    await s.delivery_state("c1")
    await s.tails_moved([SeenTail("c1", 0, False)])
    await s.set_customer_cursor("c1", 1)
    await s.find_active_for_client("t", "a", "client-c1", "")
    await s.find_active_for_client("t", "a", "client-c1", "cookie")
    await s.list_in_state("t", ("connecting",))
    await s.list_in_state("t", ("queued",))
    await s.list_in_state("t", ("connected",))
    await s.list_for_agent("a1")
    await s.list_for_case("t", "case-1")
    await s.list_active("t")
    await s.list_with_invitations("t")
    await s.list_created_between("t", 0.0, 5.0)
    await s.list_for_client("t", "client-c1", "", 10)
    await s.recent_handle_times("t", "q", 10)
    await s.recent_handle_times_of("t", ["q", "r"], 10)
    await s.list_queued("t", "q", 10)
    await s.count_queued_ahead(queued)
    await p.update(party)
    await p.get("p1")
    await p.list_for_chat("c4")
    await p.list_joined_between("t", 0.0, 5.0)
    await p.list_present("t")
    await a.mark_routed("a1", 4.0)
    await a.get("a1")
    await a.get_by_username("t", "ann")
    await a.list_for_tenant("t")
    await a.ready_by_idle("t", None, 5)
    await a.ready_by_idle("t", (1.0, "a0"), 5)
    await a.count_chats("a1")
    await a.chat_loads("t")
    await a.load_counters("t")
    await a.connected_chats("t")
    await tx.offers.decide("c2", "a1", "accepted", 2.0)
    await tx.offers.list_between("t", 0.0, 5.0)


async def test_no_query_of_the_chats_tables_scans_a_table(
        planned: tuple[SqliteTransaction, PlanningConnection]) -> None:
    tx, planning = planned
    await _every_chat_query(tx)
    assert len(planning.plans) > 30
    scans = {sql: _table_scans(plan) for sql, plan in planning.plans.items() if _table_scans(plan)}
    assert scans == {}


def _plan_of(planning: PlanningConnection, *words: str) -> str:
    (plan,) = [" | ".join(plan) for sql, plan in planning.plans.items() if all(w in sql for w in words)]
    return plan


async def test_the_states_the_ended_chats_and_a_periods_parties_are_read_from_their_indexes(
        planned: tuple[SqliteTransaction, PlanningConnection]) -> None:
    """What migrations 12 and 13 changed: a new chat has no entry to write in an index by state
    (most live chats are connected) nor in the handle times' one until it ends; and a report's
    parties of a period come from the parties' index by time, not from every chat of the tenant."""
    tx, planning = planned
    await _every_chat_query(tx)
    assert "USING INDEX sessions_connecting (tenant=?)" in _plan_of(planning, "'connecting'")
    assert "USING INDEX sessions_queued (tenant=?)" in _plan_of(planning, "state = 'queued'", "ORDER BY queued_at")
    assert "USING INDEX sessions_client (tenant=?)" in _plan_of(planning, "AND state = ?")
    assert _plan_of(planning, "FROM parties p", "joined_at >= ?").startswith(
        "SEARCH p USING INDEX parties_joined (joined_at>? AND joined_at<?)")  # not every chat of the tenant
    assert "USING INDEX sessions_done (tenant=? AND queue_id=? AND ended_at>?)" in _plan_of(
        planning, "SELECT ended_at - connected_at")
