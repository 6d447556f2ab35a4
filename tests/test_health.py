"""``/healthz`` and ``/readyz`` over real HTTP: in normal work, during a drain (held polls answered
at once, readiness 503), with a storage that no longer answers; outside the customer API's CORS."""

from __future__ import annotations

import asyncio

import httpx

from frontdesk.domain.config import ContactCenterConfig
from frontdesk.settings import Settings
from tests.conftest import LiveServer, StartServer


async def test_healthz_answers_alive_and_readyz_ready_in_normal_work(live: LiveServer, http: httpx.AsyncClient) -> None:
    health = await http.get(f"{live.base_url}/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "alive"})
    assert health.headers["cache-control"] == "no-store"
    async with live.customer("busy") as customer:
        chat_id = (await customer.request_chat())["chat_id"]
        await customer.poll(chat_id)
        ready = await http.get(f"{live.base_url}/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    head = await http.head(f"{live.base_url}/readyz")
    assert (head.status_code, head.content) == (200, b"")


async def test_readyz_answers_503_while_draining_and_held_polls_are_answered_empty(
        start_server: StartServer, demo_config: ContactCenterConfig, http: httpx.AsyncClient) -> None:
    # idle polls held 10 s (real time): the held poll is answered by the drain, not by its hold's end
    live = await start_server(settings=Settings(contact_center=demo_config, poll_hold_secs=10.0))
    async with live.customer("held") as customer:
        chat_id = (await customer.request_chat())["chat_id"]
        await customer.poll(chat_id)  # the welcome and the status: the next poll is held
        held = asyncio.ensure_future(customer.poll(chat_id))
        async with asyncio.timeout(10):
            while live.frontdesk.polls.held == 0:
                assert not held.done(), await held
                await asyncio.sleep(0.01)
        live.frontdesk.begin_drain()  # what SIGTERM and Ctrl-C start (frontdesk.server.DrainingServer)
        assert await asyncio.wait_for(held, timeout=10) == []
        ready = await http.get(f"{live.base_url}/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "not ready", "reasons": ["draining: the server is shutting down"]}
        # a new poll is not held while draining
        assert await asyncio.wait_for(customer.poll(chat_id), timeout=10) == []
    health = await http.get(f"{live.base_url}/healthz")
    assert health.status_code == 200  # still alive: draining is not dying


async def test_readyz_names_a_storage_that_does_not_answer(live: LiveServer, http: httpx.AsyncClient) -> None:
    await live.frontdesk.storage.close()
    ready = await http.get(f"{live.base_url}/readyz")
    assert ready.status_code == 503
    (reason,) = ready.json()["reasons"]
    assert reason.startswith("storage: ")


async def test_probes_take_get_only_and_carry_no_cors(live: LiveServer, http: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        refused = await http.post(f"{live.base_url}{path}")
        assert (refused.status_code, refused.headers["allow"]) == (405, "GET, HEAD"), path
        answer = await http.get(f"{live.base_url}{path}", headers={"Origin": "https://elsewhere.example"})
        assert answer.status_code == 200, path
        assert not any(name.startswith("access-control-") for name in answer.headers), path
