"""Reports over real HTTP: a known sequence of chats on the fake clock (answered after known waits,
one rejected offer, one abandoned, one failed by the queue's max wait, one wrap-up) gives exact
figures per queue and per agent, as JSON and as CSV; plus the definitions' edge cases."""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest

from frontdesk.client import AgentClient, CustomerClient
from frontdesk.domain.config import AgentConfig, ContactCenterConfig
from frontdesk.domain.reports import (
    AGENT_COLUMNS,
    QUEUE_COLUMNS,
    AgentRow,
    QueueRow,
    percentile,
    queue_rows,
    to_csv,
)
from frontdesk.settings import DEMO_APP_ID, DEMO_TENANT, Settings, demo_contact_center
from frontdesk.storage.records import SessionRecord, WrapUpRecord
from tests.conftest import LiveServer, StartServer, cheap_hash

JsonObject = dict[str, Any]
BOB, CARL, SUE = f"{DEMO_TENANT}/bob", f"{DEMO_TENANT}/carl", f"{DEMO_TENANT}/sue"
MAX_WAIT_SECS = 300


@functools.cache
def report_config() -> ContactCenterConfig:
    """The demo tenant with two agents and a supervisor; offers never lapse, a chat waits at most
    ``MAX_WAIT_SECS`` in the queue, and customer inactivity never ends a chat."""
    demo = demo_contact_center()
    tenant = demo.tenants[DEMO_TENANT]
    queue = replace(tenant.queues["general"], max_wait_secs=MAX_WAIT_SECS, offer_timeout_secs=0)
    entry = replace(tenant.entries[DEMO_APP_ID], inactivity_timeout_secs=0)
    agents = tuple(AgentConfig(username=name, password_hash=cheap_hash(f"pw-{name}"), first_name=name.title(),
                               last_name="Doe", display_name=name.title(), max_chats=max_chats, role=role,
                               team="blue")
                   for name, max_chats, role in [("bob", 2, "agent"), ("carl", 1, "agent"), ("sue", 1, "supervisor")])
    tenant = replace(tenant, queues={"general": queue}, entries={entry.app_id: entry}, agents=agents)
    return replace(demo, tenants={tenant.name: tenant})


@dataclass
class Scene:
    live: LiveServer
    sue: AgentClient
    t0: float

    async def get(self, path: str, params: dict[str, str] | None = None, *, status: int = 200,
                  **more: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10.0) as http:
            response = await http.get(f"{self.live.base_url}/agent/api/v1/{path}", params={**(params or {}), **more},
                                      headers={"Authorization": f"Bearer {self.sue.token}"})
        assert response.status_code == status, response.text
        return response

    def range(self, since: float = 0, until: float = 1000) -> dict[str, str]:
        return {"since": str(self.t0 + since), "until": str(self.t0 + until)}


async def login(live: LiveServer, name: str, ready: bool) -> AgentClient:
    agent = AgentClient(live.base_url)
    await agent.login(name, f"pw-{name}")
    if ready:
        await agent.set_state("ready")
    return agent


async def request(live: LiveServer, client_id: str) -> tuple[CustomerClient, str]:
    customer = live.customer(client_id=client_id)
    return customer, (await customer.request_chat({"first_name": client_id}))["chat_id"]


async def at(live: LiveServer, t0: float, secs: float) -> None:
    """Move the fake clock to ``t0 + secs`` and fire what fell due."""
    await live.advance(t0 + secs - live.clock.now())


@pytest.fixture
async def scene(start_server: StartServer) -> AsyncIterator[Scene]:
    """The sequence (seconds after t0):

    - A at 0, offered to bob, accepted at 20 (waited 20), ended by bob at 120 (handled 100); bob
      wraps it up as "sale".
    - B at 30, offered to bob, rejected at 35; carl logs in at 50 and is offered it, accepts at 60
      (waited 30), ends it at 520 (handled 460).
    - C at 125, offered to bob, accepted at 130 (waited 5); bob goes not ready; the customer ends
      it at 530 (handled 400).
    - D at 140 waits (bob is not ready, carl is full); its customer gives up at 200: abandoned.
    - E at 210 waits too, until the queue's max wait at 510: failed.
    """
    live = await start_server(settings=replace(Settings(contact_center=report_config()), poll_hold_secs=0.3))
    t0 = live.clock.now()
    bob = await login(live, "bob", ready=True)
    sue = await login(live, "sue", ready=False)
    customers: list[CustomerClient] = []
    try:
        a_customer, a = await request(live, "device-a")
        await at(live, t0, 20)
        await bob.accept(a)
        await at(live, t0, 30)
        b_customer, b = await request(live, "device-b")
        await at(live, t0, 35)
        await bob.reject(b)
        await at(live, t0, 50)
        carl = await login(live, "carl", ready=True)
        await at(live, t0, 60)
        await carl.accept(b)
        await at(live, t0, 120)
        await bob.end(a)
        async with live.frontdesk.storage.transaction() as tx:
            await tx.wrap_ups.insert(WrapUpRecord(a, BOB, DEMO_TENANT, "general", "sale", "", t0 + 121))
        await at(live, t0, 125)
        c_customer, c = await request(live, "device-c")
        await at(live, t0, 130)
        await bob.accept(c)
        await bob.set_state("not_ready")
        await at(live, t0, 140)
        d_customer, d = await request(live, "device-d")
        await at(live, t0, 200)
        await d_customer.end(d)
        await at(live, t0, 210)
        e_customer, e = await request(live, "device-e")
        await at(live, t0, 510)  # E's max wait
        assert (await e_customer.poll_after(e, 0))[-1]["event"] == "chat_session_ended"
        await at(live, t0, 520)
        await carl.end(b)
        await at(live, t0, 530)
        await c_customer.end(c)
        customers = [a_customer, b_customer, c_customer, d_customer, e_customer]
        await carl.aclose()
        await bob.aclose()
        yield Scene(live, sue, t0)
    finally:
        for customer in customers:
            await customer.aclose()
        await sue.aclose()


EXPECTED_QUEUE = {
    "queue_id": "general", "offered": 5, "answered": 3, "abandoned": 1, "failed": 1, "other_unanswered": 0,
    "waiting": 0,
    # waits 5, 20, 30 (nearest rank: p50 = 2nd of 3, p90 = p99 = 3rd)
    "wait_p50_secs": 20.0, "wait_p90_secs": 30.0, "wait_p99_secs": 30.0,
    # handle times 100, 460, 400
    "handle_avg_secs": 320.0, "handle_p90_secs": 460.0,
    "answered_within_sl": 3, "service_level": 0.6,
    # A and B waited ≥ 10 s, both told 0 s (an agent had a free slot when they arrived): errors 20 and 30
    "ewt_samples": 2, "ewt_abs_error_p50_secs": 20.0, "ewt_rel_error_p50": 1.0,
}

EXPECTED_AGENTS = [
    {"agent_id": BOB, "username": "bob", "display_name": "Bob", "team": "blue", "offers": 3, "accepted": 2,
     "rejected": 1, "timed_out": 0, "withdrawn": 0, "pending": 0, "chats_handled": 2, "handle_avg_secs": 250.0,
     "wrap_ups": 1, "wrap_ups_by_disposition": {"sale": 1}},
    {"agent_id": CARL, "username": "carl", "display_name": "Carl", "team": "blue", "offers": 1, "accepted": 1,
     "rejected": 0, "timed_out": 0, "withdrawn": 0, "pending": 0, "chats_handled": 1, "handle_avg_secs": 460.0,
     "wrap_ups": 0, "wrap_ups_by_disposition": {}},
    {"agent_id": SUE, "username": "sue", "display_name": "Sue", "team": "blue", "offers": 0, "accepted": 0,
     "rejected": 0, "timed_out": 0, "withdrawn": 0, "pending": 0, "chats_handled": 0, "handle_avg_secs": None,
     "wrap_ups": 0, "wrap_ups_by_disposition": {}},
]


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# ---- the queue report ---------------------------------------------------------------------------------------


async def test_queue_report_as_json(scene: Scene) -> None:
    body = (await scene.get("reports/queues", scene.range())).json()
    assert body["tenant"] == DEMO_TENANT
    assert body["since"] == scene.t0 and body["until"] == scene.t0 + 1000
    assert body["service_level_secs"] == 60
    assert body["queues"] == [EXPECTED_QUEUE]


async def test_queue_report_as_csv(scene: Scene) -> None:
    response = await scene.get("reports/queues", scene.range(), format="csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert parse_csv(response.text) == [
        list(QUEUE_COLUMNS),
        ["general", "5", "3", "1", "1", "0", "0", "20.0", "30.0", "30.0", "320.0", "460.0", "3", "0.6", "2", "20.0",
         "1.0"],
    ]
    assert response.text.splitlines()[0] == ",".join(EXPECTED_QUEUE)  # the documented column order


async def test_the_range_selects_chats_by_creation_time(scene: Scene) -> None:
    (row,) = (await scene.get("reports/queues", scene.range(100, 1000))).json()["queues"]
    # C, D and E: one answered after 5 s, one abandoned, one failed
    assert (row["offered"], row["answered"], row["abandoned"], row["failed"]) == (3, 1, 1, 1)
    assert row["wait_p50_secs"] == 5.0 and row["handle_avg_secs"] == 400.0
    assert row["ewt_samples"] == 0 and row["ewt_abs_error_p50_secs"] is None
    (empty,) = (await scene.get("reports/queues", scene.range(600, 700))).json()["queues"]
    assert empty["offered"] == 0 and empty["service_level"] is None and empty["wait_p50_secs"] is None
    csv_row = parse_csv((await scene.get("reports/queues", scene.range(600, 700), format="csv")).text)[1]
    assert csv_row[:8] == ["general", "0", "0", "0", "0", "0", "0", ""]


async def test_the_default_range_is_the_last_24_hours(scene: Scene) -> None:
    body = (await scene.get("reports/queues")).json()
    now = scene.live.clock.now()
    assert now < body["until"] < now + 0.001 and body["since"] == body["until"] - 24 * 3600  # now included
    assert body["queues"] == [EXPECTED_QUEUE]
    scene.live.clock.advance(24 * 3600)
    await scene.sue.login("sue", "pw-sue")  # a day later her token has expired
    assert (await scene.get("reports/queues")).json()["queues"][0]["offered"] == 0


async def test_iso_dates_and_bad_ranges(scene: Scene) -> None:
    body = (await scene.get("reports/queues", since="2023-11-14T00:00:00Z", until="2023-11-16T00:00:00")).json()
    assert body["since"] == 1_699_920_000 and body["until"] == 1_700_092_800
    assert body["queues"] == [EXPECTED_QUEUE]  # the fake clock starts at 2023-11-14T22:13:20Z
    await scene.get("reports/queues", status=400, since=str(scene.t0 + 10), until=str(scene.t0))
    await scene.get("reports/queues", status=400, since=str(scene.t0), until=str(scene.t0))
    await scene.get("reports/agents", status=400, since="yesterday")
    await scene.get("reports/agents", status=400, since="0", until=str(400 * 24 * 3600))
    await scene.get("reports/agents", status=400, since="nan")
    await scene.get("reports/queues", status=422, format="xml")


# ---- the agent report ---------------------------------------------------------------------------------------------


async def test_agent_report_as_json(scene: Scene) -> None:
    body = (await scene.get("reports/agents", scene.range())).json()
    assert body["tenant"] == DEMO_TENANT and body["agents"] == EXPECTED_AGENTS


async def test_agent_report_as_csv(scene: Scene) -> None:
    response = await scene.get("reports/agents", scene.range(), format="csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert parse_csv(response.text) == [
        list(AGENT_COLUMNS),
        [BOB, "bob", "Bob", "blue", "3", "2", "1", "0", "0", "0", "2", "250.0", "1", "sale=1"],
        [CARL, "carl", "Carl", "blue", "1", "1", "0", "0", "0", "0", "1", "460.0", "0", ""],
        [SUE, "sue", "Sue", "blue", "0", "0", "0", "0", "0", "0", "0", "", "0", ""],
    ]
    assert response.text.splitlines()[0] == ",".join(EXPECTED_AGENTS[0])


# ---- the definitions ------------------------------------------------------------------------------------------------


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 99) == 7.0
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert (percentile(values, 50), percentile(values, 90), percentile(values, 99)) == (50.0, 90.0, 99.0)
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.0  # rank ceil(0.5 × 4) = 2, not an interpolation
    assert percentile([4.0, 1.0, 3.0, 2.0], 90) == 4.0


def _session(chat_id: str, queue_id: str, **fields: Any) -> SessionRecord:
    fields.setdefault("state", "completed")
    return SessionRecord(chat_id=chat_id, tenant=DEMO_TENANT, app_id=DEMO_APP_ID, client_id="c", client_kind="web",
                         visitor_cookie="", created_at=0.0, queue_id=queue_id, **fields)


def test_queue_rows_classify_every_chat_that_entered_a_queue() -> None:
    sessions = [
        _session("never-queued", "general", terminal=True, end_reason="customer_end"),
        _session("left-message", "general", queued_at=1.0, terminal=True, end_reason="left_message"),
        _session("scenario", "general", queued_at=1.0, terminal=True, end_reason="scenario_failed"),
        _session("timeout", "general", queued_at=1.0, terminal=True, end_reason="inactivity_timeout"),
        _session("waiting", "general", queued_at=1.0, state="queued"),
        _session("talking", "general", queued_at=1.0, connected_at=71.0, state="connected", ewt_predicted=50.0),
        _session("elsewhere", "removed", queued_at=1.0, connected_at=2.0, ended_at=3.0, terminal=True),
    ]
    general, billing, removed = queue_rows(sessions, ["general", "billing"])
    assert (general.offered, general.answered, general.abandoned, general.failed, general.other_unanswered,
            general.waiting) == (5, 1, 1, 1, 1, 1)
    # still talking: a wait, no handle time; answered after 70 s: outside the service level
    assert general.wait_p50_secs == 70.0 and general.handle_avg_secs is None and general.answered_within_sl == 0
    assert general.ewt_abs_error_p50_secs == 20.0 and general.ewt_rel_error_p50 == pytest.approx(20 / 70)
    assert billing == QueueRow("billing")
    assert removed.queue_id == "removed" and removed.answered == 1 and removed.handle_avg_secs == 1.0


def test_csv_cells() -> None:
    row = AgentRow("a/x", "x", 'Xavier "X", Jr.', wrap_ups=3, wrap_ups_by_disposition={"a": 1, "b": 2},
                   handle_avg_secs=1 / 3)
    text = to_csv(AGENT_COLUMNS, [row])
    assert text.endswith("\r\n")
    (_, cells) = parse_csv(text)
    assert cells[2] == 'Xavier "X", Jr.' and cells[-1] == "a=1;b=2" and cells[AGENT_COLUMNS.index(
        "handle_avg_secs")] == "0.333333"
