"""What the APIs answer when the chat's cross-process delivery lock cannot be had or was lost, over
real HTTP: a lock held elsewhere beyond the wait is the documented busy answer (customer API
``503 {"error_code": "5001"}``, agent API 503 with ``Retry-After``), a lease that ran out before
the write is answered ``{"events": []}`` and moves nothing; in both cases the next poll gets
every event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from frontdesk.agents.api import AgentApi, build_agent_app
from frontdesk.bus.interfaces import ChatLockTimeout
from frontdesk.bus.local import LocalChatLocks
from frontdesk.bus.redis import RedisLink
from frontdesk.bus.redis_locks import RedisChatLocks
from tests.cluster import MACHINE_REDIS_URL, unique_prefix
from tests.conftest import LiveServer, free_port

AUTH = {"Authorization": 'MOBILE-API-140-327-PLAIN appId="demo", clientId="lock-1"'}
PARAMS = {"tenantUrl": "demo.local"}


@pytest.fixture
async def link() -> AsyncIterator[RedisLink]:
    made = RedisLink(MACHINE_REDIS_URL, unique_prefix())
    made.mark_up()
    try:
        yield made
    finally:
        keys = [k async for k in made.client.scan_iter(match=made.prefix + "*")]
        if keys:
            await made.client.delete(*keys)
        await made.close()


async def new_chat(live: LiveServer, http: httpx.AsyncClient) -> tuple[str, str]:
    """A chat with a customer event waiting (its status); the chat's URL base and id."""
    base = f"{live.base_url}/clientweb/api/v2"
    chat = (await http.post(f"{base}/chats", params=PARAMS, headers=AUTH, json={"parameters": {}})).json()
    return f"{base}/chats/{chat['chat_id']}", str(chat["chat_id"])


def names(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [str(e["event"]) for e in answer.json()["events"]]


async def test_a_chat_lock_held_elsewhere_beyond_the_wait_is_the_busy_answer(
        live: LiveServer, http: httpx.AsyncClient, link: RedisLink) -> None:
    live.frontdesk.polls.locks = RedisChatLocks(link, wait_secs=0.05)
    chat_url, chat_id = await new_chat(live, http)
    stuck = link.key("lock", "chat", chat_id)
    await link.client.set(stuck, "a-stuck-holder", px=60_000)
    for path in ("events", "history"):
        answer = await http.get(f"{chat_url}/{path}", params=PARAMS, headers=AUTH)
        assert answer.status_code == 503, path
        assert answer.json()["error_code"] == "5001"
    await link.client.delete(stuck)
    assert "chat_session_status" in names(await http.get(f"{chat_url}/events", params=PARAMS, headers=AUTH))


class _LostLease:
    held = False  # ran out before the answer was written (a process stalled past the lifetime)


class _LeaseLostBeforeTheWrite:
    cross_process = True

    @asynccontextmanager
    async def hold(self, chat_id: str) -> AsyncIterator[_LostLease]:
        yield _LostLease()


async def test_an_answer_whose_lease_ran_out_is_withheld_and_moves_nothing(
        live: LiveServer, http: httpx.AsyncClient) -> None:
    live.frontdesk.polls.locks = _LeaseLostBeforeTheWrite()
    chat_url, _ = await new_chat(live, http)
    assert names(await http.get(f"{chat_url}/events", params=PARAMS, headers=AUTH)) == []
    live.frontdesk.polls.locks = LocalChatLocks()
    assert "chat_session_status" in names(await http.get(f"{chat_url}/events", params=PARAMS, headers=AUTH))


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_config=None,
                                           log_level="warning", lifespan="off"))
    task = asyncio.ensure_future(server.serve())
    try:
        while not server.started:
            assert not task.done(), "the test server did not start"
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        await task


async def test_the_agent_api_answers_a_chat_lock_timeout_503_with_retry_after(
        live: LiveServer, http: httpx.AsyncClient) -> None:
    fd = live.frontdesk
    app = build_agent_app(AgentApi(live=fd.live, agents=fd.agents, access=fd.access, files=fd.files,
                                   stream=fd.stream, notifier=fd.notifier, version="test"))

    @app.get("/busy-chat")
    async def busy_chat() -> None:
        raise ChatLockTimeout("lock:chat:c1")  # what any agent route taking a chat's lock may meet

    async with serving(app) as base:
        answer = await http.get(f"{base}/busy-chat")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert "busy" in answer.json()["detail"]
