"""The scenario engine over real HTTP on a fake clock: every step and branch operator, forms
(answer, cancel, timeout, invalid and repeated answers), hours/no-agent/EWT fallbacks, leave a
message, cases across chats, the post-chat survey, restarts and the loop guard. Every event a
mobile customer receives is checked against the strict client decoders."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from frontdesk.client import AgentClient, ClientError, CustomerClient
from frontdesk.domain.clock import FakeClock
from frontdesk.domain.config import (
    AgentConfig,
    ContactCenterConfig,
    EntryConfig,
    FormConfig,
    FormField,
    HoursConfig,
    QueueConfig,
    ScenarioConfig,
    Step,
    TenantConfig,
)
from frontdesk.domain.scenario import BROKEN_MESSAGE, CLOSED_MESSAGE, DEFAULT_SAY_AFTER, MAX_STEPS_PER_ADVANCE
from frontdesk.settings import Settings, load_settings
from tests.conftest import LiveServer, StartServer, cheap_hash
from tests.decoders import check_android, check_chat_ticket, check_mobile_batch

JsonObject = dict[str, Any]

TENANT = "acme.test"
APP = "support"
PASSWORD = "scenario-test-pw"
PASSWORD_HASH = cheap_hash(PASSWORD)
# 2023-11-14 22:13:20 UTC, a Tuesday night: the FakeClock's default start
NIGHT = 1_700_000_000.0
# Wednesday 2023-11-15 10:00 UTC
MORNING = dt.datetime(2023, 11, 15, 10, 0, tzinfo=dt.UTC).timestamp()
OFFICE = HoursConfig("office", "UTC", (((9 * 60, 17 * 60),),) * 5 + ((), ()))
ROOT = Path(__file__).resolve().parent.parent

QUEUES = {
    "general": QueueConfig("general", "General", skills={"general": 1}, default_handle_secs=600),
    "billing": QueueConfig("billing", "Billing", skills={"billing": 1}, priority=1),
    "tech": QueueConfig("tech", "Tech", skills={"tech": 1}),
}
FORMS = {
    "topic": FormConfig("topic", "What is it about?", (
        FormField("topic", "Topic", "choice", required=True, choices=("billing", "tech", "other")),)),
    "contact": FormConfig("contact", "Leave us a message", (
        FormField("email", "E-mail", "email", required=True), FormField("message", "Message", "text", required=True))),
    "survey": FormConfig("survey", "How did we do?", (
        FormField("rating", "Rating", "rating", required=True), FormField("comment", "Comment"))),
}
AGENTS = (
    AgentConfig("anna", PASSWORD_HASH, "Anna", "Lee", "Anna", max_chats=1, skills={"general": 5, "billing": 5}),
    AgentConfig("tom", PASSWORD_HASH, "Tom", "Berg", "Tom", max_chats=1, skills={"general": 5, "tech": 5}),
)


def step(action: str, value: Any, label: str = "", **args: Any) -> Step:
    return Step(action, {action: value, **args}, label)


def settings(*steps: Step, survey: tuple[Step, ...] = (), hours: str = "", welcome: str = "",
             extra_scenarios: dict[str, tuple[Step, ...]] | None = None) -> Settings:
    """A tenant whose entry ``support`` runs ``steps`` (none: the default scenario)."""
    scenarios = {"main": ScenarioConfig("main", steps)} if steps else {}
    if survey:
        scenarios["survey"] = ScenarioConfig("survey", survey)
    for name, more in (extra_scenarios or {}).items():
        scenarios[name] = ScenarioConfig(name, more)
    entry = EntryConfig(APP, "Support", "general", parameters=(("first_name", "FIRST_NAME"),),
                        welcome_message=welcome, bot_name="Robo", scenario="main" if steps else "",
                        survey="survey" if survey else "", hours=hours, unavailable_value="unavailable")
    tenant = TenantConfig(TENANT, entries={APP: entry}, queues=QUEUES, agents=AGENTS, hours={"office": OFFICE},
                          forms=FORMS, scenarios=scenarios)
    return Settings(contact_center=ContactCenterConfig({TENANT: tenant}, TENANT), poll_hold_secs=0.3,
                    is_demo=False)


async def serve(start_server: StartServer, config: Settings, at: float = MORNING,
                data_dir: Path | None = None) -> LiveServer:
    return await start_server(data_dir=data_dir, settings=config, clock=FakeClock(at))


def customer(live: LiveServer, client_id: str = "phone-1") -> CustomerClient:
    return CustomerClient(live.base_url, app_id=APP, client_id=client_id, tenant_url=TENANT)


async def agent(live: LiveServer, username: str = "anna", ready: bool = True) -> AgentClient:
    client = AgentClient(live.base_url)
    await client.login(username, PASSWORD, TENANT)
    if ready:
        await client.set_state("ready")
    return client


async def agent_events(client: AgentClient, chat_id: str) -> list[JsonObject]:
    return [e["event"] for e in await client.events(chat_id)]


def names(events: list[JsonObject]) -> list[str]:
    return [str(e["event"]) for e in events]


async def poll(client: CustomerClient, chat_id: str) -> list[JsonObject]:
    """One poll; every event must pass the strict mobile decoders (or, for web, Android's per event)."""
    events = await client.poll(chat_id)
    if client.client_id == "WebChat":
        problems = [p for e in events if e["event"].startswith("chat_session_") for p in check_android(e)]
    else:
        problems = check_mobile_batch(events)
    assert problems == [], problems
    return events


async def request(client: CustomerClient, **parameters: Any) -> tuple[str, JsonObject]:
    ticket = await client.request_chat(parameters)
    assert check_chat_ticket(ticket) == []
    return str(ticket["chat_id"]), ticket


async def answer(client: CustomerClient, chat_id: str, form: JsonObject, data: JsonObject) -> JsonObject:
    return await client.send_events(chat_id, {"event": "chat_session_form_data",
                                              "form_request_id": form["form_request_id"],
                                              "form_name": form["form_name"], "data": data})


async def refused(client: CustomerClient, chat_id: str, form: JsonObject, data: JsonObject) -> str:
    with pytest.raises(ClientError) as raised:
        await answer(client, chat_id, form, data)
    assert (raised.value.status, raised.value.error_code) == (400, "5003")
    return raised.value.error_message


def messages(events: list[JsonObject]) -> list[str]:
    return [str(e["msg_text"]) for e in events if e["event"] == "chat_session_message"]


async def session_of(live: LiveServer, chat_id: str) -> Any:
    async with live.frontdesk.storage.read() as tx:
        return await tx.sessions.get(chat_id)


# ---- say, form, branch, route ---------------------------------------------------------------------------------


async def test_greet_ask_branch_and_route_with_the_exact_events(start_server: StartServer) -> None:
    live = await serve(start_server, settings(
        step("say", "Hello {param.first_name}!"),
        step("form", "topic", "ask", timeout_secs=120, on_timeout="general"),
        step("branch", [{"field": "form.topic.topic", "equals": "billing", "goto": "billing"},
                        {"field": "form.topic.topic", "equals": "tech", "goto": "tech"}], otherwise="general"),
        step("route", "billing", "billing", priority=7),
        step("route", "tech", "tech", skills={"tech": 3}),
        step("route", "general", "general"),
    ))
    client = customer(live)
    chat_id, ticket = await request(client, first_name="Ada")
    assert (ticket["state"], ticket["ewt"], ticket["is_new_chat"]) == ("ivr", "0", True)
    shown = await poll(client, chat_id)
    assert names(shown) == ["chat_session_status", "chat_session_party_joined", "chat_session_message",
                            "chat_session_form_show"]
    status, joined, hello, form = shown
    assert (status["state"], status["ewt"]) == ("ivr", "0")
    assert (joined["type"], joined["display_name"]) == ("scenario", "Robo")
    assert (hello["party_id"], hello["msg_text"]) == (joined["party_id"], "Hello Ada!")
    assert form == {"event": "chat_session_form_show", "party_id": joined["party_id"],
                    "form_request_id": form["form_request_id"], "form_name": "topic", "form_timeout": 120,
                    "channel": "mobile", "timestamp": str(int(MORNING))}
    assert (await client.active_chat())["state"] == "ivr"

    assert await answer(client, chat_id, form, {"topic": "billing"}) == {"events": []}
    queued = await poll(client, chat_id)
    assert queued == [{"event": "chat_session_status", "state": "queued", "ewt": "0"}]
    session = await session_of(live, chat_id)
    assert (session.state, session.queue_id, session.priority) == ("queued", "billing", 7)
    assert session.scenario["vars"] == {"form.topic.topic": "billing"}
    assert session.scenario["done"] is True

    anna = await agent(live)  # anna has the billing skill
    await anna.accept(chat_id)
    connected = await poll(client, chat_id)
    assert names(connected) == ["chat_session_status", "chat_session_party_left", "chat_session_party_joined",
                                "chat_session_status"]
    assert connected[0]["state"] == "connecting"
    assert connected[1]["party_id"] == joined["party_id"]  # the scenario party hands over
    assert (connected[2]["type"], connected[2]["first_name"], connected[3]["state"]) == ("internal", "Anna",
                                                                                          "connected")
    # the agent sees the answer in the chat's log
    answers = [e for e in await agent_events(anna, chat_id) if e["event"] == "chat_session_form_data"]
    assert [a["data"] for a in answers] == [{"topic": "billing"}]
    await client.aclose()
    await anna.aclose()


async def test_route_step_skills_select_the_agent(start_server: StartServer) -> None:
    live = await serve(start_server, settings(
        step("form", "topic"),
        step("branch", [{"field": "form.topic.topic", "in": ["tech", "other"], "goto": "tech"}]),
        step("route", "general"),
        step("route", "general", "tech", skills={"tech": 3}),
    ))
    anna = await agent(live)  # general and billing, no tech
    client = customer(live)
    chat_id, _ = await request(client)
    form = (await poll(client, chat_id))[-1]
    await answer(client, chat_id, form, {"topic": "tech"})
    assert await anna.offers() == []  # anna lacks the step's tech skill
    session = await session_of(live, chat_id)
    assert (session.state, session.queue_id, session.required_skills) == ("queued", "general", {"tech": 3})
    tom = await agent(live, "tom")
    assert [o["chat_id"] for o in await tom.offers()] == [chat_id]
    await client.aclose()
    await anna.aclose()
    await tom.aclose()


async def test_default_scenario_keeps_the_welcome_then_queue_sequence(start_server: StartServer) -> None:
    live = await serve(start_server, settings(welcome="Welcome!"))
    client = customer(live)
    chat_id, ticket = await request(client)
    assert ticket["state"] == "queued"
    events = await poll(client, chat_id)
    assert names(events) == ["chat_session_party_joined", "chat_session_message", "chat_session_status"]
    assert messages(events) == ["Welcome!"]
    assert events[2]["state"] == "queued"
    await client.aclose()


# ---- branch operators and fields --------------------------------------------------------------------------

BRANCH_CASES = [
    pytest.param({"field": "param.tier", "equals": "gold"}, {"tier": "gold"}, "hit", id="equals"),
    pytest.param({"field": "param.tier", "equals": "gold"}, {"tier": "Gold"}, "miss", id="equals-exact"),
    pytest.param({"field": "param.tier", "not_equals": "gold"}, {"tier": "silver"}, "hit", id="not_equals"),
    pytest.param({"field": "param.tier", "not_equals": "gold"}, {"tier": "gold"}, "miss", id="not_equals-same"),
    pytest.param({"field": "param.tier", "not_equals": "gold"}, {}, "miss", id="not_equals-absent"),
    pytest.param({"field": "param.tier", "in": ["gold", "platinum"]}, {"tier": "platinum"}, "hit", id="in"),
    pytest.param({"field": "param.tier", "in": ["gold", "platinum"]}, {"tier": "bronze"}, "miss", id="in-not"),
    pytest.param({"field": "param.spend", "above": 100}, {"spend": "250"}, "hit", id="above"),
    pytest.param({"field": "param.spend", "above": 100}, {"spend": "100"}, "miss", id="above-equal"),
    pytest.param({"field": "param.spend", "above": 100}, {"spend": "lots"}, "miss", id="above-not-a-number"),
    pytest.param({"field": "param.spend", "below": 10.5}, {"spend": "10"}, "hit", id="below"),
    pytest.param({"field": "param.spend", "below": 10}, {"spend": "10"}, "miss", id="below-equal"),
    pytest.param({"field": "param.vip", "present": True}, {"vip": "yes"}, "hit", id="present"),
    pytest.param({"field": "param.vip", "present": True}, {"vip": ""}, "miss", id="present-empty"),
    pytest.param({"field": "param.vip", "present": False}, {}, "hit", id="present-false"),
    pytest.param({"field": "param.count", "equals": 3}, {"count": "3"}, "hit", id="equals-number-as-text"),
    pytest.param({"field": "param.flag", "equals": True}, {"flag": "true"}, "hit", id="equals-bool-as-text"),
    pytest.param({"field": "hours", "equals": "open"}, {}, "hit", id="hours-open"),
    pytest.param({"field": "client", "equals": "mobile"}, {}, "hit", id="client"),
    pytest.param({"field": "case", "present": False}, {}, "hit", id="case-absent"),
    pytest.param({"field": "agents.general", "equals": 0}, {}, "hit", id="agents-none"),
    pytest.param({"field": "agents.general", "above": 0}, {}, "miss", id="agents-above"),
    pytest.param({"field": "ewt.general", "below": 1_000_000}, {}, "miss", id="ewt-unknown-not-comparable"),
    pytest.param({"field": "ewt.general", "present": False}, {}, "hit", id="ewt-unknown-absent"),
    pytest.param({"field": "nonsense.field", "present": False}, {}, "hit", id="unknown-field"),
]


@pytest.mark.parametrize(("rule", "parameters", "outcome"), BRANCH_CASES)
async def test_branch_operators(start_server: StartServer, rule: JsonObject, parameters: JsonObject,
                                outcome: str) -> None:
    live = await serve(start_server, settings(
        step("branch", [{**rule, "goto": "hit"}], otherwise="miss"),
        step("end", "hit", "hit"),
        step("end", "miss", "miss"),
    ))
    client = customer(live)
    chat_id, ticket = await request(client, **parameters)
    assert ticket["state"] == "failed"  # ended before any agent: lifecycle calls that failed
    events = await poll(client, chat_id)
    assert messages(events) == [outcome]
    assert names(events)[-2:] == ["chat_session_party_left", "chat_session_ended"]
    await client.aclose()


async def test_branch_rules_in_order_first_match_wins_and_no_otherwise_falls_through(
        start_server: StartServer) -> None:
    live = await serve(start_server, settings(
        step("branch", [{"field": "param.a", "present": True, "goto": "first"},
                        {"field": "param.b", "present": True, "goto": "second"}]),
        step("end", "none"),
        step("end", "first", "first"),
        step("end", "second", "second"),
    ))
    for parameters, expected in (({"a": "1", "b": "1"}, "first"), ({"b": "1"}, "second"), ({}, "none")):
        client = customer(live, f"order-{expected}")
        chat_id, _ = await request(client, **parameters)
        assert messages(await poll(client, chat_id)) == [expected]
        await client.aclose()


async def test_branch_on_hours_estimate_staffing_client_and_case(start_server: StartServer) -> None:
    live = await serve(start_server, settings(
        step("set_case", "{param.account}"),
        step("branch", [{"field": "hours", "equals": "closed", "goto": "closed"}]),
        step("branch", [{"field": "ewt.general", "below": 60, "goto": "fast"}]),
        step("say", "slow"),
        step("goto", "who", "fast-label-unused"),
        step("say", "fast", "fast"),
        step("say", "{agents.general} agent(s), {client} client, case {case}", "who"),
        step("branch", [{"field": "case", "equals": "A-1", "goto": "known"}]),
        step("end", "unknown case"),
        step("end", "known case", "known"),
        step("end", "closed", "closed"),
    hours="office"), at=MORNING)
    anna = await agent(live)  # ready with a free slot: a new chat would wait 0 s
    web = CustomerClient(live.base_url, app_id=APP, client_id="WebChat", tenant_url=TENANT)
    chat_id, _ = await request(web, account="A-1")
    events = await poll(web, chat_id)
    assert messages(events) == ["fast", "1 agent(s), web client, case A-1", "known case"]
    case_set = [e for e in events if e["event"] == "chat_session_case_set"]
    assert [c["case_id"] for c in case_set] == ["A-1"]
    await web.aclose()
    await anna.aclose()
    # the same scenario at night: the hours are closed
    live.clock.advance(12 * 3600)
    night = customer(live, "night-1")
    chat_id, _ = await request(night, account="A-2")
    assert messages(await poll(night, chat_id)) == ["closed"]
    await night.aclose()


# ---- forms: answer, cancel, timeout, validation --------------------------------------------------------------

FORM_FLOW = (
    step("form", "topic", "ask", timeout_secs=60, on_timeout="fallback"),
    step("end", "answered {form.topic.topic}"),
    step("end", "fell back", "fallback"),
)


async def test_form_cancel_jumps_to_on_timeout(start_server: StartServer) -> None:
    live = await serve(start_server, settings(*FORM_FLOW))
    web = CustomerClient(live.base_url, app_id=APP, client_id="WebChat", tenant_url=TENANT)
    chat_id, _ = await request(web)
    form = (await poll(web, chat_id))[-1]
    assert (form["event"], form["channel"]) == ("chat_session_form_show", "web")
    await web.send_events(chat_id, {"event": "chat_form_data_cancel", "form_request_id": form["form_request_id"],
                                    "form_name": "topic"})
    events = await poll(web, chat_id)
    assert messages(events) == ["fell back"]
    assert names(events)[-1] == "chat_session_ended"
    await web.aclose()


async def test_secure_form_cancel_jumps_too(start_server: StartServer) -> None:
    live = await serve(start_server, settings(*FORM_FLOW))
    client = customer(live)
    chat_id, _ = await request(client)
    form = (await poll(client, chat_id))[-1]
    await client.send_events(chat_id, {"event": "chat_session_secure_form_cancel",
                                       "form_request_id": form["form_request_id"], "form_name": "topic"})
    assert messages(await poll(client, chat_id)) == ["fell back"]
    await client.aclose()


async def test_form_timeout_jumps_to_on_timeout_and_a_late_answer_is_refused(start_server: StartServer) -> None:
    live = await serve(start_server, settings(*FORM_FLOW))
    client = customer(live)
    chat_id, _ = await request(client)
    form = (await poll(client, chat_id))[-1]
    assert await live.advance(59) == 0
    assert await live.advance(1) == 1
    events = await poll(client, chat_id)
    assert messages(events) == ["fell back"]
    assert names(events) == ["chat_session_message", "chat_session_party_left", "chat_session_ended"]
    with pytest.raises(ClientError) as raised:
        await answer(client, chat_id, form, {"topic": "tech"})
    assert raised.value.error_code == "5005"  # the chat is over
    await client.aclose()


async def test_answer_after_the_timeout_is_refused_while_the_scenario_went_on(start_server: StartServer) -> None:
    live = await serve(start_server, settings(
        step("form", "topic", timeout_secs=30),
        step("say", "moving on"),
        step("form", "survey", timeout_secs=300),
    ))
    client = customer(live)
    chat_id, _ = await request(client)
    first = (await poll(client, chat_id))[-1]
    assert await live.advance(30) == 1  # no on_timeout: the next step
    events = await poll(client, chat_id)
    assert names(events) == ["chat_session_message", "chat_session_form_show"]
    assert events[1]["form_name"] == "survey"
    assert "expired" in await refused(client, chat_id, first, {"topic": "tech"})
    assert await poll(client, chat_id) == []
    session = await session_of(live, chat_id)
    assert session.scenario["waiting_form"] == events[1]["form_request_id"]
    assert "form.topic.topic" not in session.scenario["vars"]
    await client.aclose()


async def test_answer_twice_is_refused_and_changes_nothing(start_server: StartServer) -> None:
    live = await serve(start_server, settings(
        step("form", "topic"),
        step("form", "survey"),
    ))
    client = customer(live)
    chat_id, _ = await request(client)
    form = (await poll(client, chat_id))[-1]
    await answer(client, chat_id, form, {"topic": "other"})
    second = await poll(client, chat_id)
    assert [e["form_name"] for e in second] == ["survey"]
    before = await session_of(live, chat_id)
    assert "already answered" in await refused(client, chat_id, form, {"topic": "tech"})
    after = await session_of(live, chat_id)
    assert after.scenario == before.scenario and after.last_seq == before.last_seq
    assert after.scenario["vars"] == {"form.topic.topic": "other"}
    await client.aclose()


@pytest.mark.parametrize(("data", "complaint"), [
    ({}, "'E-mail' (email) is required"),
    ({"email": "ada@example.com", "message": "  "}, "'Message' (message) is required"),
    ({"email": "not-an-address", "message": "hi"}, "must be an email address"),
    ({"email": "ada@example.com", "message": {"nested": 1}}, "must be a single value"),
])
async def test_invalid_answer_is_refused_and_the_form_stays_pending(start_server: StartServer, data: JsonObject,
                                                                   complaint: str) -> None:
    live = await serve(start_server, settings(step("form", "contact"), step("end", "got {form.contact.email}")))
    client = customer(live)
    chat_id, _ = await request(client)
    form = (await poll(client, chat_id))[-1]
    assert complaint in await refused(client, chat_id, form, data)
    assert await poll(client, chat_id) == []
    session = await session_of(live, chat_id)
    assert (session.state, session.scenario["waiting_form"]) == ("ivr", form["form_request_id"])
    async with live.frontdesk.storage.read() as tx:
        stored = await tx.forms.get(chat_id, form["form_request_id"])
    assert stored is not None and stored.state == "pending"
    # it can then be answered
    await answer(client, chat_id, form, {"email": "ada@example.com", "message": "hello"})
    assert messages(await poll(client, chat_id)) == ["got ada@example.com"]
    await client.aclose()


@pytest.mark.parametrize(("form_name", "data", "ok"), [
    ("topic", {"topic": "sales"}, False),
    ("topic", {"topic": "tech"}, True),
    ("survey", {"rating": "11"}, False),
    ("survey", {"rating": 4.5}, False),
    ("survey", {"rating": "4", "extra": "kept"}, True),
])
async def test_choice_and_rating_values_are_checked(start_server: StartServer, form_name: str, data: JsonObject,
                                                    ok: bool) -> None:
    live = await serve(start_server, settings(step("form", form_name), step("end", "done")))
    client = customer(live)
    chat_id, _ = await request(client)
    form = (await poll(client, chat_id))[-1]
    if ok:
        await answer(client, chat_id, form, data)
        assert messages(await poll(client, chat_id)) == ["done"]
    else:
        await refused(client, chat_id, form, data)
        assert await poll(client, chat_id) == []
    await client.aclose()


async def test_text_form_is_answered_by_the_next_message(start_server: StartServer) -> None:
    scenario = (step("say", "What is your order number?"), step("form", ""), step("end", "Looking up {form..text}"))
    live = await serve(start_server, settings(*scenario))
    # a mobile client only sends the message
    client = customer(live)
    chat_id, _ = await request(client)
    assert (await poll(client, chat_id))[-1]["form_name"] == ""
    await client.send_message(chat_id, "A-42")
    assert messages(await poll(client, chat_id)) == ["Looking up A-42"]
    await client.aclose()
    # the web widget sends the message and then form_data {text}: the second is not an error
    web = CustomerClient(live.base_url, app_id=APP, client_id="WebChat", tenant_url=TENANT)
    chat_id, _ = await request(web)
    form = (await poll(web, chat_id))[-1]
    await web.send_events(chat_id, {"event": "chat_session_message", "msg": "B-7", "msg_id": "1"},
                          {"event": "chat_session_form_data", "form_request_id": form["form_request_id"],
                           "form_name": "", "data": {"text": "B-7"}})
    assert messages(await poll(web, chat_id)) == ["Looking up B-7"]
    await web.aclose()


async def test_location_request_form(start_server: StartServer) -> None:
    live = await serve(start_server, settings(step("form", "RequestLocation"),
                                              step("end", "You are at {form.RequestLocation.location_lat}")))
    client = customer(live)
    chat_id, _ = await request(client)
    form = (await poll(client, chat_id))[-1]
    assert form["form_name"] == "RequestLocation"
    await answer(client, chat_id, form, {"location_lat": "52.5", "location_lon": "13.4", "location_url": ""})
    assert messages(await poll(client, chat_id)) == ["You are at 52.5"]
    await client.aclose()


# ---- route fallbacks ----------------------------------------------------------------------------------------


async def test_closed_hours_without_a_label_fail_the_chat(start_server: StartServer) -> None:
    live = await serve(start_server, settings(hours="office", welcome="Hi!"), at=NIGHT)
    client = customer(live)
    chat_id, ticket = await request(client)
    assert ticket["state"] == "failed"
    events = await poll(client, chat_id)
    assert names(events) == ["chat_session_party_joined", "chat_session_message", "chat_session_message",
                             "chat_session_status", "chat_session_party_left", "chat_session_ended"]
    assert messages(events) == ["Hi!", CLOSED_MESSAGE]
    assert events[3] == {"event": "chat_session_status", "state": "failed", "ewt": "0"}
    assert (await session_of(live, chat_id)).end_reason == "closed"
    await client.aclose()


async def test_closed_hours_jump_to_if_closed(start_server: StartServer) -> None:
    live = await serve(start_server, settings(
        step("route", "general", if_closed="closed"),
        step("end", "We are closed until 9:00.", "closed"),
    hours="office"), at=NIGHT)
    client = customer(live)
    chat_id, _ = await request(client)
    assert messages(await poll(client, chat_id)) == ["We are closed until 9:00."]
    await client.aclose()


async def test_no_agents_logged_in_jumps_to_if_no_agents_else_queues(start_server: StartServer) -> None:
    live = await serve(start_server, settings(
        step("route", "tech", if_no_agents="nobody"),
        step("say", "Nobody is here, we queue you anyway.", "nobody"),
        step("route", "tech"),
    ))
    anna = await agent(live)  # logged in, but without the tech skill
    client = customer(live)
    chat_id, ticket = await request(client)
    assert ticket["state"] == "queued"  # the second route has no label: it queues
    events = await poll(client, chat_id)
    assert messages(events) == ["Nobody is here, we queue you anyway."]
    assert events[-1] == {"event": "chat_session_status", "state": "queued", "ewt": "0"}
    tom = await agent(live, "tom", ready=False)  # logged in (not ready) with tech: the label is not taken
    second = customer(live, "phone-2")
    chat_id, ticket = await request(second)
    assert ticket["state"] == "queued"
    assert messages(await poll(second, chat_id)) == []
    for client_ in (client, second):
        await client_.aclose()
    await anna.aclose()
    await tom.aclose()


async def test_a_long_estimate_offers_to_leave_a_message(start_server: StartServer) -> None:
    live = await serve(start_server, settings(
        step("route", "general", on_ewt_above="busy", ewt_above_secs=300),
        step("say", "All agents are busy (about {ewt.general}).", "busy"),
        step("leave_message", "contact", timeout_secs=600),
    ))
    anna = await agent(live)  # one chat at a time
    first = customer(live, "phone-1")
    first_id, ticket = await request(first)
    assert ticket["state"] == "connecting"  # offered to anna at once: no wait
    await anna.accept(first_id)
    live.clock.advance(60)
    second = customer(live, "phone-2")
    second_id, ticket = await request(second)
    assert ticket["state"] == "ivr"  # anna is busy: ~10 minutes of her handle time prior remain
    events = await poll(second, second_id)
    assert names(events)[-1] == "chat_session_form_show"
    [busy] = messages(events)
    assert busy.startswith("All agents are busy (about ") and busy.endswith(" minutes).")
    assert int(busy.removeprefix("All agents are busy (about ").split()[0]) > 5  # over 300 s, in minutes
    await first.aclose()
    await second.aclose()
    await anna.aclose()


# ---- leave a message -----------------------------------------------------------------------------------------


async def test_leave_a_message_out_of_hours_is_stored_for_agents(start_server: StartServer) -> None:
    live = await serve(start_server, settings(
        step("route", "billing", if_closed="closed"),
        step("say", "We are closed. Leave us a message?", "closed"),
        step("leave_message", "contact", say_after="Thanks {param.first_name}, we will write to you."),
    hours="office"), at=NIGHT)
    client = customer(live)
    chat_id, ticket = await request(client, first_name="Ada")
    assert ticket["state"] == "ivr"
    events = await poll(client, chat_id)
    assert names(events) == ["chat_session_status", "chat_session_party_joined", "chat_session_message",
                             "chat_session_form_show"]
    form = events[-1]
    assert (form["form_name"], form["form_timeout"]) == ("contact", 600)
    await refused(client, chat_id, form, {"email": "ada@example.com"})
    async with live.frontdesk.storage.read() as tx:
        assert await tx.left_messages.list_for_tenant(TENANT, include_handled=True) == []
    await answer(client, chat_id, form, {"email": "ada@example.com", "message": "Please call me back."})
    events = await poll(client, chat_id)
    assert names(events) == ["chat_session_message", "chat_session_party_left", "chat_session_ended"]
    assert messages(events) == ["Thanks Ada, we will write to you."]
    async with live.frontdesk.storage.read() as tx:
        [left] = await tx.left_messages.list_for_tenant(TENANT, include_handled=False)
    assert (left.chat_id, left.queue_id, left.tenant, left.created_at) == (chat_id, "billing", TENANT, NIGHT)
    assert left.data == {"email": "ada@example.com", "message": "Please call me back."}
    assert len(left.message_id) == 32 and left.handled_at is None
    assert (await session_of(live, chat_id)).end_reason == "left_message"
    await client.aclose()


@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_leave_a_message_not_left_ends_the_chat(start_server: StartServer, how: str) -> None:
    live = await serve(start_server, settings(step("leave_message", "contact", timeout_secs=120)))
    client = customer(live)
    chat_id, _ = await request(client)
    form = (await poll(client, chat_id))[-1]
    if how == "timeout":
        assert await live.advance(120) == 1
    else:
        await client.send_events(chat_id, {"event": "chat_form_data_cancel",
                                           "form_request_id": form["form_request_id"], "form_name": "contact"})
    assert names(await poll(client, chat_id)) == ["chat_session_party_left", "chat_session_ended"]
    async with live.frontdesk.storage.read() as tx:
        assert await tx.left_messages.list_for_tenant(TENANT, include_handled=True) == []
    await client.aclose()


async def test_leave_message_default_thanks(start_server: StartServer) -> None:
    live = await serve(start_server, settings(step("leave_message", "contact")))
    client = customer(live)
    chat_id, _ = await request(client)
    form = (await poll(client, chat_id))[-1]
    await answer(client, chat_id, form, {"email": "a@b.example", "message": "x"})
    assert messages(await poll(client, chat_id)) == [DEFAULT_SAY_AFTER]
    async with live.frontdesk.storage.read() as tx:
        [left] = await tx.left_messages.list_for_tenant(TENANT, include_handled=False)
    assert left.queue_id == "general"  # no route step ran: the session's (the entry's) queue
    await client.aclose()


# ---- cases ---------------------------------------------------------------------------------------------------


async def test_set_case_links_two_chats_of_the_same_client(start_server: StartServer) -> None:
    live = await serve(start_server, settings(step("set_case", "{param.account}"), step("say", "Case {case}"),
                                              step("route", "general")))
    client = customer(live, "phone-case")
    first_id, _ = await request(client, account="C-100")
    first = await poll(client, first_id)
    assert [e for e in first if e["event"] == "chat_session_case_set"] == [
        {"event": "chat_session_case_set", "case_id": "C-100", "timestamp": str(int(MORNING))}]
    assert messages(first) == ["Case C-100"]
    await client.end(first_id)
    live.clock.advance(3600)
    second_id, _ = await request(client, account="C-100")
    await poll(client, second_id)
    history = await client.case_history(second_id)
    assert [s["chat_id"] for s in history["sessions"]] == [first_id, second_id]
    assert [s["created_time"] for s in history["sessions"]] == [str(int(MORNING)), str(int(MORNING + 3600))]
    # another account: another case
    other = customer(live, "phone-other")
    other_id, _ = await request(other, account="C-200")
    assert [s["chat_id"] for s in (await other.case_history(other_id))["sessions"]] == [other_id]
    await client.aclose()
    await other.aclose()


async def test_set_case_new_generates_an_id_and_an_empty_template_clears_it(start_server: StartServer) -> None:
    live = await serve(start_server, settings(step("set_case", "new"), step("say", "{case}"),
                                              step("set_case", "{param.nothing}"), step("route", "general")))
    client = customer(live)
    chat_id, _ = await request(client)
    events = await poll(client, chat_id)
    cases = [e["case_id"] for e in events if e["event"] == "chat_session_case_set"]
    assert len(cases) == 2 and len(cases[0]) == 32 and cases[1] == ""
    assert messages(events) == [cases[0]]
    assert (await session_of(live, chat_id)).case_id == ""
    await client.aclose()


# ---- fail, end, goto, templates, loop guard -------------------------------------------------------------------


async def test_fail_step(start_server: StartServer) -> None:
    live = await serve(start_server, settings(step("fail", "Sorry {param.first_name}, not today.")))
    client = customer(live)
    chat_id, ticket = await request(client, first_name="Ada")
    assert ticket["state"] == "failed"
    events = await poll(client, chat_id)
    assert names(events) == ["chat_session_status", "chat_session_party_joined", "chat_session_message",
                             "chat_session_status", "chat_session_party_left", "chat_session_ended"]
    assert messages(events) == ["Sorry Ada, not today."]
    assert [e["state"] for e in events if e["event"] == "chat_session_status"] == ["ivr", "failed"]
    assert (await session_of(live, chat_id)).end_reason == "scenario_failed"
    await client.aclose()


async def test_end_step_without_text_and_unknown_templates(start_server: StartServer) -> None:
    live = await serve(start_server, settings(step("say", "[{param.missing}{unknown}{form.x.y}{ewt.general}]"),
                                              step("say", "{param.first_name}"),  # empty: nothing said
                                              step("end", "")))
    client = customer(live)
    chat_id, _ = await request(client)
    events = await poll(client, chat_id)
    assert messages(events) == ["[]"]
    assert names(events)[-2:] == ["chat_session_party_left", "chat_session_ended"]
    assert (await session_of(live, chat_id)).end_reason == "scenario_end"
    await client.aclose()


async def test_running_out_of_steps_routes_to_the_entry_queue(start_server: StartServer) -> None:
    live = await serve(start_server, settings(step("say", "Let me find someone.")))
    client = customer(live)
    chat_id, ticket = await request(client)
    assert ticket["state"] == "queued"
    assert names(await poll(client, chat_id))[-1] == "chat_session_status"
    assert (await session_of(live, chat_id)).queue_id == "general"
    await client.aclose()


async def test_loop_guard_fails_the_chat(start_server: StartServer, caplog: pytest.LogCaptureFixture) -> None:
    live = await serve(start_server, settings(
        step("say", "Thinking..."),
        step("goto", "b", "a"),
        step("goto", "a", "b"),
    ))
    client = customer(live)
    with caplog.at_level(logging.ERROR, logger="frontdesk.domain.scenario"):
        chat_id, ticket = await request(client)
    assert ticket["state"] == "failed"
    assert any(f"executed {MAX_STEPS_PER_ADVANCE} steps" in r.getMessage() for r in caplog.records)
    events = await poll(client, chat_id)
    assert messages(events) == ["Thinking...", BROKEN_MESSAGE]
    assert [e["state"] for e in events if e["event"] == "chat_session_status"] == ["ivr", "failed"]
    assert (await session_of(live, chat_id)).end_reason == "scenario_loop"
    await client.aclose()


async def test_a_long_but_finite_scenario_is_not_a_loop(start_server: StartServer) -> None:
    steps = [step("say", f"line {i}") for i in range(MAX_STEPS_PER_ADVANCE - 1)]
    live = await serve(start_server, settings(*steps, step("end", "done")))
    client = customer(live)
    chat_id, _ = await request(client)
    said = messages(await poll(client, chat_id))
    assert said[-1] == "done" and len(said) == MAX_STEPS_PER_ADVANCE
    await client.aclose()


# ---- survey after disconnect --------------------------------------------------------------------------------

SURVEY = (
    step("form", "survey", timeout_secs=120),
    step("say", "Thanks for rating us {form.survey.rating}!"),
)


async def connected(live: LiveServer, client: CustomerClient) -> tuple[str, AgentClient, JsonObject]:
    anna = await agent(live)
    chat_id, _ = await request(client)
    await anna.accept(chat_id)
    events = await poll(client, chat_id)
    joined = next(e for e in events if e["event"] == "chat_session_party_joined" and e["type"] == "internal")
    assert events[-1] == {"event": "chat_session_status", "state": "connected", "ewt": "0"}
    return chat_id, anna, joined


async def test_survey_after_the_customer_disconnects(start_server: StartServer) -> None:
    live = await serve(start_server, settings(survey=SURVEY, welcome="Hi"))
    client = customer(live)
    chat_id, anna, agent_party = await connected(live, client)
    await anna.send_message(chat_id, "Anything else?")
    await client.send_events(chat_id, {"event": "chat_session_disconnect"})
    events = await poll(client, chat_id)
    assert names(events) == ["chat_session_message", "chat_session_party_left", "chat_session_status",
                             "chat_session_party_joined", "chat_session_form_show"]
    assert (events[1]["party_id"], events[1]["type"]) == (agent_party["party_id"], "internal")
    assert events[2] == {"event": "chat_session_status", "state": "ivr", "ewt": "0"}
    bot = events[3]
    assert (bot["type"], bot["display_name"]) == ("scenario", "Robo")
    assert (events[4]["form_name"], events[4]["party_id"]) == ("survey", bot["party_id"])
    # the agent is out of the chat and free for the next one
    assert await anna.chats() == []
    seen = names(await agent_events(anna, chat_id))
    assert seen[-5:] == ["chat_session_disconnect", "chat_session_party_left", "chat_session_status",
                         "chat_session_party_joined", "chat_session_form_show"]
    # no inactivity timers run during the survey
    assert await live.advance(119) == 0
    await answer(client, chat_id, events[4], {"rating": 5, "comment": "great"})
    events = await poll(client, chat_id)
    assert names(events) == ["chat_session_message", "chat_session_party_left", "chat_session_ended"]
    assert messages(events) == ["Thanks for rating us 5!"]
    session = await session_of(live, chat_id)
    assert (session.state, session.end_reason, session.terminal) == ("completed", "customer_disconnect", True)
    assert session.scenario["phase"] == "survey"
    await client.aclose()
    await anna.aclose()


async def test_survey_timeout_still_ends_the_chat(start_server: StartServer) -> None:
    live = await serve(start_server, settings(survey=SURVEY))
    client = customer(live)
    chat_id, anna, _ = await connected(live, client)
    await client.send_events(chat_id, {"event": "chat_session_disconnect"})
    await poll(client, chat_id)
    assert await live.advance(120) == 1
    events = await poll(client, chat_id)
    assert messages(events) == ["Thanks for rating us !"]
    assert names(events)[-1] == "chat_session_ended"
    await client.aclose()
    await anna.aclose()


async def test_disconnect_before_an_agent_connected_ends_without_survey(start_server: StartServer) -> None:
    live = await serve(start_server, settings(survey=SURVEY))
    client = customer(live)
    chat_id, _ = await request(client)
    await poll(client, chat_id)
    await client.send_events(chat_id, {"event": "chat_session_disconnect"})
    events = await poll(client, chat_id)
    assert names(events) == ["chat_session_ended"]
    await client.aclose()


async def test_disconnect_without_a_survey_ends_as_before(start_server: StartServer) -> None:
    live = await serve(start_server, settings())
    client = customer(live)
    chat_id, anna, _ = await connected(live, client)
    await client.send_events(chat_id, {"event": "chat_session_disconnect"})
    assert names(await poll(client, chat_id)) == ["chat_session_party_left", "chat_session_ended"]
    assert (await session_of(live, chat_id)).end_reason == "customer_disconnect"
    await client.aclose()
    await anna.aclose()


async def test_the_agent_freed_by_a_survey_gets_the_next_chat(start_server: StartServer) -> None:
    live = await serve(start_server, settings(survey=SURVEY))
    first = customer(live, "phone-1")
    first_id, anna, _ = await connected(live, first)  # anna takes one chat at a time
    second = customer(live, "phone-2")
    second_id, ticket = await request(second)
    assert ticket["state"] == "queued"
    await first.send_events(first_id, {"event": "chat_session_disconnect"})
    assert [o["chat_id"] for o in await anna.offers()] == [second_id]
    await first.aclose()
    await second.aclose()
    await anna.aclose()


# ---- restart -------------------------------------------------------------------------------------------------


async def test_a_restart_resumes_a_waiting_scenario(start_server: StartServer, tmp_path: Path) -> None:
    config = settings(*FORM_FLOW)
    data_dir = tmp_path / "restart"
    clock = FakeClock(MORNING)
    live = await start_server(data_dir=data_dir, settings=config, clock=clock)
    answered, timed_out = customer(live, "phone-a"), customer(live, "phone-t")
    answered_id, _ = await request(answered)
    timed_out_id, _ = await request(timed_out)
    form = (await poll(answered, answered_id))[-1]
    await poll(timed_out, timed_out_id)
    await answered.aclose()
    await timed_out.aclose()
    await live.stop()

    live = await start_server(data_dir=data_dir, settings=config, clock=clock)
    answered, timed_out = customer(live, "phone-a"), customer(live, "phone-t")
    await answer(answered, answered_id, form, {"topic": "tech"})
    assert messages(await poll(answered, answered_id)) == ["answered tech"]
    assert await live.advance(60) == 1  # the other chat's form timer survived the restart
    assert messages(await poll(timed_out, timed_out_id)) == ["fell back"]
    await answered.aclose()
    await timed_out.aclose()


# ---- availability ---------------------------------------------------------------------------------------------


async def test_availability_follows_the_hours_not_the_agents(start_server: StartServer) -> None:
    live = await serve(start_server, settings(hours="office"), at=NIGHT)
    client = customer(live)
    assert await client.availability() == {"chat": "unavailable", "ewt": "0"}
    live.clock.advance(MORNING - NIGHT)
    # open, nobody logged in: still available (availability is hours only), no estimate
    assert await client.availability() == {"chat": "available", "ewt": "0"}
    anna = await agent(live)
    busy = customer(live, "phone-busy")
    busy_id, _ = await request(busy)
    await anna.accept(busy_id)
    live.clock.advance(60)
    body = await client.availability()
    assert body["chat"] == "available" and int(body["ewt"]) > 0  # anna is busy for a while
    await client.aclose()
    await busy.aclose()
    await anna.aclose()


async def test_availability_of_a_disabled_entry(start_server: StartServer) -> None:
    base = settings()
    tenant = base.contact_center.tenants[TENANT]
    disabled = replace(tenant, entries={APP: replace(tenant.entries[APP], enabled=False)})
    live = await serve(start_server, replace(base, contact_center=ContactCenterConfig({TENANT: disabled}, TENANT)))
    client = customer(live)
    assert await client.availability() == {"chat": "unavailable", "ewt": "0"}
    await client.aclose()


# ---- the worked example ------------------------------------------------------------------------------------


def test_the_worked_example_parses() -> None:
    config = load_settings(ROOT / "examples" / "support.toml")
    tenant = next(iter(config.contact_center.tenants.values()))
    entry = next(iter(tenant.entries.values()))
    assert entry.scenario in tenant.scenarios and entry.survey in tenant.scenarios and entry.hours in tenant.hours
    actions = {s.action for s in tenant.scenarios[entry.scenario].steps}
    assert {"say", "form", "branch", "route", "leave_message", "set_case", "goto"} <= actions


async def test_the_worked_example_runs(start_server: StartServer, http: httpx.AsyncClient) -> None:
    config = replace(load_settings(ROOT / "examples" / "support.toml"), poll_hold_secs=0.3)
    tenant = next(iter(config.contact_center.tenants.values()))
    entry = next(iter(tenant.entries.values()))
    # a Wednesday 10:00 in the example's time zone: open
    hours = tenant.hours[entry.hours]
    opening = dt.datetime(2026, 3, 4, 10, 0, tzinfo=ZoneInfo(hours.timezone)).timestamp()
    live = await start_server(settings=config, clock=FakeClock(opening))
    client = CustomerClient(live.base_url, app_id=entry.app_id, client_id="phone-x", tenant_url=tenant.name)
    chat_id, ticket = await request(client, first_name="Ada")
    assert ticket["state"] == "ivr"
    events = await poll(client, chat_id)
    form = events[-1]
    assert form["event"] == "chat_session_form_show" and form["form_name"] == "topic"
    await answer(client, chat_id, form, {"topic": "billing"})
    events = await poll(client, chat_id)
    assert names(events)[-1] in ("chat_session_status", "chat_session_form_show")
    await client.aclose()
