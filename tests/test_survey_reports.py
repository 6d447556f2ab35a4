"""Survey reports over real HTTP: chats whose post-chat survey ran, with known ratings, on the fake
clock, give exact counts, means and distributions per queue and per agent, as JSON and as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from frontdesk.client import AgentClient, CustomerClient
from frontdesk.domain.config import (
    AgentConfig,
    ContactCenterConfig,
    FormConfig,
    FormField,
    QueueConfig,
    ScenarioConfig,
    Step,
)
from frontdesk.settings import DEMO_APP_ID, DEMO_TENANT, Settings, demo_contact_center
from tests.conftest import LiveServer, StartServer, cheap_hash

JsonObject = dict[str, Any]
BOB, CARL, SUE = f"{DEMO_TENANT}/bob", f"{DEMO_TENANT}/carl", f"{DEMO_TENANT}/sue"
BILLING_APP = "billing-web"


def survey_config() -> ContactCenterConfig:
    """The demo tenant: entry ``demo`` → queue general (bob), entry ``billing-web`` → queue billing
    (carl); both run a survey whose form asks a rating; sue supervises."""
    demo = demo_contact_center()
    tenant = demo.tenants[DEMO_TENANT]
    form = FormConfig("survey", "How did we do?", (FormField("rating", "Rating", "rating", True),
                                                    FormField("comment", "Comment")))
    survey = ScenarioConfig("survey", (Step("form", {"form": "survey", "timeout_secs": 120, "on_timeout": "bye"}),
                                       Step("end", {"end": "Thanks!"}, "bye")))
    general = replace(tenant.entries[DEMO_APP_ID], survey="survey", inactivity_timeout_secs=0)
    billing = replace(general, app_id=BILLING_APP, queue_id="billing")
    queues = {"general": QueueConfig("general", "General", skills={"general": 1}, offer_timeout_secs=0),
              "billing": QueueConfig("billing", "Billing", skills={"billing": 1}, offer_timeout_secs=0)}
    agents = tuple(AgentConfig(username=name, password_hash=cheap_hash(f"pw-{name}"), first_name=name.title(),
                               last_name="Doe", display_name=name.title(), skills=skills, role=role, team="blue")
                   for name, skills, role in [("bob", {"general": 5}, "agent"), ("carl", {"billing": 5}, "agent"),
                                              ("sue", {}, "supervisor")])
    tenant = replace(tenant, queues=queues, entries={DEMO_APP_ID: general, BILLING_APP: billing}, agents=agents,
                     forms={"survey": form}, scenarios={"survey": survey})
    return replace(demo, tenants={tenant.name: tenant})


async def login(live: LiveServer, name: str) -> AgentClient:
    agent = AgentClient(live.base_url)
    await agent.login(name, f"pw-{name}")
    return agent


async def until_form(customer: CustomerClient, chat_id: str) -> JsonObject:
    for _ in range(10):
        shown = [e for e in await customer.poll(chat_id) if e["event"] == "chat_session_form_show"]
        if shown:
            return shown[-1]
    raise AssertionError("the survey form was never shown")


async def surveyed_chat(live: LiveServer, agent: AgentClient, app_id: str, client_id: str,
                        rating: int | str | None) -> None:
    """A chat the agent serves; the customer disconnects, then rates (or cancels the survey)."""
    async with CustomerClient(live.base_url, app_id=app_id, client_id=client_id, tenant_url=DEMO_TENANT) as customer:
        chat_id = str((await customer.request_chat({"first_name": client_id}))["chat_id"])
        await agent.accept(chat_id)
        await live.advance(30)
        await customer.send_events(chat_id, {"event": "chat_session_disconnect"})
        form = await until_form(customer, chat_id)
        answer: JsonObject = {"form_name": "survey", "form_request_id": form["form_request_id"]}
        if rating is None:
            await customer.send_events(chat_id, {"event": "chat_form_data_cancel", **answer})
        else:
            await customer.send_events(chat_id, {"event": "chat_session_form_data", **answer,
                                                 "data": {"rating": rating, "comment": "ok"}})
        assert (await customer.poll(chat_id))[-1]["event"] == "chat_session_ended"


@pytest.fixture
async def scene(start_server: StartServer) -> AsyncIterator[tuple[LiveServer, AgentClient, dict[str, str]]]:
    """general: bob's chats rated 9 and 4 (as text: "4"); billing: carl's chats, one survey cancelled
    and one rated 10; a chat its customer ended before anyone answered has no survey."""
    live = await start_server(settings=replace(Settings(contact_center=survey_config()), poll_hold_secs=0.3))
    t0 = live.clock.now()
    bob, carl, sue = await login(live, "bob"), await login(live, "carl"), await login(live, "sue")
    try:
        await bob.set_state("ready")
        await carl.set_state("ready")
        await surveyed_chat(live, bob, DEMO_APP_ID, "device-a", 9)
        await surveyed_chat(live, bob, DEMO_APP_ID, "device-b", "4")
        await surveyed_chat(live, carl, BILLING_APP, "device-c", None)
        await surveyed_chat(live, carl, BILLING_APP, "device-d", 10)
        async with CustomerClient(live.base_url, app_id=DEMO_APP_ID, client_id="device-e",
                                  tenant_url=DEMO_TENANT) as gone:
            await bob.set_state("not_ready")
            await gone.end(str((await gone.request_chat({}))["chat_id"]))
        yield live, sue, {"since": str(t0), "until": str(live.clock.now() + 1)}
    finally:
        for agent in (bob, carl, sue):
            await agent.aclose()


def ratings(**given: int) -> dict[str, int]:
    return {str(r): given.get(f"r{r}", 0) for r in range(11)}


async def get(live: LiveServer, sue: AgentClient, path: str, params: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10.0) as http:
        response = await http.get(f"{live.base_url}/agent/api/v1/reports/{path}", params=params,
                                  headers={"Authorization": f"Bearer {sue.token}"})
    assert response.status_code == 200, response.text
    return response


async def test_survey_report_per_queue(scene: tuple[LiveServer, AgentClient, dict[str, str]]) -> None:
    live, sue, window = scene
    body = (await get(live, sue, "surveys/queues", window)).json()
    assert body["tenant"] == DEMO_TENANT
    assert body["queues"] == [
        {"queue_id": "general", "surveys": 2, "answered": 2, "rating_avg": 6.5, "ratings": ratings(r4=1, r9=1)},
        {"queue_id": "billing", "surveys": 2, "answered": 1, "rating_avg": 10.0, "ratings": ratings(r10=1)},
    ]


async def test_survey_report_per_agent(scene: tuple[LiveServer, AgentClient, dict[str, str]]) -> None:
    live, sue, window = scene
    rows = {r["agent_id"]: r for r in (await get(live, sue, "surveys/agents", window)).json()["agents"]}
    assert list(rows) == [BOB, CARL, SUE]
    assert rows[BOB] == {"agent_id": BOB, "username": "bob", "display_name": "Bob", "team": "blue", "surveys": 2,
                         "answered": 2, "rating_avg": 6.5, "ratings": ratings(r4=1, r9=1)}
    assert (rows[CARL]["surveys"], rows[CARL]["answered"], rows[CARL]["rating_avg"]) == (2, 1, 10.0)
    assert (rows[SUE]["surveys"], rows[SUE]["answered"], rows[SUE]["rating_avg"]) == (0, 0, None)


async def test_survey_reports_as_csv(scene: tuple[LiveServer, AgentClient, dict[str, str]]) -> None:
    live, sue, window = scene
    response = await get(live, sue, "surveys/queues", {**window, "format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="survey-queues.csv"'
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0] == ["queue_id", "surveys", "answered", "rating_avg", "ratings"]
    assert lines[1] == ["general", "2", "2", "6.5", ";".join(f"{r}={1 if r in (4, 9) else 0}" for r in range(11))]
    agents = list(csv.reader(io.StringIO((await get(live, sue, "surveys/agents", {**window, "format": "csv"})).text)))
    assert agents[0][:4] == ["agent_id", "username", "display_name", "team"]
    assert agents[2][:7] == [CARL, "carl", "Carl", "blue", "2", "1", "10.0"]


async def test_a_range_before_the_chats_has_no_surveys(scene: tuple[LiveServer, AgentClient, dict[str, str]]) -> None:
    live, sue, window = scene
    before = {"since": str(float(window["since"]) - 100), "until": window["since"]}
    body = (await get(live, sue, "surveys/queues", before)).json()
    assert [(r["queue_id"], r["surveys"], r["rating_avg"]) for r in body["queues"]] == [
        ("general", 0, None), ("billing", 0, None)]


async def test_an_agent_may_not_read_survey_reports(scene: tuple[LiveServer, AgentClient, dict[str, str]]) -> None:
    live, _, window = scene
    bob = await login(live, "bob")
    async with httpx.AsyncClient(timeout=10.0) as http:
        response = await http.get(f"{live.base_url}/agent/api/v1/reports/surveys/agents", params=window,
                                  headers={"Authorization": f"Bearer {bob.token}"})
    assert response.status_code == 403
    await bob.aclose()
