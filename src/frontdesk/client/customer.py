"""An async customer client of the Mobile/Web API, on httpx.

    async with CustomerClient("http://127.0.0.1:8080", app_id="demo", client_id="my-device") as c:
        chat = await c.request_chat({"first_name": "Ada"})
        await c.send_message(chat["chat_id"], "Hello")
        async for event in c.events(chat["chat_id"]):
            print(event)

``events()`` uses frontdesk's explicit cursor (``after`` and ``seq``): after a dropped connection or
a restart of the script (pass ``after=`` the last ``seq`` you handled) it resumes without losing or
repeating an event.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx

from frontdesk.client._http import HttpClientOwner

JsonObject = dict[str, Any]

TERMINAL_EVENTS = frozenset({"chat_session_ended", "chat_session_inactivity_timeout"})


class ClientError(Exception):
    """An error answer of the API: HTTP status plus the documented error code and message."""

    def __init__(self, status: int, error_code: str, error_message: str) -> None:
        super().__init__(f"HTTP {status}: {error_code} {error_message}")
        self.status = status
        self.error_code = error_code
        self.error_message = error_message


class CustomerClient(HttpClientOwner):
    def __init__(self, base_url: str, app_id: str, client_id: str, tenant_url: str | None = None,
                 version: str = "v2", quoted_auth: bool = True, poll_timeout_secs: float = 20.0,
                 http: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api = f"{self.base_url}/clientweb/api/{version}"
        self.app_id = app_id
        self.client_id = client_id
        self.tenant_url = tenant_url
        self.poll_timeout_secs = poll_timeout_secs
        q = '"' if quoted_auth else ""
        self.authorization = f"MOBILE-API-140-327-PLAIN appId={q}{app_id}{q}, clientId={q}{client_id}{q}"
        super().__init__(http, httpx.Timeout(10.0, read=poll_timeout_secs))
        self._msg_ids = itertools.count(1)

    def _params(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        params = dict(extra or {})
        if self.tenant_url is not None:
            params["tenantUrl"] = self.tenant_url
        return params

    async def _call(self, method: str, path: str, json: Any = None, params: dict[str, str] | None = None,
                    timeout: float | None = None, **kwargs: Any) -> JsonObject:
        response = await self.http.request(method, f"{self.api}/{path}", json=json, params=self._params(params),
                                           headers={"Authorization": self.authorization},
                                           timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                                           **kwargs)
        return _decode(response)

    # ---- methods ----------------------------------------------------------------------------------

    async def availability(self) -> JsonObject:
        return await self._call("GET", "availability")

    async def parameters(self) -> JsonObject:
        return await self._call("GET", "parameters")

    async def configuration(self) -> JsonObject:
        return await self._call("GET", "configuration")

    async def ice_servers(self) -> JsonObject:
        return await self._call("GET", "iceservers")

    async def version(self) -> JsonObject:
        return await self._call("GET", "version")

    async def request_chat(self, parameters: JsonObject | None = None, phone_number: str = "", from_: str = "",
                           **extra: Any) -> JsonObject:
        body = {"phone_number": phone_number, "from": from_, "parameters": parameters or {}, **extra}
        return await self._call("POST", "chats", json=body)

    async def active_chat(self) -> JsonObject:
        return await self._call("GET", "chats/active")

    async def send_events(self, chat_id: str, *events: JsonObject) -> JsonObject:
        return await self._call("POST", f"chats/{chat_id}/events", json={"events": list(events)})

    def next_msg_id(self) -> str:
        return f"{self.client_id}:{next(self._msg_ids)}"

    async def send_message(self, chat_id: str, text: str, msg_id: str | None = None) -> str:
        msg_id = msg_id or self.next_msg_id()
        await self.send_events(chat_id, {"event": "chat_session_message", "msg": text, "msg_id": msg_id})
        return msg_id

    async def send_typing(self, chat_id: str, preview: str | None = None) -> None:
        event: JsonObject = {"event": "chat_session_typing"}
        if preview is not None:
            event["msg"] = preview
        await self.send_events(chat_id, event)

    async def end(self, chat_id: str) -> None:
        await self.send_events(chat_id, {"event": "chat_session_end"})

    async def poll(self, chat_id: str) -> list[JsonObject]:
        """One long poll the way the Bright Pattern clients do it (server-side cursor)."""
        body = await self._call("GET", f"chats/{chat_id}/events", timeout=self.poll_timeout_secs)
        return list(body["events"])

    async def poll_after(self, chat_id: str, after: int) -> list[JsonObject]:
        """One long poll with an explicit cursor: events after ``after``, each carrying its ``seq``."""
        body = await self._call("GET", f"chats/{chat_id}/events", params={"after": str(after)},
                                timeout=self.poll_timeout_secs)
        return list(body["events"])

    async def events(self, chat_id: str, after: int = 0, stop_at_end: bool = True) -> AsyncIterator[JsonObject]:
        """Every customer event of the chat after ``after``, exactly once and in order, across
        dropped connections. Ends after a terminal event (or when the chat is gone)."""
        cursor = after
        while True:
            try:
                batch = await self.poll_after(chat_id, cursor)
            except httpx.TransportError:
                continue  # the cursor did not move: the next poll gets the same events again
            except ClientError as error:
                if error.error_code == "5005":
                    return
                raise
            for event in batch:
                cursor = int(event["seq"])
                yield event
                if stop_at_end and event.get("event") in TERMINAL_EVENTS:
                    return

    async def history(self, chat_id: str) -> list[JsonObject]:
        return list((await self._call("GET", f"chats/{chat_id}/history"))["events"])

    async def upload(self, file_name: str, data: bytes, content_type: str = "application/octet-stream",
                     field: str = "file-upload-input") -> JsonObject:
        return await self._call("POST", "files", files={field: (file_name, data, content_type)})

    async def send_file(self, chat_id: str, file_name: str, data: bytes,
                        content_type: str = "application/octet-stream") -> JsonObject:
        uploaded = await self.upload(file_name, data, content_type)
        file_type = "image" if content_type.startswith("image/") else "attachment"
        await self.send_events(chat_id, {"event": "chat_session_file", "msg_id": self.next_msg_id(),
                                         "file_id": uploaded["file_id"], "file_name": uploaded["file_name"],
                                         "file_type": file_type})
        return uploaded

    async def download(self, chat_id: str, file_id: str) -> httpx.Response:
        response = await self.http.get(f"{self.api}/chats/{chat_id}/files/{file_id}")
        if response.status_code != 200:
            _decode(response)
        return response

    async def subscribe_push(self, chat_id: str, subscription: JsonObject) -> JsonObject:
        return await self._call("POST", f"chats/{chat_id}/notifications", json=subscription)

    async def case_history(self, chat_id: str) -> JsonObject:
        return await self._call("GET", f"chats/{chat_id}/casehistory")

    async def close_case(self, chat_id: str) -> JsonObject:
        return await self._call("POST", f"chats/{chat_id}/closecase")


def _decode(response: httpx.Response) -> JsonObject:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200:
        if isinstance(body, dict) and "error_code" in body:
            raise ClientError(response.status_code, str(body["error_code"]), str(body.get("error_message", "")))
        raise ClientError(response.status_code, "", response.text[:200])
    if not isinstance(body, dict):
        raise ClientError(response.status_code, "", "the answer is not a JSON object")
    return body
