"""``/metrics`` after real chats over HTTP and the agent WebSocket: the values, not just the names.
The fake clock makes waits, lags and latencies exact."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from frontdesk.client import AgentClient, CustomerClient
from frontdesk.client.agent import AgentError
from frontdesk.domain.config import ContactCenterConfig
from frontdesk.settings import DEMO_AGENT_PASSWORD, DEMO_AGENT_USERNAME, Settings
from frontdesk.storage.records import Audience, JsonObject
from tests.conftest import LiveServer, StartServer

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(live: LiveServer) -> Samples:
    async with httpx.AsyncClient(timeout=10.0) as http:
        answer = await http.get(f"{live.base_url}/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples}


async def hold_a_poll(live: LiveServer, customer: CustomerClient, chat_id: str) -> asyncio.Future[list[JsonObject]]:
    """A poll the server holds (polls that find events answer at once: poll again), within a generous bound."""
    async with asyncio.timeout(20):
        while True:
            held = asyncio.ensure_future(customer.poll(chat_id))
            while live.frontdesk.polls.held == 0 and not held.done():  # noqa: ASYNC110 - a server counter
                await asyncio.sleep(0.01)
            if not held.done():
                return held
            await held


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def events_by_origin(live: LiveServer, chat_id: str) -> dict[str, int]:
    async with live.frontdesk.storage.read() as tx:
        records = await tx.events.read_after(chat_id, 0, Audience.ALL, 10_000)
    counts: dict[str, int] = {}
    for record in records:
        counts[record.origin] = counts.get(record.origin, 0) + 1
    return counts


@pytest.fixture
async def patient(start_server: StartServer, demo_config: ContactCenterConfig) -> LiveServer:
    """A server whose idle polls are held 10 s (real time): a held poll stays held while the test looks."""
    return await start_server(settings=Settings(contact_center=demo_config, poll_hold_secs=10.0))


async def test_a_chat_shows_in_the_counters_gauges_and_histograms(patient: LiveServer) -> None:
    live = patient
    before = await scrape(live)
    assert not any(name == "frontdesk_chats" for name, _ in before)  # no chat yet
    assert value(before, "frontdesk_queue_length", tenant="demo.local", queue="general") == 0
    async with live.customer("metrics-1") as customer, AgentClient(live.base_url) as agent:
        chat_id = (await customer.request_chat({"first_name": "Ada"}))["chat_id"]
        live.clock.advance(42)
        waiting = await scrape(live)
        assert value(waiting, "frontdesk_queue_length", tenant="demo.local", queue="general") == 1
        assert value(waiting, "frontdesk_queue_longest_wait_seconds", tenant="demo.local", queue="general") == 42
        assert value(waiting, "frontdesk_chats", tenant="demo.local", state="queued") == 1

        await agent.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
        async with agent.live() as desk:
            assert (await desk.receive())["type"] == "snapshot"
            await agent.set_state("ready")  # the chat is offered
            await agent.accept(chat_id)
            await customer.send_message(chat_id, "Hello")
            await agent.send_message(chat_id, "Hi Ada")
            polled = await customer.poll(chat_id)
            assert "Hi Ada" in [e.get("msg") for e in polled]
            sent_to_agent = 0
            while True:  # until the agent's socket has the customer's message
                message = await asyncio.wait_for(desk.receive(), timeout=10)
                if message["type"] == "event":
                    sent_to_agent += 1
                    if message["event"].get("msg") == "Hello":
                        break
            held = await hold_a_poll(live, customer, chat_id)
            during = await scrape(live)
            assert value(during, "frontdesk_held_polls") == 1
            assert value(during, "frontdesk_chats", tenant="demo.local", state="connected") == 1
            assert value(during, "frontdesk_chats", tenant="demo.local", state="queued") == 0
            assert value(during, "frontdesk_queue_length", tenant="demo.local", queue="general") == 0
            await agent.end(chat_id)
            await asyncio.wait_for(held, timeout=10)
            after = await scrape(live)

    origins = await events_by_origin(live, chat_id)
    for origin in ("customer", "agent", "system"):
        assert value(after, "frontdesk_events_appended_total", origin=origin) == origins[origin], origin
    assert value(after, "frontdesk_chats", tenant="demo.local", state="connected") == 0
    assert value(after, "frontdesk_held_polls") == 0
    assert value(after, "frontdesk_offers_total", outcome="offered") == 1
    assert value(after, "frontdesk_offers_total", outcome="accepted") == 1
    assert value(after, "frontdesk_logins_total") == 1
    assert value(after, "frontdesk_logins_refused_total", reason="credentials") == 0
    assert value(after, "frontdesk_poll_outcomes_total", outcome="events") >= 1
    # every event a customer poll delivered, with its latency on the fake clock: 42 s for the events
    # appended before the clock moved (the welcome, the queued status), 0 for the rest
    delivered = value(after, "frontdesk_events_delivered_total", to="customer")
    assert delivered >= len(polled) + 1  # the poll above and the held one (party_left, ended)
    assert value(after, "frontdesk_delivery_latency_seconds_count", to="customer") == delivered
    late = value(after, "frontdesk_delivery_latency_seconds_sum", to="customer") / 42
    assert late >= 2 and late == int(late)
    assert value(after, "frontdesk_delivery_latency_seconds_bucket", to="customer", le="0.001") == delivered - late
    assert value(after, "frontdesk_delivery_latency_seconds_bucket", to="customer", le="30.0") == delivered - late
    assert value(after, "frontdesk_delivery_latency_seconds_bucket", to="customer", le="+Inf") == delivered
    agent_delivered = value(after, "frontdesk_events_delivered_total", to="agent")
    assert agent_delivered >= sent_to_agent
    assert value(after, "frontdesk_delivery_latency_seconds_count", to="agent") == agent_delivered
    # nobody was staffed when the chat queued: it had no estimate, so no estimate error either
    assert value(after, "frontdesk_ewt_error_seconds_count") == 0
    assert value(after, "frontdesk_storage_seconds_count", kind="write") > 0
    assert value(after, "frontdesk_storage_seconds_count", kind="read") > 0
    assert value(after, "frontdesk_storage_errors_total", kind="write") == 0


async def test_refused_logins_timed_out_offers_and_timer_lag(live: LiveServer) -> None:
    async with AgentClient(live.base_url) as intruder:
        for _ in range(2):
            with pytest.raises(AgentError) as refused:
                await intruder.login(DEMO_AGENT_USERNAME, "not-the-password")
            assert refused.value.status == 401
    agent = await live.agent(ready=True)
    async with live.customer("metrics-2") as customer:
        chat_id = (await customer.request_chat())["chat_id"]
        assert [o["chat_id"] for o in await agent.offers()] == [chat_id]
        # the queue's offer timeout is 30 s: fired 5 s late on the fake clock
        assert await live.advance(35) >= 1
    await agent.aclose()
    samples = await scrape(live)
    assert value(samples, "frontdesk_logins_refused_total", reason="credentials") == 2
    assert value(samples, "frontdesk_offers_total", outcome="offered") == 1
    assert value(samples, "frontdesk_offers_total", outcome="timeout") == 1
    assert value(samples, "frontdesk_timer_lag_seconds_count", kind="offer_timeout") == 1
    assert value(samples, "frontdesk_timer_lag_seconds_sum", kind="offer_timeout") == 5
    assert value(samples, "frontdesk_chats", tenant="demo.local", state="queued") == 1


async def test_the_estimate_error_is_the_wait_against_the_first_estimate(live: LiveServer) -> None:
    agent = await live.agent(ready=True)
    async with live.customer("metrics-3") as customer:
        chat_id = (await customer.request_chat())["chat_id"]  # offered at once: estimated wait 0
        live.clock.advance(7)
        await agent.accept(chat_id)
    await agent.aclose()
    samples = await scrape(live)
    assert value(samples, "frontdesk_ewt_error_seconds_count") == 1
    assert value(samples, "frontdesk_ewt_error_seconds_sum") == 7
    assert value(samples, "frontdesk_ewt_error_seconds_bucket", le="5.0") == 0
    assert value(samples, "frontdesk_ewt_error_seconds_bucket", le="15.0") == 1
