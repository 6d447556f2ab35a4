"""A lost cross-process wake-up costs at most the re-check period: with Redis configured, a held
customer poll and an agent's WebSocket read the log again every ``bus_recheck_secs``.

"Another process" here is a second journal over the same storage whose bus reaches nobody (its
wake-up is lost on the way); the held poll's hold never runs out during the test, so only the
re-check can answer it. The Redis the server uses is either the machine's (with a unique key
prefix) or one that is not there at all (Redis down: the same bounded delay)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from frontdesk.bus.local import LocalBus
from frontdesk.domain.agents import AgentService
from frontdesk.domain.config import ContactCenterConfig
from frontdesk.domain.journal import Journal
from frontdesk.settings import DEMO_AGENT_USERNAME, DEMO_TENANT, Settings
from tests.cluster import MACHINE_REDIS_URL, unique_prefix, unused_redis_url
from tests.conftest import LiveServer, StartServer
from tests.test_agent_api import connected, is_event, receive_until

NEVER_SECS = 3600.0  # a hold that never runs out during a test
GUARD_SECS = 60.0  # only against a hang
RECHECK_SECS = 0.2
AGENT_ID = f"{DEMO_TENANT}/{DEMO_AGENT_USERNAME}"


def elsewhere(live: LiveServer) -> AgentService:
    """The agent service of a process whose wake-ups never arrive here."""
    frontdesk = live.frontdesk
    return AgentService(Journal(frontdesk.storage, LocalBus(), frontdesk.clock), frontdesk.live)


@pytest.fixture(params=["redis up", "redis down"])
async def clustered(request: pytest.FixtureRequest, start_server: StartServer,
                    demo_config: ContactCenterConfig) -> LiveServer:
    url = MACHINE_REDIS_URL if request.param == "redis up" else unused_redis_url()
    settings = replace(Settings(), contact_center=demo_config, poll_hold_secs=NEVER_SECS, redis_url=url,
                       redis_prefix=unique_prefix(), bus_recheck_secs=RECHECK_SECS)
    return await start_server(settings=settings)


async def test_a_held_poll_gets_a_message_whose_wake_up_was_lost(clustered: LiveServer) -> None:
    anna = await clustered.agent()
    customer, chat_id = await connected(clustered, anna)
    async with customer, anna:
        await customer.poll_after(chat_id, 0)
        seen = await customer.poll_after(chat_id, 0)
        after = max(int(e["seq"]) for e in seen)
        held = asyncio.ensure_future(customer.poll_after(chat_id, after))
        await asyncio.sleep(RECHECK_SECS)  # the poll is held (or about to be): either way it must answer
        await elsewhere(clustered).send_message(AGENT_ID, chat_id, "written on another node")
        events = await asyncio.wait_for(held, GUARD_SECS)
        assert [e["msg_text"] for e in events if e["event"] == "chat_session_message"] == \
            ["written on another node"]


async def test_an_agent_socket_gets_a_customer_message_whose_wake_up_was_lost(clustered: LiveServer) -> None:
    anna = await clustered.agent()
    customer, chat_id = await connected(clustered, anna)
    async with customer, anna, anna.live() as stream:
        await receive_until(stream, is_event("chat_session_status", state="connected"), timeout=GUARD_SECS)
        await elsewhere(clustered).send_message(AGENT_ID, chat_id, "from the other node")
        got = await receive_until(stream, is_event("chat_session_message", msg_text="from the other node"),
                                  timeout=GUARD_SECS)
        assert got[-1]["chat_id"] == chat_id
