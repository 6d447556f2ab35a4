"""An async client of the agent API (REST + WebSocket), on httpx and websockets."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from frontdesk.client._http import HttpClientOwner

JsonObject = dict[str, Any]
# a message whose request failed before any answer is sent again after these pauses, then once more
SEND_RETRY_PAUSES_SECS = (0.2, 0.5, 1.0)


class AgentError(Exception):
    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class AgentClient(HttpClientOwner):
    def __init__(self, base_url: str, http: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api = f"{self.base_url}/agent/api/v1"
        super().__init__(http, 30.0)
        self.token = ""
        self.agent: JsonObject = {}

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self.http.request(method, f"{self.api}/{path}", headers=headers, **kwargs)
        if response.status_code != 200:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text
            raise AgentError(response.status_code, detail)
        return response.json()

    async def login(self, username: str, password: str, tenant: str = "") -> JsonObject:
        body = await self._call("POST", "login", json={"username": username, "password": password, "tenant": tenant})
        self.token = body["token"]
        self.agent = body["agent"]
        return dict(body["agent"])

    async def logout(self) -> None:
        await self._call("POST", "logout")

    async def ws_ticket(self) -> str:
        """A single-use ticket that opens the live WebSocket once, within 30 s."""
        return str((await self._call("POST", "ws-ticket"))["ticket"])

    async def set_state(self, state: str) -> JsonObject:
        return dict(await self._call("POST", "state", json={"state": state}))

    async def offers(self) -> list[JsonObject]:
        return list(await self._call("GET", "offers"))

    async def accept(self, chat_id: str) -> JsonObject:
        return dict(await self._call("POST", f"chats/{chat_id}/accept"))

    async def reject(self, chat_id: str) -> None:
        await self._call("POST", f"chats/{chat_id}/reject")

    async def chats(self) -> list[JsonObject]:
        return list(await self._call("GET", "chats"))

    async def chat(self, chat_id: str) -> JsonObject:
        return dict(await self._call("GET", f"chats/{chat_id}"))

    async def events(self, chat_id: str, after: int = 0, wait: float = 0) -> list[JsonObject]:
        body = await self._call("GET", f"chats/{chat_id}/events", params={"after": after, "wait": wait})
        return list(body["events"])

    async def send_message(self, chat_id: str, text: str, client_msg_id: str | None = None) -> JsonObject:
        """Send a message once: under a key of its own (``client_msg_id``), so when the connection
        fails before the answer (the node reached died, a balancer closed it) the same request is
        sent again, and the server answers a resend with the message already sent."""
        body = {"text": text, "client_msg_id": client_msg_id or uuid.uuid4().hex}
        for pause in SEND_RETRY_PAUSES_SECS:
            try:
                return dict(await self._call("POST", f"chats/{chat_id}/messages", json=body))
            except httpx.TransportError:
                await asyncio.sleep(pause)
        return dict(await self._call("POST", f"chats/{chat_id}/messages", json=body))

    async def typing(self, chat_id: str, typing: bool = True) -> None:
        await self._call("POST", f"chats/{chat_id}/typing", json={"typing": typing})

    async def receipt(self, chat_id: str, ref_msg_id: str, kind: str = "read") -> None:
        await self._call("POST", f"chats/{chat_id}/receipts", json={"ref_msg_id": ref_msg_id, "kind": kind})

    async def send_file(self, chat_id: str, file_name: str, data: bytes, content_type: str) -> JsonObject:
        return dict(await self._call("POST", f"chats/{chat_id}/files", files={"file": (file_name, data, content_type)}))

    async def download(self, chat_id: str, file_id: str) -> bytes:
        response = await self.http.get(f"{self.api}/chats/{chat_id}/files/{file_id}",
                                       headers={"Authorization": f"Bearer {self.token}"})
        if response.status_code != 200:
            raise AgentError(response.status_code, response.text)
        return response.content

    async def show_form(self, chat_id: str, form_name: str, timeout_secs: int = 300) -> int:
        body = await self._call("POST", f"chats/{chat_id}/forms", json={"form_name": form_name,
                                                                        "timeout_secs": timeout_secs})
        return int(body["form_request_id"])

    async def set_case(self, chat_id: str, case_id: str) -> None:
        await self._call("POST", f"chats/{chat_id}/case", json={"case_id": case_id})

    async def signaling(self, chat_id: str, data: JsonObject) -> None:
        await self._call("POST", f"chats/{chat_id}/signaling", json={"data": data})

    async def end(self, chat_id: str) -> None:
        await self._call("POST", f"chats/{chat_id}/end")

    async def transfer(self, chat_id: str, queue: str = "", agent: str = "") -> None:
        await self._call("POST", f"chats/{chat_id}/transfer", json={"queue": queue, "agent": agent})

    async def invite(self, chat_id: str, agent: str) -> None:
        await self._call("POST", f"chats/{chat_id}/invite", json={"agent": agent})

    async def join(self, chat_id: str) -> None:
        await self._call("POST", f"chats/{chat_id}/join")

    async def decline(self, chat_id: str) -> None:
        await self._call("POST", f"chats/{chat_id}/decline")

    async def leave(self, chat_id: str) -> None:
        await self._call("POST", f"chats/{chat_id}/leave")

    async def wrap_up(self, chat_id: str, disposition: str, notes: str = "") -> JsonObject:
        return dict(await self._call("POST", f"chats/{chat_id}/wrapup",
                                     json={"disposition": disposition, "notes": notes}))

    async def request_location(self, chat_id: str, timeout_secs: int = 300) -> int:
        body = await self._call("POST", f"chats/{chat_id}/location-request", json={"timeout_secs": timeout_secs})
        return int(body["form_request_id"])

    async def customer_history(self, chat_id: str) -> list[JsonObject]:
        return list(await self._call("GET", f"chats/{chat_id}/customer-history"))

    async def directory(self) -> JsonObject:
        """The tenant's queues, the other agents and the named forms (``GET /directory``)."""
        return dict(await self._call("GET", "directory"))

    async def left_messages(self, handled: bool = False) -> list[JsonObject]:
        return list(await self._call("GET", "left-messages", params={"handled": str(handled).lower()}))

    async def mark_handled(self, message_id: str) -> JsonObject:
        return dict(await self._call("POST", f"left-messages/{message_id}/handled"))

    # ---- supervisors ----

    async def overview(self) -> JsonObject:
        return dict(await self._call("GET", "supervisor/overview"))

    async def monitor(self, chat_id: str) -> None:
        await self._call("POST", f"supervisor/chats/{chat_id}/monitor")

    async def stop_monitoring(self, chat_id: str) -> None:
        await self._call("DELETE", f"supervisor/chats/{chat_id}/monitor")

    async def whisper(self, chat_id: str, text: str) -> None:
        await self._call("POST", f"supervisor/chats/{chat_id}/whisper", json={"text": text})

    async def barge(self, chat_id: str) -> None:
        await self._call("POST", f"supervisor/chats/{chat_id}/barge")

    async def report(self, kind: str, since: float | None = None, until: float | None = None) -> JsonObject:
        """``kind``: ``queues`` or ``agents``; JSON (use ``report_csv`` for CSV)."""
        params = {k: str(v) for k, v in (("since", since), ("until", until)) if v is not None}
        return dict(await self._call("GET", f"reports/{kind}", params=params))

    @asynccontextmanager
    async def live(self, cursors: dict[str, int] | None = None) -> AsyncIterator[AgentLive]:
        """The live WebSocket: ``snapshot`` and ``event`` messages; resume with ``cursors``. Opened
        with a fresh single-use ticket, so the token never appears in a URL."""
        ticket = await self.ws_ticket()
        url = self.api.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + f"/ws?ticket={ticket}"
        async with connect(url) as ws:
            await ws.send(orjson.dumps({"type": "hello", "cursors": cursors or {}}).decode())
            yield AgentLive(ws)


class AgentLive:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def receive(self) -> JsonObject:
        message = orjson.loads(await self.ws.recv())
        if not isinstance(message, dict):
            raise ValueError("expected a JSON object")
        return message
