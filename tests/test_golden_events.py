"""Golden server events: drive real chats over HTTP until the server has produced every event a
customer can receive, check each one against the strict client decoders (tests/decoders.py), and
compare the exact keys, JSON types and stable values with tests/golden/customer_events.json.

Volatile values are normalised to placeholders only when they have the promised type and format
(a timestamp becomes ``<t+121>``, its offset in seconds from the start of the fake clock, only
if it is a string of 10 digits; a party id becomes ``<agent-1>``
only if it is the id the server announced in party_joined...), so a wrong type shows up as a
difference from the golden file. Regenerate the file after an intended wire change with
``FRONTDESK_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden_events.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from frontdesk.client import AgentClient, ClientError, CustomerClient
from frontdesk.protocol.events import MOBILE_EVENT_NAMES, WEB_EVENT_NAMES
from tests.conftest import LiveServer
from tests.decoders import (
    EPOCH_SECONDS,
    check_android,
    check_ios,
    check_mobile,
    check_mobile_batch,
    tiny_png,
)

JsonObject = dict[str, Any]

GOLDEN_FILE = Path(__file__).parent / "golden" / "customer_events.json"
UPDATE_GOLDEN = os.environ.get("FRONTDESK_UPDATE_GOLDEN") == "1"

# Every server event a customer's poll can carry (the protocol's server events, minus web-only ones).
CUSTOMER_SERVER_EVENTS = frozenset({
    "chat_session_status", "chat_session_party_joined", "chat_session_party_left", "chat_session_message",
    "chat_session_typing", "chat_session_not_typing", "chat_session_form_show", "chat_session_timeout_warning",
    "chat_session_inactivity_timeout", "chat_session_signaling", "chat_session_file",
    "chat_session_message_delivered", "chat_session_message_read", "chat_session_case_set",
    "chat_session_ended",
})

AGENT_TEXT = "First line\nSecond & <last> line"
CUSTOMER_TEXT = "Hello, I need help"
_DIGITS = re.compile(r"[0-9]+")
WEBCHAT_AUTH = 'MOBILE-API-140-327-PLAIN appId="demo", clientId="WebChat"'


@dataclass
class Normaliser:
    """Replaces volatile values by placeholders, keeping anything of the wrong type as it is."""

    start: int  # the fake clock at the start: timestamps become offsets, <t+121> (seconds, not ms)
    aliases: dict[str, str] = field(default_factory=dict)
    party_counts: dict[str, int] = field(default_factory=dict)

    def alias(self, raw: str, label: str) -> None:
        self.aliases[raw] = label

    def learn(self, event: JsonObject) -> None:
        """A party announced by party_joined gets a label by its type: <internal-1>, <scenario-2>..."""
        party_id, party_type = event.get("party_id"), event.get("type")
        if (event.get("event") == "chat_session_party_joined" and isinstance(party_id, str)
                and isinstance(party_type, str) and party_id not in self.aliases):
            count = self.party_counts[party_type] = self.party_counts.get(party_type, 0) + 1
            self.aliases[party_id] = f"<{party_type}-{count}>"

    def value(self, key: str, value: Any) -> Any:
        if isinstance(value, str) and value in self.aliases:
            return self.aliases[value]
        if key in ("timestamp", "created_time"):
            if isinstance(value, str) and EPOCH_SECONDS.fullmatch(value):
                return f"<t+{int(value) - self.start}>"
            return value
        if key in ("msg_id", "ref_msg_id"):
            if isinstance(value, str) and _DIGITS.fullmatch(value):
                return "<digits>"
            return "<id>" if isinstance(value, str) and value else value
        if key == "form_request_id":
            return "<int>" if isinstance(value, int) and not isinstance(value, bool) else value
        return value

    def event(self, event: JsonObject) -> JsonObject:
        self.learn(event)
        return {key: self.value(key, value) for key, value in event.items()}


@dataclass
class Recorder:
    """Polls the customer's events after each step, checks them and records their normalised form."""

    customer: CustomerClient
    mobile: bool
    norm: Normaliser
    steps: list[JsonObject] = field(default_factory=list)
    raw: list[JsonObject] = field(default_factory=list)
    chat_id: str = ""

    def check(self, events: list[JsonObject], where: str) -> None:
        for event in events:
            assert next(iter(event)) == "event", f"{where}: 'event' is not the first key of {event}"
            if self.mobile:
                problems = check_mobile(event)
            elif event["event"] in MOBILE_EVENT_NAMES:
                problems = check_android(event) + check_ios(event)
            else:  # web-only events (navigation in a WebChat history)
                problems = [] if event["event"] in WEB_EVENT_NAMES else [f"{event['event']} is not a web event"]
            assert problems == [], f"{where}: {event}"

    def record(self, step: str, events: list[JsonObject]) -> list[JsonObject]:
        self.check(events, step)
        self.steps.append({"step": step, "events": [self.norm.event(e) for e in events]})
        return events

    async def poll(self, step: str) -> list[JsonObject]:
        """One long poll as the Bright Pattern clients do it (server cursor, no ``after``)."""
        events = await self.customer.poll(self.chat_id)
        self.raw.extend(events)
        return self.record(step, events)

    async def assert_gone(self) -> None:
        with pytest.raises(ClientError) as gone:
            await self.customer.poll(self.chat_id)
        assert (gone.value.status, gone.value.error_code) == (404, "5005")


@asynccontextmanager
async def webchat_browser(live: LiveServer, version: str) -> AsyncIterator[CustomerClient]:
    """A WebChat client that behaves like a browser: it keeps the visitor cookie the server sets.
    (httpx's jar would not send a ``Secure`` cookie over http://127.0.0.1, so it is sent by hand.)"""
    async with httpx.AsyncClient(timeout=10.0) as first:
        response = await first.get(f"{live.base_url}/clientweb/api/{version}/availability",
                                   params={"tenantUrl": "demo.local"},
                                   headers={"Authorization": WEBCHAT_AUTH})
        assert response.status_code == 200
        cookie = response.cookies.get("fd_visitor")
        assert cookie
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=20.0), headers={"Cookie": f"fd_visitor={cookie}"}) \
            as browser:
        client = CustomerClient(live.base_url, app_id="demo", client_id="WebChat", tenant_url="demo.local",
                                version=version, http=browser)
        yield client


async def full_chat(live: LiveServer, customer: CustomerClient, mobile: bool) -> Recorder:
    """Chat A ends by customer inactivity, chat B (same client) is ended by the agent."""
    rec = Recorder(customer, mobile, Normaliser(start=int(live.clock.now())))
    chat = await customer.request_chat({"first_name": "Ada"})
    rec.chat_id = chat["chat_id"]
    rec.norm.alias(rec.chat_id, "<chat-A>")
    await rec.poll("request_chat")

    agent: AgentClient = await live.agent(ready=True)
    try:
        await rec.poll("agent_ready")
        await agent.accept(rec.chat_id)
        await rec.poll("agent_accepts")

        customer_msg_id = await customer.send_message(rec.chat_id, CUSTOMER_TEXT)
        rec.norm.alias(customer_msg_id, "<customer-msg>")
        await customer.send_typing(rec.chat_id, "typing preview")
        await customer.send_events(rec.chat_id, {"event": "chat_session_location", "msg_id": "loc-1",
                                                 "latitude": 52.52, "longitude": 13.405})
        await customer.send_events(rec.chat_id, {"event": "chat_session_navigation", "msg_id": "nav-1",
                                                 "page": "https://shop.example/cart", "title": "Cart"})
        await rec.poll("customer_sends_message_typing_location_navigation")  # never echoed: []

        await agent.send_message(rec.chat_id, AGENT_TEXT)
        await rec.poll("agent_message")
        await agent.typing(rec.chat_id, True)
        await agent.typing(rec.chat_id, False)
        await rec.poll("agent_typing")
        await agent.receipt(rec.chat_id, customer_msg_id, "delivered")
        await agent.receipt(rec.chat_id, customer_msg_id, "read")
        await rec.poll("agent_receipts")
        await agent.show_form(rec.chat_id, "survey", 300)
        await rec.poll("agent_form")
        sent = await agent.send_file(rec.chat_id, "blob.bin", tiny_png(), "application/octet-stream")
        rec.norm.alias(sent["file_id"], "<agent-file>")
        await rec.poll("agent_file")
        await agent.signaling(rec.chat_id, {"type": "OFFER_CALL", "offerVideo": "true", "sdp": "v=0"})
        await rec.poll("agent_signaling")
        await agent.set_case(rec.chat_id, "CASE-42")
        await rec.poll("agent_case")

        history = await customer.history(rec.chat_id)
        rec.record("history", history)

        # the inactivity clock was last armed by the customer's location at the current fake time
        assert await live.advance(119) == 0
        await live.advance(2)
        await rec.poll("inactivity_warning")
        await live.advance(60)
        await rec.poll("inactivity_timeout")
        await rec.assert_gone()
        everything_a = await customer.poll_after(rec.chat_id, 0)
        polled_a = list(rec.raw)

        chat_b = await customer.request_chat({"first_name": "Ada"})
        assert chat_b["is_new_chat"] is True
        assert chat_b["chat_id"] != rec.chat_id
        rec.chat_id = chat_b["chat_id"]
        rec.norm.alias(rec.chat_id, "<chat-B>")
        await rec.poll("second_chat_request")  # the agent is ready: offered at once
        await agent.accept(rec.chat_id)
        await rec.poll("second_chat_agent_accepts")
        await agent.end(rec.chat_id)
        await rec.poll("second_chat_agent_ends")
        await rec.assert_gone()
    finally:
        await agent.aclose()

    # the server cursor delivered every customer event of chat A exactly once and in order
    assert [{k: v for k, v in e.items() if k != "seq"} for e in everything_a] == polled_a
    return rec


def compare_with_golden(kind: str, steps: list[JsonObject]) -> None:
    golden: dict[str, Any] = json.loads(GOLDEN_FILE.read_text()) if GOLDEN_FILE.exists() else {}
    if UPDATE_GOLDEN:
        golden[kind] = steps
        GOLDEN_FILE.parent.mkdir(exist_ok=True)
        GOLDEN_FILE.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")
        return
    assert kind in golden, f"no golden events for {kind}: run with FRONTDESK_UPDATE_GOLDEN=1"
    expected = golden[kind]
    assert [s["step"] for s in steps] == [s["step"] for s in expected]
    for got, want in zip(steps, expected, strict=True):
        assert got["events"] == want["events"], f"step {got['step']}"


def names(rec: Recorder, *, history: bool = False) -> set[str]:
    return {e["event"] for s in rec.steps if (s["step"] == "history") == history for e in s["events"]}


async def test_golden_events_mobile_v2(live: LiveServer) -> None:
    async with live.customer(client_id="golden-device-1", version="v2", quoted_auth=False) as customer:
        rec = await full_chat(live, customer, mobile=True)
    assert names(rec) == CUSTOMER_SERVER_EVENTS
    history = next(s["events"] for s in rec.steps if s["step"] == "history")
    assert {e["event"] for e in history} <= MOBILE_EVENT_NAMES
    assert "chat_session_navigation" not in {e["event"] for e in history}
    compare_with_golden("mobile_v2", rec.steps)


async def test_golden_events_webchat_v1(live: LiveServer) -> None:
    async with webchat_browser(live, "v1") as customer:
        rec = await full_chat(live, customer, mobile=False)
    assert names(rec) == CUSTOMER_SERVER_EVENTS
    assert "chat_session_navigation" in names(rec, history=True)
    compare_with_golden("webchat_v1", rec.steps)


async def test_agent_message_html_and_plain_text(live: LiveServer) -> None:
    async with live.customer(client_id="golden-device-2") as customer:
        chat_id = (await customer.request_chat())["chat_id"]
        async with await live.agent() as agent:
            await agent.accept(chat_id)
            await agent.send_message(chat_id, AGENT_TEXT)
        events = await customer.poll(chat_id)
    message = next(e for e in events if e["event"] == "chat_session_message" and "<br>" in e["msg"])
    assert message["msg"] == "First line<br>Second &amp; &lt;last&gt; line"
    assert message["msg_text"] == AGENT_TEXT


async def test_mobile_history_rules_and_own_messages(live: LiveServer) -> None:
    async with live.customer(client_id="golden-device-3") as customer:
        chat_id = (await customer.request_chat())["chat_id"]
        async with await live.agent() as agent:
            await agent.accept(chat_id)
            first = await customer.send_message(chat_id, "one")
            await agent.send_message(chat_id, "two")
            second = await customer.send_message(chat_id, "three")
            await customer.send_events(chat_id, {"event": "chat_session_navigation", "page": "p", "title": "t"})
            polled = await customer.poll(chat_id)
            history = await customer.history(chat_id)
    assert check_mobile_batch(history) == []
    assert {e["event"] for e in history} <= MOBILE_EVENT_NAMES
    messages = [(e["msg"], e["party_id"], e["msg_id"]) for e in history if e["event"] == "chat_session_message"]
    agent_party = next(e["party_id"] for e in history
                       if e["event"] == "chat_session_party_joined" and e["type"] == "internal")
    assert messages[1:] == [("one", chat_id, first), ("two", agent_party, messages[2][2]),
                            ("three", chat_id, second)]
    # the customer's own messages are in history but never in its poll
    assert [e["msg"] for e in polled if e["event"] == "chat_session_message"][-1:] == ["two"]
    assert all(e.get("party_id") != chat_id for e in polled)


async def test_checkers_see_no_problem_in_the_documented_examples() -> None:
    # the vendor documentation's example batch: one every known client decodes
    appendix_a = [
        {"event": "chat_session_party_joined", "party_id": "p-2", "first_name": "Anna", "last_name": "Lee",
         "display_name": "Anna L.", "type": "internal", "timestamp": "1700000001"},
        {"event": "chat_session_status", "state": "connected", "ewt": "0"},
        {"event": "chat_session_typing", "party_id": "p-2", "timestamp": "1700000002"},
        {"event": "chat_session_message", "msg_id": "4", "party_id": "p-2", "msg": "Hi! How can I help?",
         "msg_text": "Hi! How can I help?", "timestamp": "1700000005"},
        {"event": "chat_session_message_read", "party_id": "p-2", "ref_msg_id": "3", "timestamp": "1700000006"},
        {"event": "chat_session_location", "party_id": "c-1", "msg_id": "9", "latitude": "52.5",
         "longitude": "13.4", "url": None, "timestamp": "1700000007"},
        {"event": "chat_session_form_show", "party_id": "p-2", "form_request_id": 7, "form_name": "survey",
         "form_timeout": 300, "channel": "mobile", "timestamp": "1700000008"},
        {"event": "chat_session_file", "party_id": "p-2", "msg_id": "14", "file_id": "f-1",
         "file_name": "invoice.pdf", "file_type": "attachment", "timestamp": "1700000009"},
        {"event": "chat_session_signaling", "party_id": "p-2", "msg_id": "15", "data": {"type": "END_CALL"},
         "timestamp": "1700000010"},
        {"event": "chat_session_case_set", "case_id": "", "timestamp": "1700000011"},
        {"event": "chat_session_ended"},
    ]
    assert check_mobile_batch(appendix_a) == []


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"event": "chat_session_message", "party_id": "p", "msg": "x", "timestamp": 1700000000},
         "ios: chat_session_message: timestamp 1700000000 is not a string"),
        ({"event": "chat_session_message", "party_id": "p", "msg": "x", "timestamp": "1700000000000"},
         "ios: chat_session_message: timestamp '1700000000000' is not a string of 10 digits"),
        ({"event": "chat_session_status", "state": "queued"},
         "android: chat_session_status: missing required key 'ewt'"),
        ({"event": "chat_session_status", "state": "queued", "ewt": 30}, "ios: chat_session_status: ewt 30"),
        ({"event": "chat_session_status", "state": "establishing", "ewt": "0"}, "state 'establishing' is not"),
        ({"event": "chat_session_info", "service_name": "x"}, "android: unknown event name 'chat_session_info'"),
        ({"event": "chat_session_info", "service_name": "x"}, "mobile: 'chat_session_info' is not in MOBILE_EVENT"),
        ({"event": "chat_session_inactvity_timeout", "msg": "x"}, "android: unknown event name"),
        ({"event": "chat_session_party_joined", "party_id": "p", "type": "agent", "timestamp": "1700000000"},
         "type 'agent' is not scenario|external|internal"),
        ({"event": "chat_session_party_joined", "party_id": "p", "type": "internal"},
         "ios: chat_session_party_joined: missing required timestamp"),
        ({"event": "chat_session_party_joined", "party_id": "p", "type": "internal", "first_name": None,
          "timestamp": "1700000000"}, "android: chat_session_party_joined: 'first_name' is null"),
        ({"event": "chat_session_message", "msg": "x"},
         "android: chat_session_message: missing required key 'party_id'"),
        ({"event": "chat_session_message", "party_id": None}, "missing required key 'msg'"),
        ({"event": "chat_session_typing"}, "android: chat_session_typing: missing required key 'party_id'"),
        ({"event": "chat_session_timeout_warning", "timestamp": "1700000000"}, "missing required key 'msg'"),
        ({"event": "chat_session_file", "party_id": "p", "file_id": "f", "file_type": "image"},
         "android: chat_session_file: missing required key 'file_name'"),
        ({"event": "chat_session_form_show", "channel": "web", "form_name": "f", "form_request_id": "7",
          "form_timeout": 300, "timestamp": "1700000000"}, "'form_request_id' must be a JSON integer"),
        ({"event": "chat_session_form_show", "form_name": "f", "form_request_id": 7, "form_timeout": 300,
          "timestamp": "1700000000"}, "missing required key 'channel'"),
        ({"event": "chat_session_form_show", "channel": "web", "form_name": "f", "form_request_id": 7,
          "form_timeout": 300, "timestamp": 1700000000}, "android: chat_session_form_show: timestamp must be a string"),
        ({"event": "chat_session_location", "party_id": "p", "latitude": "1", "longitude": "2"},
         "android: chat_session_location: missing required key 'url'"),
        ({"event": "chat_session_location", "party_id": "p", "url": None, "latitude": 1.5, "longitude": "2"},
         "ios: chat_session_location: latitude must be a numeric string"),
        ({"event": "chat_session_location", "party_id": "p", "url": None, "latitude": "north", "longitude": "2"},
         "android: chat_session_location: latitude 'north' is not a float"),
        ({"event": "chat_session_case_set", "case_id": None, "timestamp": "1700000000"},
         "android: chat_session_case_set: 'case_id' is null"),
        ({"event": "chat_session_message_read", "party_id": "p"}, "missing required key 'ref_msg_id'"),
        ({"event": "chat_session_signaling", "party_id": "p", "msg_id": "1", "timestamp": "1700000000"},
         "'data' must be an object"),
        ({"event": "chat_session_signaling", "party_id": "p", "msg_id": "1", "data": {"type": "HELLO"},
          "timestamp": "1700000000"}, "data.type 'HELLO' is not in the SDK enum"),
        ({"event": "chat_session_party_left", "type": "internal", "timestamp": "1700000000"},
         "android: chat_session_party_left: missing required key 'party_id'"),
        ({"event": "chat_session_ended", "reason": None}, "ios: chat_session_ended: 'reason' is null"),
        ({"event": 42}, "android: unknown event name 42"),
    ],
)
def test_checkers_flag_bad_events(event: JsonObject, expected: str) -> None:
    problems = check_mobile(event)
    assert any(expected in p for p in problems), problems
