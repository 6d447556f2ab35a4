"""Routing over real HTTP on a fake clock: skills, priority then FIFO, longest idle, capacity,
offer timeouts, rejection, agents who log out or vanish, queue overflow, and the announced EWT."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from frontdesk.client.agent import AgentClient, AgentError
from frontdesk.domain import routing
from frontdesk.domain.config import QueueConfig
from frontdesk.domain.lifecycle import AGENT_LOST, agent_key
from tests.center import Center, agent_config, center_config, names, start_center, statuses
from tests.conftest import StartServer


async def release_pending_since(center: Center, agent: AgentClient, grace_secs: float) -> None:
    """Wait until the server has handled the closed desktop: the agent's "agent lost" timer runs from
    now (the close reaches the server after the client's side of it, later on a slower backend)."""
    due = center.live.clock.now() + grace_secs
    for _ in range(2000):
        async with center.live.frontdesk.agents.journal.read() as tx:
            timer = await tx.timers.get(agent_key(str(agent.agent["agent_id"])), AGENT_LOST)
        if timer is not None and timer.due_at == due:
            return
        await asyncio.sleep(0.005)
    pytest.fail("the closed desktop's release did not start")


async def offered(center: Center, username: str) -> list[str]:
    client = next(c for c in center.clients if getattr(c, "agent", {}).get("username") == username)
    return [o["chat_id"] for o in await client.offers()]


async def test_skills_decide_who_is_offered_a_chat(start_server: StartServer) -> None:
    center = await start_center(start_server)
    bob = await center.agent("bob")
    center.live.clock.advance(1)
    cat = await center.agent("cat")  # billing level 1: below the billing queue's 2
    _, billing_chat = await center.chat("c1", app_id="billing")
    assert await bob.offers() == [] and await cat.offers() == []
    center.live.clock.advance(1)
    ann = await center.agent("ann")  # billing 3
    assert [o["chat_id"] for o in await ann.offers()] == [billing_chat]
    center.live.clock.advance(1)
    _, general_chat = await center.chat("c2")
    # bob has been ready longest among the agents with spare capacity and the general skill
    assert [o["chat_id"] for o in await bob.offers()] == [general_chat]
    await center.close()


async def test_priority_then_first_come_first_served(start_server: StartServer) -> None:
    config = center_config(agents=(agent_config("ann", max_chats=1, skills={"general": 1, "billing": 3}),))
    center = await start_center(start_server, config)
    _, g1 = await center.chat("g1")
    center.live.clock.advance(1)
    _, g2 = await center.chat("g2")
    center.live.clock.advance(1)
    _, b1 = await center.chat("b1", app_id="billing")  # newest, but billing has priority 5
    ann = await center.agent("ann")
    served = []
    for _ in range(3):
        (offer,) = await ann.offers()
        served.append(offer["chat_id"])
        await ann.accept(offer["chat_id"])
        await ann.end(offer["chat_id"])
    assert served == [b1, g1, g2]
    await center.close()


async def test_longest_idle_agent_first_and_capacity_is_never_exceeded(start_server: StartServer) -> None:
    center = await start_center(start_server)
    bob = await center.agent("bob")
    center.live.clock.advance(5)
    cat = await center.agent("cat")
    chats = []
    for n in range(5):
        center.live.clock.advance(1)
        chats.append((await center.chat(f"cap{n}"))[1])
    bob_offers = [o["chat_id"] for o in await bob.offers()]
    cat_offers = [o["chat_id"] for o in await cat.offers()]
    # alternate by idle time: bob (ready first), cat, bob (routed before cat), cat; then both are full
    assert bob_offers == [chats[0], chats[2]]
    assert cat_offers == [chats[1], chats[3]]
    fifth = center.clients[-1]
    assert statuses(await fifth.poll_after(chats[4], 0))[-1][0] == "queued"
    await bob.accept(chats[0])
    await bob.end(chats[0])
    assert [o["chat_id"] for o in await bob.offers()] == [chats[2], chats[4]]
    await center.close()


async def test_lapsed_offer_goes_back_to_the_head_and_the_agent_becomes_not_ready(start_server: StartServer) -> None:
    config = center_config(queues=(QueueConfig("general", "General", skills={"general": 1}, offer_timeout_secs=20),
                                   QueueConfig("billing", "Billing", skills={"billing": 2})))
    center = await start_center(start_server, config)
    bob = await center.agent("bob")
    customer, chat_id = await center.chat("lapse")
    center.live.clock.advance(1)
    _, later = await center.chat("later")
    assert [o["chat_id"] for o in await bob.offers()] == [chat_id, later]
    await center.live.advance(20)
    assert await bob.offers() == []
    assert (await bob.set_state("not_ready"))["state"] == "not_ready"  # it already was: no change
    cat = await center.agent("cat")
    # both chats went back in their original order, to the agent who is there
    assert [o["chat_id"] for o in await cat.offers()] == [chat_id, later]
    assert [s for s, _ in statuses(await customer.poll_after(chat_id, 0))] == ["queued", "connecting", "queued",
                                                                             "connecting"]
    await center.close()


async def test_rejected_chat_goes_to_another_agent(start_server: StartServer) -> None:
    center = await start_center(start_server)
    bob = await center.agent("bob")
    cat = await center.agent("cat")
    _, chat_id = await center.chat("rej")
    assert [o["chat_id"] for o in await bob.offers()] == [chat_id]
    await bob.reject(chat_id)
    assert [o["chat_id"] for o in await cat.offers()] == [chat_id]
    await cat.reject(chat_id)
    assert await bob.offers() == [] and await cat.offers() == []
    await center.close()


async def test_agent_logging_out_mid_chat_gives_it_back(start_server: StartServer) -> None:
    center = await start_center(start_server)
    bob = await center.agent("bob")
    customer, chat_id = await center.chat("out")
    await bob.accept(chat_id)
    await customer.poll_after(chat_id, 0)
    seen = len(await customer.poll_after(chat_id, 0))
    await bob.logout()
    after = (await customer.poll_after(chat_id, 0))[seen:]
    assert names(after) == ["chat_session_party_left", "chat_session_status"]
    assert after[1]["state"] == "queued"
    cat = await center.agent("cat")
    assert [o["chat_id"] for o in await cat.offers()] == [chat_id]
    await center.close()


async def test_agent_whose_desktop_vanishes_is_logged_out_after_the_grace(start_server: StartServer) -> None:
    center = await start_center(start_server, center_config(agent_lost_grace_secs=30))
    bob = await center.agent("bob")
    customer, chat_id = await center.chat("lost")
    await bob.accept(chat_id)
    async with bob.live() as ws:
        assert (await ws.receive())["type"] == "snapshot"
    await release_pending_since(center, bob, 30)
    await center.live.advance(10)
    async with bob.live() as ws:  # reconnected within the grace: nothing happens
        assert (await ws.receive())["type"] == "snapshot"
        await center.live.advance(40)
        assert (await bob.chat(chat_id))["state"] == "connected"
    await release_pending_since(center, bob, 30)
    await center.live.advance(29)
    assert (await bob.chat(chat_id))["state"] == "connected"
    await center.live.advance(1)
    events = await customer.poll_after(chat_id, 0)
    assert names(events)[-2:] == ["chat_session_party_left", "chat_session_status"]
    assert events[-1]["state"] == "queued"
    with pytest.raises(AgentError) as caught:  # logged out like any logout: the token is gone
        await bob.set_state("ready")
    assert caught.value.status == 401
    await center.close()


async def test_queue_overflow_and_max_wait_failure(start_server: StartServer) -> None:
    config = center_config(queues=(
        QueueConfig("general", "General", skills={"general": 1}, max_wait_secs=100,
                    max_wait_message="Nobody is free, sorry."),
        QueueConfig("billing", "Billing", skills={"billing": 2}, max_wait_secs=60, overflow_queue="general")))
    center = await start_center(start_server, config)
    customer, chat_id = await center.chat("ovf", app_id="billing")
    await center.live.advance(60)
    summary_events = await customer.poll_after(chat_id, 0)
    assert [s for s, _ in statuses(summary_events)] == ["queued", "queued"]
    bob = await center.agent("bob", ready=False)
    await center.live.advance(100)  # general's own max wait: it fails
    events = await customer.poll_after(chat_id, 0)
    assert names(events) == ["chat_session_status", "chat_session_status", "chat_session_party_joined",
                             "chat_session_message", "chat_session_status", "chat_session_party_left",
                             "chat_session_ended"]
    assert ("failed", "0") in statuses(events)
    assert any(e.get("msg_text") == "Nobody is free, sorry." for e in events)
    await bob.set_state("ready")
    assert await bob.offers() == []
    await center.close()


async def test_waiting_customer_is_told_an_estimate_that_follows_live_data(start_server: StartServer) -> None:
    config = center_config(queues=(QueueConfig("general", "General", skills={"general": 1}, default_handle_secs=600),
                                   QueueConfig("billing", "Billing", skills={"billing": 2})),
                           agents=(agent_config("bob", max_chats=1),))
    center = await start_center(start_server, config)
    first, c1 = await center.chat("ewt1")
    assert statuses(await first.poll_after(c1, 0)) == [("queued", "0")]  # nobody staffed: no estimate
    bob = await center.agent("bob", ready=False)
    await bob.set_state("ready")
    await bob.accept(c1)
    second, c2 = await center.chat("ewt2")
    third = center.customer("ewt3")
    ticket = await third.request_chat({})
    c3 = str(ticket["chat_id"])
    estimate = int(ticket["ewt"])
    (c2_status,) = statuses(await second.poll_after(c2, 0))
    assert 0 < int(c2_status[1]) < estimate <= 4 * 600  # two chats ahead of the third, one of the second
    assert statuses(await third.poll_after(c3, 0)) == [("queued", str(estimate))]
    await bob.end(c1)  # the second chat is offered; the third moves up ...
    assert [o["chat_id"] for o in await bob.offers()] == [c2]
    await bob.accept(c2)
    assert statuses(await third.poll_after(c3, 0)) == [("queued", str(estimate))]
    await center.live.advance(routing.EWT_REFRESH_SECS)  # ... and the refresh timer tells it its shorter wait
    updated = statuses(await third.poll_after(c3, 0))
    assert len(updated) == 2 and int(updated[-1][1]) < estimate - 30
    await center.close()


def test_center_config_is_consistent() -> None:
    config = center_config()
    tenant = config.tenants["acme.test"]
    assert set(tenant.queues) == {"general", "billing"}
    assert replace(tenant.queues["billing"]).priority == 5
