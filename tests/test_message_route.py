"""``MessageRoute`` answers an agent's message without FastAPI: its answers must be the FastAPI
route's own, byte for byte, for every kind of request, and it must hand FastAPI everything that is
not plainly fine (with the body it read replayed)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount

from frontdesk.agents.message_route import Message, MessageRoute, Receive, Scope, Send
from frontdesk.bus.interfaces import ChatLockTimeout
from frontdesk.client import AgentClient
from frontdesk.domain.ids import csrf_token_for
from frontdesk.settings import DEMO_AGENT_PASSWORD, DEMO_AGENT_USERNAME
from frontdesk.storage.interfaces import StorageUnavailable
from tests.conftest import LiveServer

PREFIX = "/agent/api/v1"


def _message_route(live: LiveServer) -> MessageRoute:
    app: Any = live.frontdesk.asgi
    while not isinstance(app, Starlette):
        app = app.app
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == PREFIX)
    route: Any = mount.app
    while not isinstance(route, MessageRoute):
        route = route.app
    return route


class _Recording:
    """The FastAPI app, noting the requests handed to it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []

        async def noted() -> Message:
            message = await receive()
            chunks.append(message.get("body", b""))
            return message

        await self.app(scope, noted, send)
        self.bodies.append(b"".join(chunks))


@pytest.fixture
async def setting(live: LiveServer, anna: AgentClient) -> AsyncIterator[tuple[str, _Recording, httpx.AsyncClient]]:
    customer = live.customer(client_id="route-1")
    chat_id = str((await customer.request_chat({"first_name": "Ada"}))["chat_id"])
    await anna.accept(chat_id)
    route = _message_route(live)
    recording = _Recording(route.app)
    route.app = recording
    fastapi_app = recording.app
    assert isinstance(fastapi_app, FastAPI)
    transport = httpx.ASGITransport(app=fastapi_app, root_path=PREFIX)
    async with httpx.AsyncClient(transport=transport, base_url="http://frontdesk.test") as bare:
        try:
            yield chat_id, recording, bare
        finally:
            route.app = fastapi_app
            await customer.aclose()


def _answer(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body, with what differs from one message to the next masked (and the
    headers the HTTP server and the access log add)."""
    added = ("x-request-id", "content-length", "date", "server")
    headers = {k: v for k, v in response.headers.items() if k not in added}
    body = re.sub(rb'"seq":\d+,"msg_id":"[^"]+"', b'"seq":N,"msg_id":"M"', response.content)
    return response.status_code, headers, body


async def test_answers_are_the_fastapi_routes_own(live: LiveServer, anna: AgentClient, http: httpx.AsyncClient,
                                                  setting: tuple[str, _Recording, httpx.AsyncClient]) -> None:
    chat_id, recording, bare = setting
    bearer = {"Authorization": f"Bearer {anna.token}", "Content-Type": "application/json"}
    cases: list[tuple[dict[str, str], bytes]] = [
        (bearer, b'{"text": "hello"}'),
        (bearer, b'{"text": "caf\xc3\xa9 \\u00e9", "extra": 1}'),
        (bearer, b'{"text": ""}'),
        (bearer, b'{"text": "   "}'),
        (bearer, b"not json"),
        (bearer, b"[1]"),
        ({**bearer, "Content-Type": "text/plain"}, b'{"text": "hello"}'),
        ({"Authorization": "Bearer wrong", "Content-Type": "application/json"}, b'{"text": "hello"}'),
        ({"Content-Type": "application/json"}, b'{"text": "hello"}'),
    ]
    for headers, body in cases:
        url = f"{PREFIX}/chats/{chat_id}/messages"
        fast = await http.post(live.base_url + url, headers=headers, content=body)
        routed = await bare.post(url, headers=headers, content=body)
        assert _answer(fast) == _answer(routed), (headers, body)
    unknown = await http.post(f"{live.base_url}{PREFIX}/chats/no-such-chat/messages", headers=bearer,
                              content=b'{"text": "hello"}')
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "no such chat"})
    # the plainly fine messages were answered without FastAPI; everything else was handed over whole
    assert recording.bodies == [body for _, body in cases[2:]] + [b'{"text": "hello"}']


async def test_a_session_cookie_needs_its_csrf_header(live: LiveServer,
                                                      setting: tuple[str, _Recording, httpx.AsyncClient]) -> None:
    chat_id, recording, _ = setting
    async with httpx.AsyncClient(base_url=live.base_url) as browser:
        opened = await browser.post(f"{PREFIX}/session", json={"username": DEMO_AGENT_USERNAME,
                                                               "password": DEMO_AGENT_PASSWORD})
        assert opened.status_code == 200
        session = opened.cookies["fd_session"]
        browser.cookies.clear()  # Secure cookies: sent back by hand over the test's plain HTTP
        cookie = {"Cookie": f"fd_session={session}"}
        url = f"{PREFIX}/chats/{chat_id}/messages"
        without = await browser.post(url, json={"text": "hello"}, headers=cookie)
        assert (without.status_code, without.json()) == (403, {"detail": "CSRF token missing or wrong"})
        csrf = {"X-CSRF-Token": csrf_token_for(session)}
        sent = await browser.post(url, json={"text": "hello"}, headers={**cookie, **csrf})
        assert sent.status_code == 200 and set(sent.json()) == {"seq", "msg_id"}
    assert len(recording.bodies) == 2  # the session's opening and the refused message, not the sent one


@pytest.mark.parametrize("failure", [StorageUnavailable("the database went away"), ChatLockTimeout("chat-1")])
async def test_an_unavailable_database_or_busy_chat_is_answered_as_fastapi_does(
        live: LiveServer, anna: AgentClient, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch,
        setting: tuple[str, _Recording, httpx.AsyncClient], failure: Exception) -> None:
    chat_id, recording, bare = setting

    async def failing(*args: object) -> NoReturn:
        raise failure

    where = live.frontdesk.access if isinstance(failure, StorageUnavailable) else live.frontdesk.agents
    monkeypatch.setattr(where, "authenticate" if where is live.frontdesk.access else "send_message", failing)
    headers = {"Authorization": f"Bearer {anna.token}", "Content-Type": "application/json"}
    url = f"{PREFIX}/chats/{chat_id}/messages"
    fast = await http.post(live.base_url + url, headers=headers, content=b'{"text": "hello"}')
    routed = await bare.post(url, headers=headers, content=b'{"text": "hello"}')
    assert fast.status_code == 503 and fast.headers["retry-after"] == "1"
    assert _answer(fast) == _answer(routed)
    assert recording.bodies == []  # answered, not handed over: the action might have been stored
