"""One chat from start to finish through the whole contact center, over real HTTP and WebSockets:
the worked example (examples/support.toml) with a customer, two agents and a supervisor.

Scenario (greeting, case, topic form) → billing queue → agent Anna (WebSocket) → supervisor monitors
and whispers → Anna invites Tom (conference) and leaves → the supervisor barges in → the customer
disconnects → post-chat survey → ended; wrap-ups and the queue report. Every event the customer
receives passes the strict Android and iOS decoders."""

from __future__ import annotations

import asyncio
import datetime
import zoneinfo
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from frontdesk.client import AgentClient, ClientError, CustomerClient
from frontdesk.client.agent import AgentLive
from frontdesk.domain.clock import FakeClock
from frontdesk.domain.config import AgentConfig
from frontdesk.settings import load_settings
from tests.conftest import TEST_HOLD_SECS, StartServer, cheap_hash
from tests.decoders import check_android, check_ios

JsonObject = dict[str, Any]
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "support.toml"
TENANT = "support.example.com"
MONDAY_10_BERLIN = datetime.datetime(2026, 11, 30, 10, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin")).timestamp()


async def next_event(ws: AgentLive, chat_id: str, name: str, **fields: str) -> JsonObject:
    """The next event of that name (and those field values) on an agent's WebSocket; other
    messages are skipped."""
    async with asyncio.timeout(5):
        while True:
            message = await ws.receive()
            event = message.get("event", {})
            if (message["type"] == "event" and message["chat_id"] == chat_id and event["event"] == name
                    and all(event.get(k) == v for k, v in fields.items())):
                return dict(event)


async def next_snapshot(ws: AgentLive, key: str, chat_id: str) -> JsonObject:
    async with asyncio.timeout(5):
        while True:
            message = await ws.receive()
            if message["type"] == "snapshot" and chat_id in [c["chat_id"] for c in message[key]]:
                return message


async def test_a_chat_through_the_whole_contact_center(start_server: StartServer) -> None:
    settings = load_settings(EXAMPLE)
    tenant = settings.contact_center.tenants[TENANT]
    supervisor = AgentConfig(username="sue", password_hash=cheap_hash("sue-pass"), first_name="Sue",
                             last_name="Park", display_name="Sue", role="supervisor")
    tenant = replace(tenant, agents=(*tenant.agents, supervisor))
    settings = replace(settings, contact_center=replace(settings.contact_center, tenants={TENANT: tenant}),
                       poll_hold_secs=TEST_HOLD_SECS)
    live = await start_server(settings=settings, clock=FakeClock(MONDAY_10_BERLIN))
    anna, tom, sue = AgentClient(live.base_url), AgentClient(live.base_url), AgentClient(live.base_url)
    await anna.login("anna", "change-me-anna")
    await tom.login("tom", "change-me-tom")
    await sue.login("sue", "sue-pass")
    await anna.set_state("ready")
    customer = CustomerClient(live.base_url, app_id="support", client_id="story-phone", tenant_url=TENANT)
    seen: list[JsonObject] = []

    async def inbox() -> list[JsonObject]:
        fresh = await customer.poll(chat_id)
        seen.extend(fresh)
        return fresh

    async with anna.live() as anna_ws, sue.live() as sue_ws:
        # 1. the scenario greets, sets the case from the account number and asks the topic
        ticket = await customer.request_chat({"first_name": "Ada", "account_number": "A-1"})
        chat_id = str(ticket["chat_id"])
        assert ticket["state"] == "ivr"
        opening = await inbox()
        assert [e["event"] for e in opening] == ["chat_session_status", "chat_session_party_joined",
                                                 "chat_session_message", "chat_session_case_set",
                                                 "chat_session_form_show"]
        assert opening[2]["msg_text"] == "Hello Ada! Welcome to Example support."
        assert opening[3]["case_id"] == "A-1" and opening[4]["form_name"] == "topic"
        await customer.send_events(chat_id, {"event": "chat_session_form_data", "form_name": "topic",
                                             "form_request_id": opening[4]["form_request_id"],
                                             "data": {"topic": "billing"}})
        # 2. billing queue → offered to Anna, the only billing agent, who accepts from her desktop
        offer = await next_snapshot(anna_ws, "offers", chat_id)
        assert offer["offers"][0]["parameters"]["first_name"] == "Ada"
        await anna.accept(chat_id)
        routed = await inbox()
        assert [e["event"] for e in routed] == ["chat_session_message", "chat_session_status",
                                                "chat_session_status", "chat_session_party_left",
                                                "chat_session_party_joined", "chat_session_status"]
        assert [e["state"] for e in routed if e["event"] == "chat_session_status"] == ["queued", "connecting",
                                                                                       "connected"]
        await customer.send_message(chat_id, "My invoice is wrong")
        assert await next_event(anna_ws, chat_id, "chat_session_message", msg_text="My invoice is wrong")
        # 3. the supervisor sees the chat, monitors it silently and whispers to Anna
        overview = await sue.overview()
        assert [c["chat_id"] for c in overview["chats"]] == [chat_id]
        await sue.monitor(chat_id)
        await sue.whisper(chat_id, "Offer the goodwill credit")
        assert (await next_event(anna_ws, chat_id, "frontdesk_whisper"))["msg"] == "Offer the goodwill credit"
        assert (await next_event(sue_ws, chat_id, "frontdesk_whisper"))["msg"] == "Offer the goodwill credit"
        assert await inbox() == []
        # 4. Anna brings in Tom, then leaves him with the customer
        await anna.invite(chat_id, "tom")
        async with tom.live() as tom_ws:
            await next_snapshot(tom_ws, "invitations", chat_id)
            await tom.join(chat_id)
            assert (await next_event(tom_ws, chat_id, "frontdesk_invited"))["agent_id"] == f"{TENANT}/tom"
        await anna.leave(chat_id)
        await tom.send_message(chat_id, "Tom here, I will take it from here.")
        # 5. the supervisor barges in
        await sue.barge(chat_id)
        await sue.send_message(chat_id, "Sue, team lead: the credit is approved.")
        conference = await inbox()
        assert [(e["event"], e.get("display_name") or e.get("msg_text")) for e in conference] == [
            ("chat_session_party_joined", "Tom"), ("chat_session_party_left", None),
            ("chat_session_message", "Tom here, I will take it from here."), ("chat_session_party_joined", "Sue"),
            ("chat_session_message", "Sue, team lead: the credit is approved.")]
        # 6. the customer disconnects: the agents leave, the survey runs, the chat ends
        await customer.send_events(chat_id, {"event": "chat_session_disconnect"})
        survey = await inbox()
        assert [e["event"] for e in survey] == ["chat_session_party_left", "chat_session_party_left",
                                                "chat_session_status", "chat_session_party_joined",
                                                "chat_session_form_show"]
        assert survey[-1]["form_name"] == "survey"
        await customer.send_events(chat_id, {"event": "chat_session_form_data", "form_name": "survey",
                                             "form_request_id": survey[-1]["form_request_id"],
                                             "data": {"rating": 5, "comment": "quick"}})
        closing = await inbox()
        assert [e.get("msg_text") for e in closing if e["event"] == "chat_session_message"] == [
            "Thanks for your rating!", "Goodbye!"]
        assert closing[-1]["event"] == "chat_session_ended"
    # 7. wrap-ups and the report
    assert (await anna.wrap_up(chat_id, "handed over"))["disposition"] == "handed over"
    assert (await tom.wrap_up(chat_id, "resolved", "goodwill credit"))["notes"] == "goodwill credit"
    report = await sue.report("queues")
    billing = next(row for row in report["queues"] if row["queue_id"] == "billing")
    assert (billing["offered"], billing["answered"]) == (1, 1)
    agents = {row["agent_id"]: row for row in (await sue.report("agents"))["agents"]}
    assert agents[f"{TENANT}/anna"]["accepted"] == 1
    # every event the customer received decodes on Android and iOS
    assert not [problem for event in seen for problem in check_android(event) + check_ios(event)]
    with pytest.raises(ClientError) as gone:  # delivered to the end: the chat is gone for the customer
        await customer.history(chat_id)
    assert gone.value.error_code == "5005"
    for client in (customer, anna, tom, sue):
        await client.aclose()
