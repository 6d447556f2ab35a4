"""The storage contract: what every backend must do. Runs against each backend in BACKENDS: the
embedded SQLite and PostgreSQL (the local server, a fresh schema per test: tests/pg.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from frontdesk.storage.interfaces import Storage
from frontdesk.storage.postgres.store import PostgresStorage
from frontdesk.storage.records import (
    AgentRecord,
    Audience,
    DeliveryState,
    FileRecord,
    FormRequestRecord,
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
)
from frontdesk.storage.sqlite.migrations import MIGRATIONS
from frontdesk.storage.sqlite.store import SqliteStorage

# each backend from a directory of the test's own and a PostgreSQL URL with a schema of the test's own
BACKENDS: dict[str, Callable[[Path, str], Storage]] = {
    "sqlite": lambda d, url: SqliteStorage(d / "contract.sqlite3"),
    "postgres": lambda d, url: PostgresStorage(url),
}


@pytest.fixture(params=sorted(BACKENDS))
async def storage(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> AsyncIterator[Storage]:
    store = BACKENDS[request.param](tmp_path, pg_url)
    await store.open()
    yield store
    await store.close()


def session(chat_id: str = "c1", **changes: object) -> SessionRecord:
    record = SessionRecord(chat_id=chat_id, tenant="t", app_id="a", client_id="dev", client_kind="mobile",
                           visitor_cookie="", state="queued", created_at=100.0, queue_id="q", queued_at=100.0)
    for key, value in changes.items():
        setattr(record, key, value)
    return record


def event(name: str, audience: Audience = Audience.ALL, in_history: bool = True) -> NewEvent:
    return NewEvent(payload={"event": name, "n": 1}, audience=audience, in_history=in_history, origin="system")


async def test_session_round_trip_and_update(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.sessions.insert(session(parameters={"first_name": "Ada", "nested": {"x": [1, 2]}}))
    async with storage.read() as tx:
        loaded = await tx.sessions.get("c1")
    assert loaded is not None and loaded.parameters == {"first_name": "Ada", "nested": {"x": [1, 2]}}
    loaded.state, loaded.declined_agents, loaded.terminal = "connecting", ["x"], True
    async with storage.transaction() as tx:
        await tx.sessions.update(loaded)
    async with storage.read() as tx:
        again = await tx.sessions.get("c1")
        missing = await tx.sessions.get("nope")
    assert again == loaded
    assert missing is None


async def test_a_session_update_of_named_fields_stores_those_and_leaves_the_rest(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.sessions.insert(session(parameters={"a": 1}))
    changed = session(parameters={"a": 2}, state="connected", declined_agents=["x"], terminal=True)
    async with storage.transaction() as tx:
        await tx.sessions.update(changed, ["state", "declined_agents"])
    async with storage.read() as tx:
        stored = await tx.sessions.get("c1")
    assert stored is not None
    assert (stored.state, stored.declined_agents, stored.parameters, stored.terminal) == ("connected", ["x"],
                                                                                          {"a": 1}, False)
    with pytest.raises(KeyError):  # only the record's field names ever make a statement
        async with storage.transaction() as tx:
            await tx.sessions.update(changed, ["state = 'x'; --"])


async def test_an_action_stores_the_fields_of_a_chat_that_changed_even_inside_its_dicts_and_only_those(
        storage: Storage) -> None:
    """``ActionContext.flush`` writes the fields that changed since the chat was loaded: a change deep
    in a dict is one, and a column another statement of the action moved is left as that set it."""
    from frontdesk.bus.local import LocalBus
    from frontdesk.domain.clock import FakeClock
    from frontdesk.domain.journal import Journal

    async with storage.transaction() as tx:
        await tx.sessions.insert(session(scenario={"vars": {}}))
    async with Journal(storage, LocalBus(), FakeClock()).action() as ctx:
        chat = await ctx.session("c1")
        assert chat is not None
        chat.scenario["vars"]["form.f.x"] = "y"
        await ctx.tx.sessions.set_customer_cursor("c1", 7)
    async with storage.read() as tx:
        stored = await tx.sessions.get("c1")
    assert stored is not None and (stored.scenario, stored.customer_cursor) == ({"vars": {"form.f.x": "y"}}, 7)


async def test_a_failed_transaction_changes_nothing(storage: Storage) -> None:
    with pytest.raises(RuntimeError):
        async with storage.transaction() as tx:
            await tx.sessions.insert(session())
            await tx.events.append("c1", 1, 100.0, [event("x")])
            raise RuntimeError("boom")
    async with storage.read() as tx:
        assert await tx.sessions.get("c1") is None
        assert await tx.events.read_after("c1", 0, Audience.ALL, 10) == []


async def test_events_are_read_in_order_by_audience_and_history(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.sessions.insert(session())
        await tx.events.append("c1", 1, 100.0, [event("a"), event("b", Audience.STAFF), event("c", in_history=False)])
        await tx.events.append("c1", 4, 101.0, [event("d", Audience.CUSTOMER)])
    async with storage.read() as tx:
        customer = await tx.events.read_after("c1", 0, Audience.CUSTOMER, 10)
        agents = await tx.events.read_after("c1", 1, Audience.AGENTS, 10)
        limited = await tx.events.read_after("c1", 0, Audience.ALL, 2)
        history = await tx.events.read_history("c1")
    assert [(e.seq, e.name) for e in customer] == [(1, "a"), (3, "c"), (4, "d")]
    assert [e.name for e in agents] == ["b", "c"]
    assert [e.seq for e in limited] == [1, 2]
    assert [e.name for e in history] == ["a", "b", "d"]
    assert customer[2].ts == 101.0 and customer[0].payload == {"event": "a", "n": 1}


async def test_an_append_moves_the_chats_sequence_numbers_unless_told_not_to(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.sessions.insert(session())
        await tx.events.append("c1", 1, 100.0, [event("a"), event("b", Audience.STAFF)])
        first = await tx.sessions.get("c1")
        await tx.events.append("c1", 3, 101.0, [event("c", Audience.STAFF)])
        second = await tx.sessions.get("c1")
        await tx.events.append("c1", 4, 102.0, [event("d")], advance=False)  # the caller stores the chat itself
    async with storage.read() as tx:
        third = await tx.sessions.get("c1")
        stored = await tx.events.read_after("c1", 0, Audience.ALL, 10)
    assert first is not None and (first.last_seq, first.customer_last_seq) == (2, 1)
    assert second is not None and (second.last_seq, second.customer_last_seq) == (3, 1)  # no customer event
    assert third is not None and (third.last_seq, third.customer_last_seq) == (3, 1)
    assert [(e.seq, e.name, e.ts) for e in stored] == [(1, "a", 100.0), (2, "b", 100.0), (3, "c", 101.0),
                                                       (4, "d", 102.0)]
    assert [(e.audience, e.in_history) for e in stored] == [(Audience.ALL, True), (Audience.STAFF, True),
                                                           (Audience.STAFF, True), (Audience.ALL, True)]


async def test_a_sequence_number_is_never_reused(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.sessions.insert(session())
        await tx.events.append("c1", 1, 100.0, [event("a")])
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):  # each backend raises its own integrity error
        async with storage.transaction() as tx:
            await tx.events.append("c1", 1, 100.0, [event("again")])
    async with storage.read() as tx:
        assert [e.name for e in await tx.events.read_after("c1", 0, Audience.ALL, 10)] == ["a"]


async def test_customer_cursor_only_moves_forward(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.sessions.insert(session())
        await tx.sessions.set_customer_cursor("c1", 5)
        await tx.sessions.set_customer_cursor("c1", 3)
    async with storage.read() as tx:
        loaded = await tx.sessions.get("c1")
    assert loaded is not None and loaded.customer_cursor == 5


async def test_a_poll_reads_only_its_delivery_state(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.sessions.insert(session(client_kind="web", client_id="WebChat", visitor_cookie="v1",
                                         customer_cursor=3, customer_last_seq=7, last_seq=9, terminal=True))
    async with storage.read() as tx:
        state = await tx.sessions.delivery_state("c1")
        missing = await tx.sessions.delivery_state("nope")
    assert state == DeliveryState(tenant="t", app_id="a", client_id="WebChat", visitor_cookie="v1",
                                  customer_cursor=3, customer_last_seq=7, terminal=True)
    assert missing is None


async def test_many_polls_read_their_delivery_states_in_one_statement(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.sessions.insert(session("c1", customer_cursor=3, customer_last_seq=7, terminal=True))
        await tx.sessions.insert(session("c2", client_kind="web", client_id="WebChat", visitor_cookie="v2"))
    async with storage.read() as tx:
        states = await tx.sessions.delivery_states(["c2", "nope", "c1", "c1"])
        nothing = await tx.sessions.delivery_states([])
        many = await tx.sessions.delivery_states([f"x{i}" for i in range(3000)] + ["c2"])
        one = await tx.sessions.delivery_state("c1")
    assert sorted(states) == ["c1", "c2"]  # an unknown chat is left out, a repeated one read once
    assert states["c1"] == one == DeliveryState(tenant="t", app_id="a", client_id="dev", visitor_cookie="",
                                                customer_cursor=3, customer_last_seq=7, terminal=True)
    assert states["c2"].visitor_cookie == "v2" and states["c2"].terminal is False
    assert nothing == {} and list(many) == ["c2"]


async def test_tails_moved_names_the_chats_whose_customer_log_grew_or_that_ended(storage: Storage) -> None:
    async with storage.transaction() as tx:
        for chat_id, last_seq, terminal in (("grew", 5, False), ("same", 4, False), ("ended", 4, True),
                                            ("was-ended", 4, True), ("behind", 2, False)):
            await tx.sessions.insert(session(chat_id, customer_last_seq=last_seq, terminal=terminal))
    seen = [SeenTail("grew", 4, False), SeenTail("same", 4, False), SeenTail("ended", 4, False),
            SeenTail("was-ended", 4, True), SeenTail("behind", 3, False), SeenTail("unknown", 0, False)]
    async with storage.read() as tx:
        moved = await tx.sessions.tails_moved(seen)
        nothing = await tx.sessions.tails_moved([])
        many = await tx.sessions.tails_moved([SeenTail(f"x{i}", 0, False) for i in range(5000)]
                                             + [SeenTail("grew", 0, False)])
    assert sorted(moved) == ["ended", "grew"]
    assert nothing == [] and many == ["grew"]


async def test_session_queries(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.sessions.insert(session("old", created_at=1.0, queued_at=1.0))
        await tx.sessions.insert(session("new", created_at=2.0, queued_at=2.0))
        await tx.sessions.insert(session("done", terminal=True, case_id="K"))
        await tx.sessions.insert(session("web", client_id="WebChat", visitor_cookie="v1", case_id="K"))
        await tx.parties.insert(PartyRecord("p1", "new", "internal", "ag", "A", "B", "A", 3.0))
    async with storage.read() as tx:
        queued = await tx.sessions.list_in_state("t", ("queued",))
        active = await tx.sessions.find_active_for_client("t", "a", "dev", "")
        web = await tx.sessions.find_active_for_client("t", "a", "WebChat", "v1")
        web_other = await tx.sessions.find_active_for_client("t", "a", "WebChat", "v2")
        held = await tx.sessions.list_for_agent("ag")
        case = await tx.sessions.list_for_case("t", "K")
    assert [s.chat_id for s in queued] == ["old", "new", "web"]
    assert active is not None and active.chat_id == "new"
    assert web is not None and web.chat_id == "web"
    assert web_other is None
    assert [s.chat_id for s in held] == ["new"]
    assert {s.chat_id for s in case} == {"done", "web"}


async def test_the_chats_of_several_states_come_in_one_order_whichever_index_holds_them(storage: Storage) -> None:
    """Queued and offered chats have partial indexes of their own, connected ones none: the chats of
    several states are still one list, by queue time (none first), then creation, then arrival."""
    async with storage.transaction() as tx:
        await tx.sessions.insert(session("offered", state="connecting", created_at=3.0, queued_at=1.0))
        await tx.sessions.insert(session("waiting", created_at=2.0, queued_at=2.0))
        await tx.sessions.insert(session("talking", state="connected", created_at=5.0, queued_at=None))
        await tx.sessions.insert(session("first", state="connected", created_at=4.0, queued_at=None))
        await tx.sessions.insert(session("tie", state="connecting", created_at=2.0, queued_at=2.0))
        await tx.sessions.insert(session("ended", state="connected", terminal=True, queued_at=None))
        await tx.sessions.insert(session("elsewhere", tenant="u", state="connected", queued_at=None))
    async with storage.read() as tx:
        every = await tx.sessions.list_in_state("t", ("connecting", "connected", "queued", "connecting"))
        connected = await tx.sessions.list_in_state("t", ("connected",))
    assert [s.chat_id for s in every] == ["first", "talking", "offered", "waiting", "tie"]
    assert [s.chat_id for s in connected] == ["first", "talking"]


async def test_agents_tokens_and_load(storage: Storage) -> None:
    agent = AgentRecord("t/ann", "t", "ann", "scrypt$x$y", "Ann", "Lee", "Ann", 2, "ready", 5.0, auto_accept=True)
    async with storage.transaction() as tx:
        await tx.agents.upsert(agent)
        await tx.agents.add_token(TokenRecord("h1", "t/ann", "bearer", 1.0, 100.0))
        await tx.agents.add_token(TokenRecord("h2", "t/ann", "ticket", 1.0, 31.0, parent_hash="h1"))
        await tx.sessions.insert(session("held"))
        await tx.sessions.insert(session("offered", state="connecting", offered_agent_id="t/ann"))
        await tx.parties.insert(PartyRecord("p1", "held", "internal", "t/ann", "Ann", "Lee", "Ann", 3.0))
    async with storage.read() as tx:
        assert await tx.agents.get("t/ann") == agent
        assert await tx.agents.get_by_username("t", "ann") == agent
        assert await tx.agents.token("h1") == TokenRecord("h1", "t/ann", "bearer", 1.0, 100.0)
        assert await tx.agents.token("h2") == TokenRecord("h2", "t/ann", "ticket", 1.0, 31.0, "h1")
        assert await tx.agents.count_chats("t/ann") == 2
    agent.state = "not_ready"
    async with storage.transaction() as tx:
        await tx.agents.upsert(agent)
        await tx.agents.drop_tokens("t/ann")
    async with storage.read() as tx:
        stored = await tx.agents.get("t/ann")
        assert stored is not None and stored.state == "not_ready"
        assert await tx.agents.token("h1") is None and await tx.agents.token("h2") is None  # every kind


async def test_tokens_expire_extend_and_are_deleted_one_by_one(storage: Storage) -> None:
    async with storage.transaction() as tx:
        for name, expires_at in (("late", 300.0), ("soon", 50.0), ("sooner", 40.0)):
            await tx.agents.add_token(TokenRecord(name, "t/ann", "session", 1.0, expires_at))
    async with storage.read() as tx:
        assert [t.token_hash for t in await tx.agents.expired_tokens(50.0, 10)] == ["sooner", "soon"]
        assert [t.token_hash for t in await tx.agents.expired_tokens(50.0, 1)] == ["sooner"]
    async with storage.transaction() as tx:
        await tx.agents.extend_token("soon", 400.0)
        await tx.agents.extend_token("late", 200.0)  # never shortens
        await tx.agents.delete_token("sooner")
    async with storage.read() as tx:
        assert await tx.agents.expired_tokens(399.0, 10) == [TokenRecord("late", "t/ann", "session", 1.0, 300.0)]
        assert await tx.agents.token("sooner") is None
        soon = await tx.agents.token("soon")
        assert soon is not None and soon.expires_at == 400.0


async def test_login_failure_counters(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.login_failures.set(LoginFailuresRecord("account:t/ann", 1, 10.0))
        await tx.login_failures.set(LoginFailuresRecord("account:t/ann", 2, 10.0))  # replaces
        await tx.login_failures.set(LoginFailuresRecord("address:10.0.0.1", 7, 50.0))
    async with storage.read() as tx:
        assert await tx.login_failures.get("account:t/ann") == LoginFailuresRecord("account:t/ann", 2, 10.0)
        assert await tx.login_failures.get("account:t/bob") is None
    async with storage.transaction() as tx:
        await tx.login_failures.delete_before(50.0)
    async with storage.read() as tx:
        assert await tx.login_failures.get("account:t/ann") is None
        assert await tx.login_failures.get("address:10.0.0.1") is not None
    async with storage.transaction() as tx:
        await tx.login_failures.delete("address:10.0.0.1")
    async with storage.read() as tx:
        assert await tx.login_failures.get("address:10.0.0.1") is None


async def test_timers_are_due_in_order_and_replaced_by_kind(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.timers.set(TimerRecord("c1", "warn", 50.0, {}))
        await tx.timers.set(TimerRecord("c2", "warn", 20.0, {"k": 1}))
        await tx.timers.set(TimerRecord("c1", "warn", 10.0, {}))  # same (chat, kind): replaced
        await tx.timers.set(TimerRecord("c1", "form:1", 99.0, {}))
    async with storage.read() as tx:
        due = await tx.timers.due(30.0, 10)
        first = await tx.timers.next_due_at()
    assert [(t.chat_id, t.due_at) for t in due] == [("c1", 10.0), ("c2", 20.0)]
    assert due[1].payload == {"k": 1}
    assert first == 10.0
    async with storage.transaction() as tx:
        await tx.timers.cancel("c2", "warn")
        await tx.timers.cancel_all("c1")
    async with storage.read() as tx:
        assert await tx.timers.due(1000.0, 10) == []
        assert await tx.timers.next_due_at() is None


async def test_files_forms_push_and_cases(storage: Storage) -> None:
    async with storage.transaction() as tx:
        for i in range(3):
            await tx.files.insert(FileRecord(f"f{i}", "t", "", f"n{i}", "image/png", 10, float(i), "customer:x"))
        await tx.files.attach("f1", "c1")
        await tx.forms.insert(FormRequestRecord("c1", 7, "survey", "p1", "pending", 40.0))
        await tx.push.set("c1", {"android_firebase_device_token": "tok"}, 1.0)
        await tx.cases.ensure("t", "K", 1.0)
        await tx.cases.ensure("t", "K", 2.0)
    async with storage.transaction() as tx:
        assert await tx.files.count_for_tenant("t") == 3
        assert [f.file_id for f in await tx.files.oldest_for_tenant("t", 2)] == ["f0", "f1"]
        attached = await tx.files.get("f1")
        assert attached is not None and attached.chat_id == "c1"
        await tx.files.delete("f0")
        assert await tx.files.get("f0") is None
        form = await tx.forms.get("c1", 7)
        assert form is not None and form.state == "pending"
        form.state, form.data = "answered", {"q": "yes"}
        await tx.forms.update(form)
        assert await tx.forms.get("c1", 7) == form
        assert await tx.push.get("c1") == {"android_firebase_device_token": "tok"}
        await tx.push.delete("c1")
        assert await tx.push.get("c1") is None
        assert not await tx.cases.is_closed("t", "K")
        assert await tx.cases.close("t", "K", 3.0) is True
        assert await tx.cases.close("t", "K", 4.0) is False
        assert await tx.cases.is_closed("t", "K")


def test_sqlite_migrations_are_numbered_and_reapplying_is_a_no_op(tmp_path: Path) -> None:
    import sqlite3

    from frontdesk.storage.sqlite.migrations import migrate

    conn = sqlite3.connect(tmp_path / "m.sqlite3", isolation_level=None)
    assert migrate(conn) == len(MIGRATIONS)
    assert migrate(conn) == len(MIGRATIONS)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] in ("delete", "wal")
    conn.close()
    wal = SqliteStorage(tmp_path / "wal.sqlite3")
    assert wal.schema_version == len(MIGRATIONS)


def _agent(agent_id: str, tenant: str = "t") -> AgentRecord:
    return AgentRecord(agent_id=agent_id, tenant=tenant, username=agent_id, password_hash="x", first_name=agent_id,
                       last_name="", display_name=agent_id, max_chats=3, state="ready", state_since=1.0,
                       skills={"billing": 2}, team="blue", role="supervisor", last_routed_at=5.0)


def _party(party_id: str, chat_id: str, agent_id: str, joined_at: float = 100.0) -> PartyRecord:
    return PartyRecord(party_id=party_id, chat_id=chat_id, party_type="internal", agent_id=agent_id, first_name="A",
                       last_name="", display_name="A", joined_at=joined_at)


async def test_engine_fields_and_agent_loads(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.agents.upsert(_agent("a1"))
        await tx.agents.upsert(_agent("a2"))
        await tx.sessions.insert(session("c1", priority=5, required_skills={"x": 1}, scenario={"pc": 2, "vars": {}},
                                         ewt_predicted=42.0, ewt_announced=40, invited_agents=["a2"],
                                         connected_at=110.0, state="connected"))
        await tx.sessions.insert(session("c2", state="connecting", offered_agent_id="a1"))
        await tx.sessions.insert(session("c3", state="connected", connected_at=120.0, terminal=True, ended_at=150.0))
        await tx.parties.insert(_party("p1", "c1", "a1"))
        await tx.parties.insert(_party("p2", "c1", "a2", joined_at=130.0))
        await tx.parties.insert(_party("p3", "c3", "a2"))
    async with storage.read() as tx:
        agent = await tx.agents.get("a1")
        c1 = await tx.sessions.get("c1")
        loads = await tx.agents.chat_loads("t")
        connected = sorted(await tx.agents.connected_chats("t"))
        invited = [s.chat_id for s in await tx.sessions.list_with_invitations("t")]
        active = [s.chat_id for s in await tx.sessions.list_active("t")]
        handle = await tx.sessions.recent_handle_times("t", "q", 10)
        created = [s.chat_id for s in await tx.sessions.list_created_between("t", 0.0, 1000.0)]
        joined = [p.party_id for p in await tx.parties.list_joined_between("t", 120.0, 200.0)]
    assert agent is not None and agent.skills == {"billing": 2} and agent.role == "supervisor"
    assert agent.team == "blue" and agent.last_routed_at == 5.0
    assert c1 is not None and c1.priority == 5 and c1.required_skills == {"x": 1} and c1.scenario["pc"] == 2
    assert c1.ewt_predicted == 42.0 and c1.ewt_announced == 40 and c1.invited_agents == ["a2"]
    assert loads == {"a1": 2, "a2": 1}  # a1 holds c1 and is offered c2; a2's c3 has ended
    assert connected == [("a1", 110.0), ("a2", 110.0)]
    assert invited == ["c1"] and active == ["c1", "c2"]
    assert handle == [30.0]
    assert sorted(created) == ["c1", "c2", "c3"] and joined == ["p2"]


async def test_offers_wrap_ups_left_messages_and_monitors(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.offers.insert(OfferRecord("c1", "a1", "t", "q", 100.0))
        await tx.offers.insert(OfferRecord("c1", "a2", "t", "q", 101.0))
        await tx.offers.decide("c1", "a1", "rejected", 102.0)
        await tx.offers.decide("c1", "a1", "accepted", 103.0)  # nothing pending for a1 any more: no-op
        await tx.wrap_ups.insert(WrapUpRecord("c1", "a2", "t", "q", "resolved", "ok", 200.0))
        await tx.left_messages.insert(LeftMessageRecord("m1", "t", "c9", "q", 50.0, {"email": "a@b.c"}))
        await tx.monitors.add("c1", "s1", 10.0)
        await tx.monitors.add("c1", "s1", 11.0)
    async with storage.transaction() as tx:
        message = await tx.left_messages.get("m1")
        assert message is not None
        message.handled_by, message.handled_at = "a2", 60.0
        await tx.left_messages.update(message)
    async with storage.read() as tx:
        offers = await tx.offers.list_between("t", 0.0, 1000.0)
        wrap = await tx.wrap_ups.get("c1", "a2")
        wraps = await tx.wrap_ups.list_between("t", 0.0, 150.0)
        open_messages = await tx.left_messages.list_for_tenant("t", include_handled=False)
        all_messages = await tx.left_messages.list_for_tenant("t", include_handled=True)
        monitored = await tx.monitors.chats_of("s1")
        watching = await tx.monitors.is_monitoring("c1", "s1")
    assert [(o.agent_id, o.outcome, o.decided_at) for o in offers] == [("a1", "rejected", 102.0),
                                                                       ("a2", "pending", None)]
    assert wrap is not None and wrap.disposition == "resolved" and wraps == []
    assert open_messages == [] and [(m.handled_by, m.data) for m in all_messages] == [("a2", {"email": "a@b.c"})]
    assert monitored == ["c1"] and watching
    async with storage.transaction() as tx:
        await tx.monitors.remove("c1", "s1")
    async with storage.read() as tx:
        assert not await tx.monitors.is_monitoring("c1", "s1")


def test_sqlite_migration_4_gives_old_tokens_a_kind_and_an_expiry(tmp_path: Path) -> None:
    import sqlite3

    from frontdesk.storage.sqlite.migrations import migrate

    conn = sqlite3.connect(tmp_path / "old.sqlite3", isolation_level=None)
    for script in MIGRATIONS[:3]:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    conn.execute("INSERT INTO agent_tokens (token_hash, agent_id, created_at) VALUES ('h', 't/ann', 1000.0)")
    migrate(conn)
    row = conn.execute("SELECT kind, expires_at, parent_hash FROM agent_tokens WHERE token_hash = 'h'").fetchone()
    assert row == ("bearer", 1000.0 + 12 * 3600, "")
    conn.close()
async def test_queue_heads_places_and_cached_models(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.sessions.insert(session("late", queued_at=5.0, created_at=5.0))
        await tx.sessions.insert(session("tie-1", queued_at=3.0, created_at=3.0))
        await tx.sessions.insert(session("tie-2", queued_at=3.0, created_at=3.0))  # same instant: inserted later
        await tx.sessions.insert(session("vip", queued_at=9.0, created_at=9.0, priority=5))
        await tx.sessions.insert(session("other", queue_id="q2"))
        await tx.sessions.insert(session("offered", state="connecting"))
        await tx.sessions.insert(session("gone", terminal=True))
        await tx.sessions.insert(session("done-1", state="completed", terminal=True, connected_at=10.0, ended_at=70.0))
        await tx.sessions.insert(session("done-2", state="completed", terminal=True, connected_at=10.0, ended_at=40.0))
        await tx.queue_models.put(QueueModelRecord("t", "q", 1.0, "1/2", (0, 30, 60), 30.0))
        await tx.queue_models.put(QueueModelRecord("t", "q", 2.0, "0/3", (10, 40), 25.0))  # replaced
    async with storage.read() as tx:
        head = await tx.sessions.list_queued("t", "q", 3)
        assert [s.chat_id for s in head] == ["vip", "tie-1", "tie-2"]
        assert await tx.sessions.count_queued("t", "q") == 4
        assert await tx.sessions.any_queued("t") and not await tx.sessions.any_queued("nobody")
        queued = await tx.sessions.list_queued("t", "q", 9)
        places = {s.chat_id: await tx.sessions.count_queued_ahead(s) for s in queued}
        assert places == {"vip": 0, "tie-1": 1, "tie-2": 2, "late": 3}
        # a chat not stored yet (or not queued) is placed after every chat of its priority queued before it
        assert await tx.sessions.count_queued_ahead(session("new", queued_at=5.0, created_at=5.0)) == 4
        assert await tx.sessions.count_queued_ahead(session("urgent", queued_at=99.0, priority=9)) == 0
        assert await tx.sessions.recent_handle_times_of("t", ["q", "q2", "none"], 10) == {"q": [60.0, 30.0]}
        model = await tx.queue_models.get("t", "q")
        assert model == QueueModelRecord("t", "q", 2.0, "0/3", (10, 40), 25.0)
        assert await tx.queue_models.list_for_tenant("t") == {"q": model}
        assert await tx.queue_models.get("t", "q2") is None


async def test_present_parties_monitors_of_a_tenant_and_timer_failures(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.agents.upsert(AgentRecord("t/sue", "t", "sue", "x", "Sue", "", "Sue", 2, "ready", 1.0))
        await tx.sessions.insert(session("live", state="connected"))
        await tx.sessions.insert(session("ended", state="completed", terminal=True))
        await tx.parties.insert(PartyRecord("p1", "live", "internal", "t/ann", "Ann", "", "Ann", 3.0))
        await tx.parties.insert(PartyRecord("p2", "live", "internal", "t/bob", "Bob", "", "Bob", 4.0, left_at=5.0))
        await tx.parties.insert(PartyRecord("p3", "ended", "internal", "t/ann", "Ann", "", "Ann", 2.0))
        await tx.monitors.add("live", "t/sue", 6.0)
        await tx.timers.set(TimerRecord("c1", "warn", 10.0, {"k": 1}, failures=2))
        await tx.timers.ensure(TimerRecord("c1", "warn", 99.0, {}))  # already set: kept as it is
        await tx.timers.ensure(TimerRecord("c2", "warn", 20.0, {}))
    async with storage.read() as tx:
        assert [p.party_id for p in await tx.parties.list_present("t")] == ["p1"]
        assert await tx.monitors.list_for_tenant("t") == [("live", "t/sue")]
        assert await tx.monitors.list_for_tenant("other") == []
        assert await tx.timers.get("c1", "warn") == TimerRecord("c1", "warn", 10.0, {"k": 1}, failures=2)
        assert await tx.timers.get("c2", "warn") == TimerRecord("c2", "warn", 20.0, {})
        assert await tx.timers.get("c3", "warn") is None
        assert [t.failures for t in await tx.timers.due(30.0, 10)] == [2, 0]


async def test_queue_lengths_follow_every_change_of_state_queue_and_priority(storage: Storage) -> None:
    async def lengths() -> tuple[int, int, int, bool]:
        async with storage.read() as tx:
            return (await tx.sessions.count_queued("t", "q"), await tx.sessions.count_queued("t", "q", 5),
                    await tx.sessions.count_queued("t", "q2"), await tx.sessions.any_queued("t"))

    chat = session("c1")
    async with storage.transaction() as tx:
        await tx.sessions.insert(chat)
        await tx.sessions.insert(session("ivr", state="ivr"))
    assert await lengths() == (1, 0, 0, True)
    steps: list[tuple[dict[str, object], tuple[int, int, int, bool]]] = [
        ({"state": "connecting"}, (0, 0, 0, False)), ({"state": "queued"}, (1, 0, 0, True)),
        ({"priority": 7}, (1, 1, 0, True)), ({"queue_id": "q2"}, (0, 0, 1, True)),
        ({"last_seq": 3}, (0, 0, 1, True)), ({"terminal": True}, (0, 0, 0, False))]
    for change, expected in steps:
        for key, value in change.items():
            setattr(chat, key, value)
        async with storage.transaction() as tx:
            await tx.sessions.update(chat)
        assert await lengths() == expected, change
    with pytest.raises(RuntimeError):
        async with storage.transaction() as tx:
            await tx.sessions.insert(session("rolled-back"))
            raise RuntimeError("rolled back: the count with it")
    assert await lengths() == (0, 0, 0, False)


async def test_text_with_a_nul_character_is_stored_and_found_alike(storage: Storage) -> None:
    """A NUL in text from outside (a phone number, a username, a path) fails no statement: what is
    written with it is found again with it, and a lookup of an id with one finds nothing else."""
    async with storage.transaction() as tx:
        await tx.sessions.insert(session(phone_number="12\x003", client_id="dev\x00ice"))
        await tx.login_failures.set(LoginFailuresRecord("account:t/ann\x00", 1, 10.0))
    async with storage.read() as tx:
        stored = await tx.sessions.get("c1")
        by_client = await tx.sessions.find_active_for_client("t", "a", "dev\x00ice", "")
        failures = await tx.login_failures.get("account:t/ann\x00")
        assert await tx.files.get("secret.txt\x00") is None
        assert await tx.sessions.get("c1\x00") is None
    assert stored is not None and stored.phone_number in ("12\x003", "12\ufffd3")  # PostgreSQL: U+FFFD
    assert by_client is not None and by_client.chat_id == "c1"
    assert failures is not None and failures.failures == 1


async def test_keyed_messages_are_found_by_chat_party_and_key(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.keyed_messages.insert(KeyedMessageRecord("c1", "p1", "k", 7, "m7", "d7"))
        await tx.keyed_messages.insert(KeyedMessageRecord("c1", "p2", "k", 8, "m8", "d8"))
        await tx.keyed_messages.insert(KeyedMessageRecord("c2", "p1", "k", 3, "m3", "d3"))
    async with storage.transaction() as tx:
        assert await tx.keyed_messages.get("c1", "p1", "k") == KeyedMessageRecord("c1", "p1", "k", 7, "m7", "d7")
        assert await tx.keyed_messages.get("c1", "p2", "k") == KeyedMessageRecord("c1", "p2", "k", 8, "m8", "d8")
        assert await tx.keyed_messages.get("c2", "p1", "k") == KeyedMessageRecord("c2", "p1", "k", 3, "m3", "d3")
        assert await tx.keyed_messages.get("c1", "p1", "other") is None
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):  # each backend raises its own integrity error
        async with storage.transaction() as tx:
            await tx.keyed_messages.insert(KeyedMessageRecord("c1", "p1", "k", 9, "m9", "d9"))
    async with storage.transaction() as tx:
        assert await tx.keyed_messages.get("c1", "p1", "k") == KeyedMessageRecord("c1", "p1", "k", 7, "m7", "d7")
