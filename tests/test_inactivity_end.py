"""After ``chat_session_inactivity_timeout``, clients that poll on (bridges such as spchat, which
stop only on ``chat_session_ended``, and the mobile SDKs) also get ``chat_session_ended``; web
clients, which stop on the timeout and would end the chat twice, do not (docs/customer-api.md)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from frontdesk.client import AgentClient, CustomerClient
from frontdesk.client.customer import ClientError
from tests.conftest import LiveServer
from tests.decoders import check_mobile_batch

JsonObject = dict[str, Any]
TIMEOUT_SECS = 180  # the demo entry: warning at 120 s, timeout at 180 s


def names(events: list[JsonObject]) -> list[str]:
    return [str(e["event"]) for e in events]


async def connected_chat(live: LiveServer, customer: CustomerClient) -> tuple[AgentClient, str]:
    chat_id = str((await customer.request_chat({"first_name": "Ida"}))["chat_id"])
    agent = await live.agent()
    await agent.accept(chat_id)
    for _ in range(10):
        if "connected" in [e.get("state") for e in await customer.poll(chat_id)]:
            return agent, chat_id
    pytest.fail("the chat never became connected")


async def poll_like_spchat(customer: CustomerClient, chat_id: str, max_polls: int = 10) -> list[JsonObject]:
    """spchat's loop: poll, ignore errors, stop only on chat_session_ended."""
    seen: list[JsonObject] = []
    for _ in range(max_polls):
        try:
            batch = await customer.poll(chat_id)
        except ClientError:
            continue
        seen += batch
        if "chat_session_ended" in names(batch):
            return seen
    pytest.fail(f"the bridge never saw chat_session_ended and would poll forever: {names(seen)}")


async def test_a_bridge_that_stops_only_on_ended_stops_after_the_inactivity_timeout(live: LiveServer) -> None:
    async with httpx.AsyncClient(headers={"User-Agent": "MobileClient"}) as http:
        bridge = CustomerClient(live.base_url, app_id="demo", client_id="whatsapp:+15550100", tenant_url="demo.local",
                                version="v1", http=http)
        agent, chat_id = await connected_chat(live, bridge)
        assert await live.advance(120) == 1
        assert await live.advance(TIMEOUT_SECS - 120) == 1
        seen = await poll_like_spchat(bridge, chat_id)
        assert names(seen) == ["chat_session_timeout_warning", "chat_session_inactivity_timeout",
                               "chat_session_ended"]
        assert check_mobile_batch(seen) == []  # Android and iOS decode the whole batch
        with pytest.raises(ClientError) as gone:
            await bridge.poll(chat_id)
        assert (gone.value.status, gone.value.error_code) == (404, "5005")
        # the agents' log has the end once, after their party left
        agent_names = [e["event"]["event"] for e in await agent.events(chat_id)]
        assert agent_names.count("chat_session_ended") == 1
        assert agent_names[-3:] == ["chat_session_inactivity_timeout", "chat_session_party_left",
                                    "chat_session_ended"]
        await agent.aclose()


async def test_a_web_client_gets_the_timeout_and_no_second_end(live: LiveServer) -> None:
    async with live.customer(client_id="WebChat", version="v1") as browser:
        agent, chat_id = await connected_chat(live, browser)
        assert await live.advance(120) == 1
        assert await live.advance(TIMEOUT_SECS - 120) == 1
        assert names(await browser.poll(chat_id)) == ["chat_session_timeout_warning",
                                                      "chat_session_inactivity_timeout"]
        # a client that polls again anyway learns the chat is gone; it never gets an ended
        with pytest.raises(ClientError) as gone:
            await browser.poll(chat_id)
        assert (gone.value.status, gone.value.error_code) == (404, "5005")
        assert "chat_session_ended" not in names(await browser.poll_after(chat_id, 0))
        await agent.aclose()


async def test_a_reloaded_web_page_after_the_timeout_starts_over(live: LiveServer) -> None:
    """The page's history check fails once the timeout was delivered, so it starts a new chat."""
    async with live.customer(client_id="WebChat", version="v1") as browser:
        agent, chat_id = await connected_chat(live, browser)
        await live.advance(120)
        await live.advance(TIMEOUT_SECS - 120)
        await browser.poll(chat_id)
        with pytest.raises(ClientError) as gone:
            await browser.history(chat_id)
        assert (gone.value.status, gone.value.error_code) == (404, "5005")
        await agent.aclose()
