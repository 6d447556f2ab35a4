"""Inactivity and form timers on the fake clock, observed over real HTTP by the customer and the agent."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from frontdesk.client import AgentClient, CustomerClient
from frontdesk.client.customer import ClientError
from frontdesk.domain.config import EntryConfig
from frontdesk.domain.lifecycle import AGENT_LOST, agent_key
from frontdesk.domain.timers import MAX_TIMER_FAILURES, retry_delay_secs
from frontdesk.storage.records import TimerRecord
from tests.conftest import LiveServer

JsonObject = dict[str, Any]

TENANT = {"tenantUrl": "demo.local"}


def demo_entry(live: LiveServer) -> EntryConfig:
    return live.frontdesk.settings.contact_center.tenants["demo.local"].entries["demo"]


def auth(client_id: str) -> dict[str, str]:
    return {"Authorization": f'MOBILE-API-140-327-PLAIN appId="demo", clientId="{client_id}"'}


def names(events: list[JsonObject]) -> list[str]:
    return [str(e["event"]) for e in events]


async def agent_events(agent: AgentClient, chat_id: str) -> list[JsonObject]:
    return [e["event"] for e in await agent.events(chat_id)]


async def connected_chat(live: LiveServer, client_id: str) -> tuple[CustomerClient, AgentClient, str]:
    """A chat the demo agent accepted, whose setup events the customer already received."""
    customer = live.customer(client_id=client_id)
    chat_id = str((await customer.request_chat({"first_name": "Ada"}))["chat_id"])
    agent = await live.agent()
    await agent.accept(chat_id)
    seen: list[JsonObject] = []
    for _ in range(10):
        seen += await customer.poll(chat_id)
        if any(e["event"] == "chat_session_status" and e["state"] == "connected" for e in seen):
            return customer, agent, chat_id
    pytest.fail(f"the chat never became connected: {seen}")


async def form_data(customer: CustomerClient, chat_id: str, form_request_id: int, form_name: str,
                    data: JsonObject) -> JsonObject:
    return await customer.send_events(chat_id, {"event": "chat_session_form_data", "form_request_id": form_request_id,
                                                "form_name": form_name, "data": data})


# ---- inactivity --------------------------------------------------------------------------------------


async def test_inactivity_warning_then_timeout_with_the_configured_texts(live: LiveServer,
                                                                       http: httpx.AsyncClient) -> None:
    entry = demo_entry(live)
    assert (entry.inactivity_warning_secs, entry.inactivity_timeout_secs) == (120, 180)
    customer, agent, chat_id = await connected_chat(live, "idle-1")
    connected_at = live.clock.now()
    assert await live.advance(119) == 0
    assert await customer.poll(chat_id) == []
    assert await live.advance(1) == 1
    warning = await customer.poll(chat_id)
    assert warning == [{"event": "chat_session_timeout_warning", "msg": entry.inactivity_warning_msg,
                        "timestamp": str(int(connected_at + 120))}]
    assert await live.advance(59) == 0
    assert await customer.poll(chat_id) == []
    assert await live.advance(1) == 1
    timeout = await customer.poll(chat_id)
    # the customer gets the timeout and nothing more: no party_left, no ended
    assert timeout == [{"event": "chat_session_inactivity_timeout", "msg": entry.inactivity_timeout_msg,
                        "timestamp": str(int(connected_at + 180))}]
    response = await http.get(f"{live.base_url}/clientweb/api/v2/chats/{chat_id}/events", params=TENANT,
                              headers=auth("idle-1"))
    assert response.status_code == 404
    assert response.json()["error_code"] == "5005"
    with pytest.raises(ClientError) as raised:
        await customer.send_message(chat_id, "too late")
    assert (raised.value.status, raised.value.error_code) == (404, "5005")
    # the agent sees the warning, the timeout, its own party leaving and the end, in that order
    seen = await agent_events(agent, chat_id)
    tail = names(seen)[-4:]
    assert tail == ["chat_session_timeout_warning", "chat_session_inactivity_timeout", "chat_session_party_left",
                    "chat_session_ended"]
    assert seen[-2]["type"] == "internal"
    assert (await agent.chat(chat_id))["state"] == "completed"
    assert await agent.chats() == []
    # each timer fired exactly once
    assert await live.advance(1000) == 0
    assert names(await agent_events(agent, chat_id)) == names(seen)
    await customer.aclose()
    await agent.aclose()


async def test_customer_message_rearms_the_inactivity_timer(live: LiveServer) -> None:
    customer, agent, chat_id = await connected_chat(live, "idle-2")
    assert await live.advance(100) == 0
    await customer.send_message(chat_id, "still here")
    assert await live.advance(100) == 0  # 200 s since the agent joined, 100 s since the message
    assert await customer.poll(chat_id) == []
    assert await live.advance(20) == 1  # 120 s after the message
    assert names(await customer.poll(chat_id)) == ["chat_session_timeout_warning"]
    # activity after the warning re-arms from scratch: no timeout at 180 s after the message
    await customer.send_message(chat_id, "yes, still here")
    assert await live.advance(119) == 0
    assert await live.advance(1) == 1
    assert names(await customer.poll(chat_id)) == ["chat_session_timeout_warning"]
    assert await live.advance(60) == 1
    assert names(await customer.poll(chat_id)) == ["chat_session_inactivity_timeout"]
    await customer.aclose()
    await agent.aclose()


PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7V\xbd\xfa\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.mark.parametrize("activity", ["location", "file"])
async def test_location_and_file_rearm_the_inactivity_timer(live: LiveServer, activity: str) -> None:
    customer, agent, chat_id = await connected_chat(live, f"idle-{activity}")
    assert await live.advance(100) == 0
    if activity == "location":
        await customer.send_events(chat_id, {"event": "chat_session_location", "msg_id": "loc-1",
                                             "latitude": "52.52", "longitude": "13.40"})
    else:
        await customer.send_file(chat_id, "pixel.png", PNG, "image/png")
    assert await live.advance(119) == 0
    assert await live.advance(1) == 1
    assert names(await customer.poll(chat_id)) == ["chat_session_timeout_warning"]
    await customer.aclose()
    await agent.aclose()


async def test_typing_is_not_customer_activity(live: LiveServer) -> None:
    customer, agent, chat_id = await connected_chat(live, "idle-typing")
    assert await live.advance(100) == 0
    await customer.send_typing(chat_id, "I am wri")
    assert await live.advance(20) == 1
    assert names(await customer.poll(chat_id)) == ["chat_session_timeout_warning"]
    await customer.aclose()
    await agent.aclose()


async def test_agent_messages_do_not_count_as_customer_activity(live: LiveServer) -> None:
    customer, agent, chat_id = await connected_chat(live, "idle-3")
    assert await live.advance(100) == 0
    await agent.send_message(chat_id, "are you there?")
    assert await live.advance(20) == 1
    assert names(await customer.poll(chat_id)) == ["chat_session_message", "chat_session_timeout_warning"]
    await customer.aclose()
    await agent.aclose()


async def test_no_inactivity_timers_before_an_agent_connects(live: LiveServer) -> None:
    customer = live.customer(client_id="idle-4")
    chat_id = str((await customer.request_chat({}))["chat_id"])
    queued = await customer.poll(chat_id)
    assert {"event": "chat_session_status", "state": "queued", "ewt": "0"} in queued
    await live.advance(10_000)  # only the estimate's re-check runs: nobody is staffed, nothing to say
    assert await customer.poll(chat_id) == []
    agent = await live.agent()  # ready: the chat is offered, not yet connected
    assert [o["chat_id"] for o in await agent.offers()] == [chat_id]
    await live.advance(25)  # within the queue's 30 s offer timeout
    await agent.accept(chat_id)
    await live.advance(120)
    events = await customer.poll(chat_id)
    assert names(events)[-1] == "chat_session_timeout_warning"
    assert "chat_session_timeout_warning" not in names(events)[:-1]
    await customer.aclose()
    await agent.aclose()


async def test_timers_are_gone_once_the_agent_ends_the_chat(live: LiveServer) -> None:
    customer, agent, chat_id = await connected_chat(live, "idle-5")
    await agent.show_form(chat_id, "survey", timeout_secs=30)
    await agent.end(chat_id)
    assert await live.advance(10_000) == 0
    assert names(await customer.poll(chat_id))[-2:] == ["chat_session_party_left", "chat_session_ended"]
    assert "frontdesk_form_expired" not in names(await agent_events(agent, chat_id))
    await customer.aclose()
    await agent.aclose()


# ---- forms -------------------------------------------------------------------------------------------


async def test_form_times_out(live: LiveServer, http: httpx.AsyncClient) -> None:
    customer, agent, chat_id = await connected_chat(live, "form-1")
    form_id = await agent.show_form(chat_id, "survey", timeout_secs=30)
    shown = await customer.poll(chat_id)
    assert len(shown) == 1
    assert shown[0]["event"] == "chat_session_form_show"
    assert shown[0]["form_request_id"] == form_id and isinstance(shown[0]["form_request_id"], int)
    assert shown[0]["form_timeout"] == 30 and shown[0]["form_name"] == "survey"
    assert await live.advance(29) == 0
    assert await live.advance(2) == 1
    response = await http.post(f"{live.base_url}/clientweb/api/v2/chats/{chat_id}/events", params=TENANT,
                               headers=auth("form-1"),
                               json={"events": [{"event": "chat_session_form_data", "form_request_id": form_id,
                                                 "form_name": "survey", "data": {"helpful": "yes"}}]})
    assert response.status_code == 400
    assert response.json()["error_code"] == "5003"
    seen = await agent_events(agent, chat_id)
    expired = [e for e in seen if e["event"] == "frontdesk_form_expired"]
    assert len(expired) == 1
    assert expired[0]["form_request_id"] == form_id and expired[0]["form_name"] == "survey"
    assert "chat_session_form_data" not in names(seen)
    # the expiry is for agents only, and the chat carries on
    assert await customer.poll(chat_id) == []
    await customer.send_message(chat_id, "never mind the form")
    assert names(await agent_events(agent, chat_id))[-1] == "chat_session_message"
    await customer.aclose()
    await agent.aclose()


async def test_form_answered_in_time_reaches_the_agent_once(live: LiveServer) -> None:
    customer, agent, chat_id = await connected_chat(live, "form-2")
    form_id = await agent.show_form(chat_id, "survey", timeout_secs=60)
    assert await live.advance(59) == 0
    answer = await form_data(customer, chat_id, form_id, "survey", {"helpful": "yes", "recommend": "9"})
    assert answer == {"events": []}
    seen = await agent_events(agent, chat_id)
    answers = [e for e in seen if e["event"] == "chat_session_form_data"]
    assert len(answers) == 1
    assert answers[0]["form_request_id"] == form_id
    assert answers[0]["form_name"] == "survey"
    assert answers[0]["data"] == {"helpful": "yes", "recommend": "9"}
    assert answers[0]["party_id"] == chat_id
    # the form timer is cancelled: nothing fires when its due time passes (the answer re-armed inactivity)
    assert await live.advance(2) == 0
    assert "frontdesk_form_expired" not in names(await agent_events(agent, chat_id))
    # answering twice is refused and changes nothing
    with pytest.raises(ClientError) as raised:
        await form_data(customer, chat_id, form_id, "survey", {"helpful": "no"})
    assert (raised.value.status, raised.value.error_code) == (400, "5003")
    assert names(await agent_events(agent, chat_id)) == names(seen)
    # the session is intact
    await customer.send_message(chat_id, "thanks")
    await agent.send_message(chat_id, "you're welcome")
    polled = await customer.poll(chat_id)
    assert names(polled) == ["chat_session_form_show", "chat_session_message"]
    assert polled[1]["msg_text"] == "you're welcome"
    latest = await agent_events(agent, chat_id)
    assert [e["msg_text"] for e in latest if e["event"] == "chat_session_message"][-2:] == ["thanks",
                                                                                           "you're welcome"]
    await customer.aclose()
    await agent.aclose()


async def test_form_answer_rearms_inactivity(live: LiveServer) -> None:
    customer, agent, chat_id = await connected_chat(live, "form-3")
    form_id = await agent.show_form(chat_id, "survey", timeout_secs=600)
    assert await live.advance(100) == 0
    await form_data(customer, chat_id, form_id, "survey", {"helpful": "yes"})
    assert await live.advance(100) == 0
    assert await live.advance(20) == 1
    assert names(await customer.poll(chat_id)) == ["chat_session_form_show", "chat_session_timeout_warning"]
    await customer.aclose()
    await agent.aclose()


async def test_unknown_form_request_is_rejected(live: LiveServer) -> None:
    customer, agent, chat_id = await connected_chat(live, "form-4")
    with pytest.raises(ClientError) as raised:
        await form_data(customer, chat_id, 999_999, "survey", {})
    assert (raised.value.status, raised.value.error_code) == (400, "5003")
    await customer.send_message(chat_id, "still fine")
    assert names(await agent_events(agent, chat_id))[-1] == "chat_session_message"
    await customer.aclose()
    await agent.aclose()


async def test_two_forms_expire_independently(live: LiveServer) -> None:
    customer, agent, chat_id = await connected_chat(live, "form-5")
    short = await agent.show_form(chat_id, "short", timeout_secs=10)
    long = await agent.show_form(chat_id, "long", timeout_secs=50)
    assert short != long
    assert await live.advance(10) == 1
    assert await form_data(customer, chat_id, long, "long", {"x": "1"}) == {"events": []}
    with pytest.raises(ClientError):
        await form_data(customer, chat_id, short, "short", {"x": "2"})
    assert await live.advance(40) == 0
    seen = await agent_events(agent, chat_id)
    assert [e["form_request_id"] for e in seen if e["event"] == "frontdesk_form_expired"] == [short]
    assert [e["form_request_id"] for e in seen if e["event"] == "chat_session_form_data"] == [long]
    await customer.aclose()
    await agent.aclose()


async def test_form_answer_after_its_deadline_is_refused_even_before_the_timer_ran(live: LiveServer) -> None:
    customer, agent, chat_id = await connected_chat(live, "form-6")
    form_id = await agent.show_form(chat_id, "survey", timeout_secs=30)
    live.clock.advance(30)  # the deadline passed; the timer loop has not run yet
    with pytest.raises(ClientError) as raised:
        await form_data(customer, chat_id, form_id, "survey", {"helpful": "yes"})
    assert (raised.value.status, raised.value.error_code) == (400, "5003")
    assert "chat_session_form_data" not in names(await agent_events(agent, chat_id))
    assert await live.advance(0) == 1  # the timer still fires, once, and tells the agent
    seen = await agent_events(agent, chat_id)
    assert [e["form_request_id"] for e in seen if e["event"] == "frontdesk_form_expired"] == [form_id]
    await customer.aclose()
    await agent.aclose()


# ---- a failing timer -----------------------------------------------------------------------------------


async def stored_timer(live: LiveServer, chat_id: str, kind: str) -> TimerRecord | None:
    async with live.frontdesk.storage.read() as tx:
        return await tx.timers.get(chat_id, kind)


async def test_a_failing_timer_does_not_stop_the_timers_behind_it_and_backs_off(
        live: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    customer, agent, chat_id = await connected_chat(live, "idle-broken")
    # a timer whose handler raises (an "agent lost" timer that names no agent: KeyError), due first
    broken = agent_key("nobody")
    async with live.frontdesk.storage.transaction() as tx:
        await tx.timers.set(TimerRecord(broken, AGENT_LOST, live.clock.now() + 60, {}))
    with caplog.at_level(logging.ERROR, logger="frontdesk.domain.timers"):
        assert await live.advance(120) == 1  # the inactivity warning behind it fired; the broken one failed
    assert names(await customer.poll(chat_id)) == ["chat_session_timeout_warning"]
    (failure,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert AGENT_LOST in failure.getMessage() and broken in failure.getMessage() and failure.exc_info
    # retried later, each time after a longer delay, then dropped
    retry = await stored_timer(live, broken, AGENT_LOST)
    assert retry is not None and retry.failures == 1 and retry.due_at == live.clock.now() + retry_delay_secs(1)
    for failures in range(1, MAX_TIMER_FAILURES):
        live.clock.advance(retry_delay_secs(failures) - 1)
        await live.frontdesk.timers.fire_due()
        assert (await stored_timer(live, broken, AGENT_LOST)) == retry  # not before its time
        await live.advance(1)
        retry = await stored_timer(live, broken, AGENT_LOST)
        if failures + 1 < MAX_TIMER_FAILURES:
            assert retry is not None and retry.failures == failures + 1
            assert retry.due_at == live.clock.now() + retry_delay_secs(failures + 1) > live.clock.now() + 5
    assert retry is None
    assert any("dropped" in r.getMessage() and broken in r.getMessage() for r in caplog.records)
    await customer.aclose()
    await agent.aclose()
