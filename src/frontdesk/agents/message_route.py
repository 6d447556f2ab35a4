"""``POST /chats/{chat_id}/messages`` of the agent API answered without FastAPI in between, when
FastAPI's route would answer it with success; every other request goes to the FastAPI app.

A message is the agent API's most frequent request, and on it FastAPI's machinery (routing,
dependency solving, body parsing and validation, response validation, its middleware) cost more
CPU than the action itself. This route runs the same steps with the same pieces — the same
authentication (``credential_of``: bearer token, else the session cookie with its CSRF rule), the
same request model (``wire.MessageRequest``), the same action and the same answer's bytes — and
hands the request to FastAPI, its body replayed, at the first thing that is not plainly fine: a
method or content type other than ``POST`` of ``application/json``, a body that does not parse or
validate, a refused credential, a domain refusal (the action rolled back, so FastAPI running it
again answers the refusal, as documented, or sends the message if the chat changed meanwhile:
either way it is sent at most once). The database's and the chat lock's 503 answers are FastAPI's
own handlers' (``storage_unavailable``, ``chat_busy``): those are not handed over, since the
action might have been stored."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from fastapi import HTTPException
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from frontdesk.agents.session import credential_of
from frontdesk.bus.interfaces import ChatLockTimeout
from frontdesk.domain.access import AccessService
from frontdesk.domain.agents import AgentService
from frontdesk.domain.errors import DomainError
from frontdesk.observability.context import bind
from frontdesk.protocol import agent as wire
from frontdesk.storage.interfaces import StorageUnavailable

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Starlette's pattern for "/chats/{chat_id}/messages" (under the API's mount)
_MESSAGE_PATH = re.compile(r"^/chats/(?P<chat_id>[^/]+)/messages$")
_JSON = b"application/json"


def storage_unavailable() -> Response:
    """The agent API's answer while the database cannot be reached."""
    return JSONResponse({"detail": "the database is not reachable now; try again"}, status_code=503,
                        headers={"Retry-After": "1"})


def chat_busy() -> Response:
    """The agent API's answer while another server holds the chat's lock."""
    return JSONResponse({"detail": "the chat is busy on another server now; try again"}, status_code=503,
                        headers={"Retry-After": "1"})


def _route_path(scope: Scope) -> str:
    path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
    return path[len(root):] if root and path.startswith(root) else path


def _json_content(scope: Scope) -> bool:
    for key, value in scope.get("headers", ()):
        if key == b"content-type":
            return bytes(value).strip().lower() == _JSON
    return False


class MessageRoute:
    """Answers a plainly fine agent message itself; anything else goes to ``app`` (FastAPI)."""

    def __init__(self, app: ASGIApp, agents: AgentService, access: AccessService) -> None:
        self.app = app
        self.agents = agents
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not _json_content(scope):
            await self.app(scope, receive, send)
            return
        match = _MESSAGE_PATH.match(_route_path(scope))
        if match is None:
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        response = await self._answer(scope, receive, received, match["chat_id"])
        if response is None:
            await self.app(scope, _replaying(received, receive), send)
            return
        await response(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, received: list[Message],
                      chat_id: str) -> Response | None:
        """The answer, or None for FastAPI to answer (``received`` holds what was read)."""
        body = await _read_body(receive, received)
        if body is None:
            return None
        try:
            request = wire.MessageRequest.model_validate(orjson.loads(body))
        except (orjson.JSONDecodeError, ValidationError):
            return None
        try:
            return await self._send(scope, chat_id, request)
        except (HTTPException, DomainError):
            return None
        except StorageUnavailable:
            return storage_unavailable()
        except ChatLockTimeout:
            return chat_busy()

    async def _send(self, scope: Scope, chat_id: str, request: wire.MessageRequest) -> Response:
        credential = await credential_of(self.access, Request(scope))
        agent = credential.agent
        scope["path_params"] = {"chat_id": chat_id}
        bind(tenant=agent.tenant, agent=agent.agent_id, chat=chat_id)
        sent = await self.agents.send_message(agent.agent_id, chat_id, request.text, request.client_msg_id)
        answer = wire.SentEvent(seq=sent.seq, msg_id=sent.msg_id)
        return Response(answer.model_dump_json(), media_type="application/json")


async def _read_body(receive: Receive, received: list[Message]) -> bytes | None:
    """The whole request body (None if the client left first), keeping every message read."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(received: list[Message], receive: Receive) -> Receive:
    """``receive`` that first gives back ``received`` (what was read already), in order."""
    pending = list(received)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
