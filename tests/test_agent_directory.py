"""What the agent desktop reads besides chats: the directory of queues, agents and forms (transfer,
conference, form and wrap-up choices) and each offer's expiry in the live snapshot."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx

from frontdesk.domain.config import FormConfig
from tests.center import TENANT, center_config, start_center
from tests.conftest import StartServer
from tests.test_agent_api import is_snapshot, receive_until

JsonObject = dict[str, Any]


async def test_the_directory_lists_queues_other_agents_and_forms(start_server: StartServer) -> None:
    config = center_config()
    tenant = config.tenants[TENANT]
    forms = {"address": FormConfig("address", "Your address")}
    config = replace(config, tenants={TENANT: replace(tenant, forms=forms)})
    center = await start_center(start_server, config)
    bob = await center.agent("bob")
    await center.agent("ann", ready=False)
    _customer, chat_id = await center.chat("dir-1")
    await bob.accept(chat_id)

    found = await bob.directory()
    assert [(q["queue_id"], q["name"], q["dispositions"]) for q in found["queues"]] == [
        ("billing", "Billing", ["resolved", "callback"]), ("general", "General", [])]
    agents = {a["username"]: a for a in found["agents"]}
    assert "bob" not in agents  # not oneself
    assert set(agents) == {"ann", "cat", "sue"}
    assert agents["ann"]["state"] == "not_ready" and agents["cat"]["state"] == "logged_out"
    assert (agents["ann"]["load"], agents["ann"]["max_chats"]) == (0, 2)
    assert found["forms"] == [{"name": "address", "title": "Your address"}]
    ann = await center.agent("ann")
    assert [a["load"] for a in (await ann.directory())["agents"] if a["username"] == "bob"] == [1]
    await center.close()


async def test_the_directory_needs_a_login(start_server: StartServer) -> None:
    center = await start_center(start_server)
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{center.live.base_url}/agent/api/v1/directory")
    assert response.status_code == 401
    await center.close()


async def test_an_offer_in_the_snapshot_says_when_it_lapses(start_server: StartServer) -> None:
    center = await start_center(start_server)
    bob = await center.agent("bob")
    async with bob.live() as stream:
        first = await asyncio.wait_for(stream.receive(), 5)
        assert first["type"] == "snapshot" and isinstance(first["server_time"], float)
        now = center.live.clock.now()
        _customer, chat_id = await center.chat("exp-1")
        got = await receive_until(stream, is_snapshot(lambda m: bool(m["offers"])))
        offer = got[-1]["offers"][0]
        assert offer["chat_id"] == chat_id
        assert offer["offer_expires_at"] == now + 30  # the queue's default offer timeout
        assert got[-1]["server_time"] == now
        # the lapse withdraws the offer: a new snapshot without it
        await center.live.advance(31)
        got = await receive_until(stream, is_snapshot(lambda m: not m["offers"]))
        assert got[-1]["server_time"] == now + 31
    await center.close()
