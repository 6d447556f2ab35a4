"""Bad input on the Mobile/Web API: every refusal has its documented HTTP status and string
``error_code``, and leaves the chat exactly as it was (history unchanged, nothing new in the
agent's log, and the next valid message still goes through to the agent)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from frontdesk.client import AgentClient, ClientError, CustomerClient
from frontdesk.domain.files import MAX_UPLOAD_BYTES
from tests.conftest import LiveServer

JsonObject = dict[str, Any]

SCHEME = "MOBILE-API-140-327-PLAIN"
AUTH = f'{SCHEME} appId="demo", clientId="device-1"'
OTHER_AUTH = f'{SCHEME} appId="demo", clientId="device-2"'
WEBCHAT_AUTH = f'{SCHEME} appId="demo", clientId="WebChat"'
TENANT = {"tenantUrl": "demo.local"}
MIB = 1024 * 1024


# ---- helpers ----------------------------------------------------------------------------------------


def assert_error(response: httpx.Response, status: int, code: str) -> JsonObject:
    """The documented error answer: the status, a JSON object with a *string* error_code and a message."""
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    body = orjson.loads(response.content)
    assert isinstance(body, dict)
    assert isinstance(body["error_code"], str)  # iOS decodes a String, the web widget compares === "5005"
    assert body["error_code"] == code, body
    assert isinstance(body["error_message"], str) and body["error_message"]
    return body


@dataclass(frozen=True)
class Mark:
    history: list[JsonObject]
    seq: int


@dataclass
class Chat:
    """A connected chat: customer device-1 talking to agent anna, with one message exchanged."""

    live: LiveServer
    http: httpx.AsyncClient
    customer: CustomerClient
    agent: AgentClient
    chat_id: str
    probes: int = field(default=0)

    def url(self, path: str, version: str = "v2") -> str:
        return f"{self.live.base_url}/clientweb/api/{version}/{path}"

    async def call(self, method: str, path: str, *, auth: str | None = AUTH, params: dict[str, str] | None = None,
                   version: str = "v2", headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        sent = dict(headers or {})
        if auth is not None:
            sent["Authorization"] = auth
        return await self.http.request(method, self.url(path, version), params=TENANT if params is None else params,
                                       headers=sent, **kwargs)

    async def post_events(self, body: bytes | Any, **kwargs: Any) -> httpx.Response:
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        return await self.call("POST", f"chats/{self.chat_id}/events", content=content, **kwargs)

    async def mark(self) -> Mark:
        history = await self.customer.history(self.chat_id)
        events = await self.agent.events(self.chat_id)
        return Mark(history, events[-1]["seq"])

    async def assert_intact(self, mark: Mark) -> None:
        """Nothing was applied, and the session still works end to end."""
        assert await self.customer.history(self.chat_id) == mark.history
        assert await self.agent.events(self.chat_id, after=mark.seq) == [], "the refused request changed the log"
        self.probes += 1
        text = f"still working {self.probes}"
        msg_id = await self.customer.send_message(self.chat_id, text)
        new = [e["event"] for e in await self.agent.events(self.chat_id, after=mark.seq)]
        assert [(e["event"], e["msg"], e["msg_id"]) for e in new] == [("chat_session_message", text, msg_id)]
        history = await self.customer.history(self.chat_id)
        assert history[:-1] == mark.history
        assert (history[-1]["event"], history[-1]["msg"]) == ("chat_session_message", text)
        assert (await self.customer.active_chat())["chat_id"] == self.chat_id


@pytest.fixture
async def chat(live: LiveServer, http: httpx.AsyncClient) -> AsyncIterator[Chat]:
    async with live.customer() as customer:
        ticket = await customer.request_chat({"first_name": "Ada"})
        agent = await live.agent()
        await agent.accept(ticket["chat_id"])
        await customer.send_message(ticket["chat_id"], "hello")
        await agent.send_message(ticket["chat_id"], "hi Ada")
        try:
            yield Chat(live, http, customer, agent, ticket["chat_id"])
        finally:
            await agent.aclose()


async def raw_request(base_url: str, target: str, method: str = "GET", headers: dict[str, str] | None = None,
                      body: bytes = b"") -> tuple[int, bytes]:
    """One HTTP/1.1 request with the target sent byte for byte (httpx would normalise ``..``)."""
    url = urlsplit(base_url)
    assert url.hostname is not None and url.port is not None
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {url.netloc}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, payload


# ---- Authorization and tenant -------------------------------------------------------------------------

AUTH_CASES = [
    pytest.param(None, TENANT, 403, "2000", id="no-authorization"),
    pytest.param("", TENANT, 403, "2000", id="empty-authorization"),
    pytest.param('Bearer appId="demo", clientId="device-1"', TENANT, 403, "2002", id="wrong-scheme"),
    pytest.param('mobile-api-140-327-plain appId="demo", clientId="device-1"', TENANT, 403, "2002",
                 id="scheme-is-case-sensitive"),
    pytest.param(f"{SCHEME} %%%garbage%%%", TENANT, 403, "2001", id="garbage-parameters"),
    pytest.param(f'{SCHEME} appId="demo, clientId="device-1', TENANT, 403, "2001", id="unbalanced-quotes"),
    pytest.param(SCHEME, TENANT, 403, "2001", id="no-parameters"),
    pytest.param(f'{SCHEME} clientId="device-1"', TENANT, 403, "2003", id="missing-appId"),
    pytest.param(f'{SCHEME} appId="", clientId="device-1"', TENANT, 403, "2003", id="empty-appId"),
    pytest.param(f'{SCHEME} appId="demo"', TENANT, 403, "2004", id="missing-clientId"),
    pytest.param(f'{SCHEME} appId="nope", clientId="device-1"', TENANT, 403, "3000", id="unknown-appId"),
    pytest.param(AUTH, {"tenantUrl": "unknown.example.com"}, 403, "1000", id="unknown-tenantUrl"),
    pytest.param(AUTH, {"tenantUrl": "https://unknown.example.com/"}, 403, "1000", id="unknown-tenantUrl-with-scheme"),
]


@pytest.mark.parametrize(("auth", "params", "status", "code"), AUTH_CASES)
async def test_bad_credentials_on_send_events_apply_nothing(chat: Chat, auth: str | None, params: dict[str, str],
                                                            status: int, code: str) -> None:
    mark = await chat.mark()
    # the body itself is a valid message: only the credentials are wrong
    body = {"events": [{"event": "chat_session_message", "msg": "sneaky", "msg_id": "x:1"}]}
    assert_error(await chat.post_events(body, auth=auth, params=params), status, code)
    await chat.assert_intact(mark)


@pytest.mark.parametrize(("auth", "params", "status", "code"), AUTH_CASES)
async def test_bad_credentials_on_reads_and_request_chat(chat: Chat, auth: str | None, params: dict[str, str],
                                                         status: int, code: str) -> None:
    mark = await chat.mark()
    for method, path in [("GET", f"chats/{chat.chat_id}/history"), ("GET", f"chats/{chat.chat_id}/events"),
                         ("GET", "chats/active"), ("GET", f"chats/{chat.chat_id}/casehistory"),
                         ("POST", f"chats/{chat.chat_id}/notifications")]:
        assert_error(await chat.call(method, path, auth=auth, params=params), status, code)
    response = await chat.call("POST", "chats", auth=auth, params=params,
                               content=orjson.dumps({"parameters": {"first_name": "Eve"}}))
    assert_error(response, status, code)
    # the poll above was refused, so it did not consume anything of the customer's cursor
    await chat.assert_intact(mark)


async def test_bad_credentials_on_v1_have_the_same_codes(chat: Chat) -> None:
    mark = await chat.mark()
    assert_error(await chat.call("GET", f"chats/{chat.chat_id}/history", auth=None, version="v1"), 403, "2000")
    assert_error(await chat.call("GET", f"chats/{chat.chat_id}/history", auth="Basic Zm9vOmJhcg==",
                                 version="v1"), 403, "2002")
    await chat.assert_intact(mark)


# ---- malformed bodies ------------------------------------------------------------------------------------

MALFORMED_EVENTS = [
    pytest.param(b'{"events": [{"event": "chat_session_message", "msg": "x"}', id="truncated-json"),
    pytest.param(b"events=chat_session_message", id="not-json"),
    pytest.param(b'{"events": [{"event": "chat_session_message", "msg": "\xff\xfe"}]}', id="invalid-utf8"),
    pytest.param(b'{"events": NaN}', id="nan"),
    pytest.param(b"[]", id="body-is-an-array"),
    pytest.param(b'"chat_session_message"', id="body-is-a-string"),
    pytest.param(b"42", id="body-is-a-number"),
    pytest.param(b'[{"events": {"event": "chat_session_message", "msg": "x"}}]', id="broken-client-shape"),
    pytest.param(b"{}", id="no-events-key"),
    pytest.param(b'{"events": {"event": "chat_session_message", "msg": "x"}}', id="events-not-an-array"),
    pytest.param(b'{"events": "chat_session_message"}', id="events-is-a-string"),
    pytest.param(b'{"events": null}', id="events-is-null"),
    pytest.param(b'{"events": ["chat_session_message"]}', id="event-not-an-object"),
    pytest.param(b'{"events": [null]}', id="event-is-null"),
    pytest.param(b'{"events": [{"msg": "no name"}]}', id="event-without-name"),
    pytest.param(b'{"events": [{"event": 7, "msg": "x"}]}', id="event-name-is-a-number"),
    pytest.param(b'{"events": [{"event": "chat_session_message", "msg": 42}]}', id="msg-is-a-number"),
    pytest.param(b'{"events": [{"event": "chat_session_message", "msg": {"text": "x"}}]}', id="msg-is-an-object"),
    pytest.param(b'{"events": [{"event": "chat_session_message", "msg": ["x"]}]}', id="msg-is-an-array"),
    pytest.param(b'{"events": [{"event": "chat_session_message"}]}', id="msg-missing"),
    pytest.param(b'{"events": [{"event": "chat_session_message", "msg": "x", "msg_id": true}]}', id="msg-id-bool"),
    pytest.param(b'{"events": [{"event": "chat_session_message", "msg": "x", "msg_id": {"a": 1}}]}',
                 id="msg-id-object"),
    pytest.param(b'{"events": [{"event": "chat_session_typing", "msg": 5}]}', id="typing-preview-number"),
    pytest.param(b'{"events": [{"event": "chat_session_message_read"}]}', id="read-without-ref"),
    pytest.param(b'{"events": [{"event": "chat_session_form_data", "form_request_id": "abc", "data": {}}]}',
                 id="form-request-id-abc"),
    pytest.param(b'{"events": [{"event": "chat_session_form_data", "form_request_id": true, "data": {}}]}',
                 id="form-request-id-bool"),
    pytest.param(b'{"events": [{"event": "chat_session_form_data", "form_request_id": 1, "data": 5}]}',
                 id="form-data-a-number"),
    pytest.param(b'{"events": [{"event": "chat_session_form_data", "form_request_id": 1, "data": ["x"]}]}',
                 id="form-data-an-array"),
    pytest.param(b'{"events": [{"event": "chat_session_location", "latitude": "north", "longitude": "1"}]}',
                 id="latitude-north"),
    pytest.param(b'{"events": [{"event": "chat_session_location", "latitude": "91", "longitude": "1"}]}',
                 id="latitude-out-of-range"),
    pytest.param(b'{"events": [{"event": "chat_session_location", "latitude": 1}]}', id="longitude-missing"),
    pytest.param(b'{"events": [{"event": "chat_session_location", "latitude": true, "longitude": 1}]}',
                 id="latitude-bool"),
    pytest.param(b'{"events": [{"event": "chat_session_file", "file_type": "image", "file_name": "a.png"}]}',
                 id="file-id-missing"),
    pytest.param(b'{"events": [{"event": "chat_session_file", "file_id": "", "file_type": "image"}]}',
                 id="file-id-empty"),
    pytest.param(b'{"events": [{"event": "chat_session_file", "file_id": "abcdefgh", "file_type": "video"}]}',
                 id="file-type-unknown"),
    pytest.param(b'{"events": [{"event": "chat_session_signaling", "data": "OFFER_CALL"}]}',
                 id="signaling-data-not-an-object"),
    pytest.param(b'{"events": [{"event": "chat_session_signaling"}]}', id="signaling-data-missing"),
    pytest.param(b'{"events": [{"event": "chat_session_navigation", "page": 3}]}', id="navigation-page-number"),
]


@pytest.mark.parametrize("body", MALFORMED_EVENTS)
async def test_malformed_send_events_is_5003_and_applies_nothing(chat: Chat, body: bytes) -> None:
    mark = await chat.mark()
    assert_error(await chat.post_events(body), 400, "5003")
    await chat.assert_intact(mark)


async def test_malformed_json_is_5003_whatever_the_content_type(chat: Chat) -> None:
    mark = await chat.mark()
    for content_type in ("application/json; charset=utf-8", "text/plain;charset=UTF-8",
                         "application/x-www-form-urlencoded"):
        response = await chat.post_events(b'{"events": [', headers={"Content-Type": content_type})
        assert_error(response, 400, "5003")
    await chat.assert_intact(mark)


@pytest.mark.parametrize("bad", [
    pytest.param({"event": "chat_session_message", "msg": 42}, id="bad-msg-last"),
    pytest.param({"event": "chat_session_form_data", "form_request_id": 999, "data": {}}, id="form-never-shown-last"),
    pytest.param({"event": "chat_session_file", "file_id": "nosuchfile123", "file_type": "image"},
                 id="unknown-file-last"),
])
async def test_a_batch_with_one_bad_event_applies_nothing(chat: Chat, bad: JsonObject) -> None:
    mark = await chat.mark()
    good = [{"event": "chat_session_message", "msg": f"good {i}", "msg_id": f"device-1:good{i}"} for i in range(3)]
    batch = [good[0], {"event": "chat_session_typing", "msg": "preview"}, good[1],
             {"event": "chat_session_message_read", "ref_msg_id": "m1"}, bad, good[2]]
    assert_error(await chat.post_events({"events": batch}), 400, "5003")
    # the bad event first or in the middle makes no difference either
    assert_error(await chat.post_events({"events": [bad, *good]}), 400, "5003")
    await chat.assert_intact(mark)


async def test_an_end_event_in_a_refused_batch_does_not_end_the_chat(chat: Chat) -> None:
    mark = await chat.mark()
    batch = [{"event": "chat_session_end"}, {"event": "chat_session_message", "msg": None}]
    assert_error(await chat.post_events({"events": batch}), 400, "5003")
    assert (await chat.agent.chat(chat.chat_id))["state"] == "connected"
    await chat.assert_intact(mark)


@pytest.mark.parametrize("body", [
    pytest.param(b'{"parameters": {"first_name": "Eve"', id="truncated"),
    pytest.param(b"[]", id="array"),
    pytest.param(b'"hello"', id="string"),
    pytest.param(b'{"parameters": "Eve"}', id="parameters-not-an-object"),
    pytest.param(b'{"parameters": {}, "phone_number": {"n": 1}}', id="phone-number-object"),
    pytest.param(b'{"parameters": {}, "initial_message": "hi"}', id="initial-message-string"),
])
async def test_malformed_request_chat_is_5003_and_creates_nothing(chat: Chat, body: bytes) -> None:
    """Also from another device, which would otherwise get a new chat."""
    mark = await chat.mark()
    for auth in (AUTH, OTHER_AUTH, WEBCHAT_AUTH):
        assert_error(await chat.call("POST", "chats", auth=auth, content=body), 400, "5003")
    assert await chat.agent.offers() == []
    other = await chat.call("GET", "chats/active", auth=OTHER_AUTH)
    assert_error(other, 404, "5005")
    await chat.assert_intact(mark)


async def test_oversized_json_body_is_413_5003(chat: Chat) -> None:
    mark = await chat.mark()
    huge_text = "x" * (MIB + 10)
    body = orjson.dumps({"events": [{"event": "chat_session_message", "msg": huge_text}]})
    # with a Content-Length: refused up front
    assert_error(await chat.post_events(body), 413, "5003")

    # streamed (chunked, no Content-Length): refused once the limit is crossed
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start:start + 64 * 1024]

    response = await chat.call("POST", f"chats/{chat.chat_id}/events", content=chunks())
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "5003")
    assert_error(await chat.call("POST", "chats", content=orjson.dumps({"parameters": {"x": huge_text}}),
                                 auth=OTHER_AUTH), 413, "5003")
    await chat.assert_intact(mark)


async def test_a_message_just_under_the_body_limit_is_refused_for_its_length_not_accepted(chat: Chat) -> None:
    """32,000 characters is the longest message; a longer one is a 5003 with a 400, nothing stored."""
    mark = await chat.mark()
    response = await chat.post_events({"events": [{"event": "chat_session_message", "msg": "y" * 32_001}]})
    assert_error(response, 400, "5003")
    await chat.assert_intact(mark)


# ---- uploads -----------------------------------------------------------------------------------------------


async def test_upload_over_25_mb_with_content_length_is_5501(chat: Chat) -> None:
    mark = await chat.mark()
    # declared far beyond the limit: answered from the headers alone, without reading the body
    status, payload = await raw_request(
        chat.live.base_url, "/clientweb/api/v2/files?tenantUrl=demo.local", method="POST",
        headers={"Authorization": AUTH, "Content-Type": "multipart/form-data; boundary=xyz",
                 "Content-Length": str(40 * MIB)})
    assert status == 400
    assert orjson.loads(payload)["error_code"] == "5501"
    # one byte over 25 MB, sent for real: the multipart overhead is allowed, the file is not
    response = await chat.call("POST", "files",
                               files={"file-upload-input": ("big.bin", b"\0" * (MAX_UPLOAD_BYTES + 1),
                                                            "application/octet-stream")})
    assert_error(response, 400, "5501")
    assert list((chat.live.data_dir / "files").iterdir()) == []
    await chat.assert_intact(mark)


async def test_upload_over_25_mb_streamed_without_content_length_is_5501(chat: Chat) -> None:
    mark = await chat.mark()
    boundary = "frontdeskboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file-upload-input\"; filename=\"big.bin\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    block = b"\1" * MIB

    async def chunks() -> AsyncIterator[bytes]:
        yield head
        for _ in range(26):
            yield block
        yield tail

    response = await chat.call("POST", "files", content=chunks(),
                               headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert "content-length" not in response.request.headers
    assert_error(response, 400, "5501")
    assert list((chat.live.data_dir / "files").iterdir()) == []
    await chat.assert_intact(mark)


async def test_upload_of_exactly_25_mb_is_accepted(chat: Chat) -> None:
    uploaded = await chat.customer.upload("max.bin", b"\2" * MAX_UPLOAD_BYTES)
    response = await chat.http.get(f"{chat.live.base_url}/clientweb/file/{uploaded['file_id']}")
    assert response.status_code == 200
    assert len(response.content) == MAX_UPLOAD_BYTES


@pytest.mark.parametrize(("content_type", "body"), [
    pytest.param("multipart/form-data; boundary=b0", b'--b0\r\nContent-Disposition: form-data; name="note"\r\n\r\n'
                 b"just text\r\n--b0--\r\n", id="only-a-text-field"),
    pytest.param("multipart/form-data; boundary=b0", b"--b0--\r\n", id="no-parts"),
    pytest.param("application/json", b'{"file": "aGVsbG8="}', id="json-instead-of-multipart"),
    pytest.param("application/octet-stream", b"raw bytes", id="raw-bytes"),
    pytest.param("multipart/form-data", b"--b0\r\n\r\nx\r\n--b0--\r\n", id="no-boundary"),
    pytest.param("multipart/form-data; boundary=b0",
                 b'--b0\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\nabc\r\n'
                 b'--b0\r\nContent-Disposition: form-data; name="g"; filename="b.txt"\r\n\r\ndef\r\n--b0--\r\n',
                 id="two-files"),
])
async def test_upload_without_exactly_one_file_part_is_a_json_400(chat: Chat, content_type: str, body: bytes) -> None:
    mark = await chat.mark()
    response = await chat.call("POST", "files", content=body, headers={"Content-Type": content_type})
    assert_error(response, 400, "5003")
    assert list((chat.live.data_dir / "files").iterdir()) == []
    await chat.assert_intact(mark)


@pytest.mark.parametrize("file_id", ["nosuchfile123456", "../frontdesk.sqlite3", "a" * 600, "x"])
async def test_file_event_for_an_unknown_file_is_5003_and_changes_nothing(chat: Chat, file_id: str) -> None:
    mark = await chat.mark()
    event = {"event": "chat_session_file", "msg_id": "device-1:f", "file_id": file_id, "file_name": "a.png",
             "file_type": "image"}
    body = assert_error(await chat.post_events({"events": [event]}), 400, "5003")
    assert "file" in body["error_message"]
    await chat.assert_intact(mark)


async def test_file_event_for_a_file_of_another_chat_is_refused(chat: Chat) -> None:
    """Once a file is attached to a chat, another chat cannot claim it by id."""
    mark = await chat.mark()
    async with chat.live.customer(client_id="device-2") as other:
        other_chat = (await other.request_chat())["chat_id"]
        uploaded = await other.upload("theirs.txt", b"their secret", "text/plain")
        await other.send_events(other_chat, {"event": "chat_session_file", "file_id": uploaded["file_id"],
                                             "file_type": "attachment"})
    event = {"event": "chat_session_file", "file_id": uploaded["file_id"], "file_type": "attachment"}
    assert_error(await chat.post_events({"events": [event]}), 400, "5003")
    assert_error(await chat.call("GET", f"chats/{chat.chat_id}/files/{uploaded['file_id']}", auth=None), 404, "5502")
    await chat.assert_intact(mark)


# ---- chats that are not yours ---------------------------------------------------------------------------------

UNKNOWN_CHAT = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize("chat_id", [UNKNOWN_CHAT, "not-a-uuid", "1", "..."])
async def test_unknown_chat_id_is_404_5005_everywhere(chat: Chat, chat_id: str) -> None:
    mark = await chat.mark()
    message = orjson.dumps({"events": [{"event": "chat_session_message", "msg": "x"}]})
    for method, path, body in [
        ("GET", f"chats/{chat_id}/events", b""), ("POST", f"chats/{chat_id}/events", message),
        ("GET", f"chats/{chat_id}/history", b""), ("POST", f"chats/{chat_id}/notifications", b"{}"),
        ("POST", f"chats/{chat_id}/notifications", b'{"android_firebase_device_token": "tok"}'),
        ("GET", f"chats/{chat_id}/casehistory", b""), ("POST", f"chats/{chat_id}/closecase", b""),
    ]:
        for version in ("v1", "v2"):
            assert_error(await chat.call(method, path, content=body, version=version), 404, "5005")
    await chat.assert_intact(mark)


async def test_another_mobile_clients_chat_is_404_5005_for_reads_and_writes(chat: Chat) -> None:
    mark = await chat.mark()
    message = orjson.dumps({"events": [{"event": "chat_session_message", "msg": "hijack"}]})
    end = orjson.dumps({"events": [{"event": "chat_session_end"}]})
    for auth in (OTHER_AUTH, f"{SCHEME} appId=demo, clientId=DEVICE-1", WEBCHAT_AUTH):
        for method, path, body in [
            ("GET", f"chats/{chat.chat_id}/events", b""), ("GET", f"chats/{chat.chat_id}/events?after=0", b""),
            ("POST", f"chats/{chat.chat_id}/events", message), ("POST", f"chats/{chat.chat_id}/events", end),
            ("GET", f"chats/{chat.chat_id}/history", b""),
            ("POST", f"chats/{chat.chat_id}/notifications", b'{"android_firebase_device_token": "tok"}'),
            ("GET", f"chats/{chat.chat_id}/casehistory", b""), ("POST", f"chats/{chat.chat_id}/closecase", b""),
        ]:
            assert_error(await chat.call(method, path, content=body, auth=auth), 404, "5005")
    # the other device asking for its active chat does not find ours either
    assert_error(await chat.call("GET", "chats/active", auth=OTHER_AUTH), 404, "5005")
    assert (await chat.agent.chat(chat.chat_id))["state"] == "connected"
    await chat.assert_intact(mark)


async def test_a_chat_that_ended_is_404_5005(chat: Chat) -> None:
    assert await chat.customer.poll(chat.chat_id)  # the customer has read everything, then leaves
    await chat.customer.end(chat.chat_id)
    # the poll first: it waits for the previous poll's cursor commit, so the order below is deterministic
    for method, path in [("GET", "events"), ("GET", "history"), ("POST", "events"), ("POST", "notifications")]:
        body = orjson.dumps({"events": [{"event": "chat_session_message", "msg": "late"}]}) if path == "events" else b""
        assert_error(await chat.call(method, f"chats/{chat.chat_id}/{path}", content=body), 404, "5005")
    ended = await chat.agent.events(chat.chat_id)
    assert ended[-1]["event"]["event"] == "chat_session_ended"
    assert not any(e["event"].get("msg") == "late" for e in ended)


# ---- WebChat visitors ------------------------------------------------------------------------------------------


async def test_what_protects_a_webchat_visitor(live: LiveServer) -> None:
    """Every web visitor sends clientId "WebChat", so clientId proves nothing. What protects a visitor:
    (1) the chat id is a random UUID only their browser learned: it is the capability;
    (2) the fd_visitor cookie (HttpOnly, minted on the widget's first call) binds the chat: a request
        with another browser's cookie, or with none, is refused with 5005 even with the right chat id;
    (3) Get Active Chat answers only to the visitor's own cookie, so nobody can discover the chat;
    (4) Request Chat from another browser never hands out an existing chat."""
    api = f"{live.base_url}/clientweb/api/v1"
    headers = {"Authorization": WEBCHAT_AUTH}

    async def call(method: str, path: str, cookie: str | None, body: JsonObject | None = None) -> httpx.Response:
        sent = {**headers, "Cookie": f"fd_visitor={cookie}"} if cookie is not None else headers
        async with httpx.AsyncClient(timeout=10) as fresh:  # a fresh jar: only the cookie we pass is sent
            return await fresh.request(method, f"{api}/{path}", params=TENANT, headers=sent,
                                       content=orjson.dumps(body) if body is not None else b"")

    # the widget's first call (availability) mints the visitor cookie
    first = await call("GET", "availability", None)
    assert first.status_code == 200
    cookie = first.cookies.get("fd_visitor")
    assert cookie and len(cookie) >= 20
    set_cookie = first.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "path=/clientweb" in set_cookie
    requested = await call("POST", "chats", cookie, {"parameters": {"first_name": "Vi"}})
    assert requested.status_code == 200 and "set-cookie" not in requested.headers
    chat_id = requested.json()["chat_id"]
    assert len(chat_id) == 36 and chat_id.count("-") == 4  # (1) a UUID, not a counter
    stranger = "someone-elses-browser-cookie-0000"

    # (2) the right chat id with the wrong cookie, or with no cookie, is refused: read and write
    for who in (stranger, None):
        assert_error(await call("GET", f"chats/{chat_id}/history", who), 404, "5005")
        assert_error(await call("GET", f"chats/{chat_id}/events", who), 404, "5005")
        message = {"events": [{"event": "chat_session_message", "msg": "from a stranger"}]}
        assert_error(await call("POST", f"chats/{chat_id}/events", who, message), 404, "5005")
        assert_error(await call("POST", f"chats/{chat_id}/events", who, {"events": [{"event": "chat_session_end"}]}),
                     404, "5005")
        # (3) nor can the chat be discovered
        assert_error(await call("GET", "chats/active", who), 404, "5005")
    assert (await call("GET", "chats/active", cookie)).json()["chat_id"] == chat_id
    # (4) another browser asking for a chat gets a new one
    other = await call("POST", "chats", stranger, {"parameters": {}})
    assert other.status_code == 200 and other.json()["chat_id"] != chat_id
    # the visitor is unaffected by all of that
    ok = await call("POST", f"chats/{chat_id}/events", cookie,
                    {"events": [{"event": "chat_session_message", "msg": "me"}]})
    assert ok.status_code == 200
    history = (await call("GET", f"chats/{chat_id}/history", cookie)).json()["events"]
    assert [e["msg"] for e in history if e["event"] == "chat_session_message" and e["party_id"] == chat_id] == ["me"]
    agent = await live.agent()
    try:
        await agent.accept(chat_id)
        said = [e["event"].get("msg") for e in await agent.events(chat_id) if e["event"].get("party_id") == chat_id]
        assert said == ["me"]
    finally:
        await agent.aclose()


async def test_a_webchat_chat_requested_without_a_cookie_is_reachable_by_its_id_alone(live: LiveServer) -> None:
    """Server-side WebChat clients (no cookie jar) keep working: their chat id is the only key."""
    api = f"{live.base_url}/clientweb/api/v1"
    async with httpx.AsyncClient(timeout=10) as script:
        requested = await script.post(f"{api}/chats", params=TENANT, headers={"Authorization": WEBCHAT_AUTH},
                                      content=b'{"parameters": {}}')
        chat_id = requested.json()["chat_id"]
        history = await script.get(f"{api}/chats/{chat_id}/history", params=TENANT,
                                   headers={"Authorization": WEBCHAT_AUTH})
        assert history.status_code == 200
    async with httpx.AsyncClient(timeout=10) as other:
        # ...but a cookieless caller still cannot discover it
        active = await other.get(f"{api}/chats/active", params=TENANT, headers={"Authorization": WEBCHAT_AUTH})
        assert_error(active, 404, "5005")


# ---- files: path tricks ---------------------------------------------------------------------------------------

SENTINEL = b"TOP-SECRET-SENTINEL-7f3a"

PATH_TRICKS = [
    "../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%2e%2e",
    "..",
    "%2e%2e%2ffrontdesk.sqlite3",
    "..%2ffrontdesk.sqlite3",
    "../frontdesk.sqlite3",
    "..%5cfrontdesk.sqlite3",
    "frontdesk.sqlite3",
    "frontdesk.sqlite3-wal",
    "secret.txt",
    "..%2fsecret.txt",
    "%2fetc%2fpasswd",
    "/etc/passwd",
    "%252e%252e%252fsecret.txt",
    "secret.txt%00",
    "%00",
    "files",
    "A" * 4000,
    "%2e%2e%2f" * 40 + "etc%2fpasswd",
]


def _never_leaks(status: int, payload: bytes) -> None:
    assert status == 404, payload[:200]
    assert SENTINEL not in payload
    assert b"SQLite format" not in payload
    assert b"root:" not in payload


@pytest.mark.parametrize("trick", PATH_TRICKS)
async def test_path_tricks_in_file_ids_are_404_5502_and_never_content(chat: Chat, trick: str) -> None:
    mark = await chat.mark()
    (chat.live.data_dir / "secret.txt").write_bytes(SENTINEL)
    (chat.live.data_dir / "files" / "secret.txt").write_bytes(SENTINEL)
    uploaded = await chat.customer.send_file(chat.chat_id, "real.txt", b"real content", "text/plain")
    targets = [f"/clientweb/file/{trick}",
               f"/clientweb/api/v1/chats/{chat.chat_id}/files/{trick}",
               f"/clientweb/api/v2/chats/{chat.chat_id}/files/{trick}",
               f"/clientweb/file/{uploaded['file_id']}/{trick}",
               f"/clientweb/api/v2/chats/{chat.chat_id}/files/{uploaded['file_id']}%2f{trick}"]
    for target in targets:
        status, payload = await raw_request(chat.live.base_url, target)
        _never_leaks(status, payload)
        error = orjson.loads(payload)
        assert isinstance(error["error_code"], str)
        assert error["error_code"] == "5502", (target, error)
    # the real file is still served, so the 404s above are not a broken route
    status, payload = await raw_request(chat.live.base_url, f"/clientweb/file/{uploaded['file_id']}")
    assert status == 200 and payload == b"real content"
    status, payload = await raw_request(chat.live.base_url,
                                        f"/clientweb/api/v2/chats/{chat.chat_id}/files/{uploaded['file_id']}")
    assert status == 200 and payload == b"real content"
    # sending the file added one event; the rest of the session is intact
    mark = Mark(await chat.customer.history(chat.chat_id), (await chat.agent.events(chat.chat_id))[-1]["seq"])
    await chat.assert_intact(mark)


async def test_a_file_is_served_only_under_its_own_chat(chat: Chat) -> None:
    uploaded = await chat.customer.send_file(chat.chat_id, "mine.txt", b"mine", "text/plain")
    file_id = uploaded["file_id"]
    for chat_id in (UNKNOWN_CHAT, "x"):
        status, payload = await raw_request(chat.live.base_url, f"/clientweb/api/v2/chats/{chat_id}/files/{file_id}")
        assert status == 404 and orjson.loads(payload)["error_code"] == "5502"
    # a file uploaded but never sent in a chat is not under any chat, only at its bare URL
    loose = await chat.customer.upload("loose.txt", b"loose", "text/plain")
    status, payload = await raw_request(chat.live.base_url,
                                        f"/clientweb/api/v2/chats/{chat.chat_id}/files/{loose['file_id']}")
    assert status == 404 and orjson.loads(payload)["error_code"] == "5502"
    # case and whitespace variants of a real id are other ids
    for variant in (file_id.swapcase(), f"{file_id}%0a", f"%20{file_id}", f"{file_id}."):
        if variant == file_id:
            continue
        status, payload = await raw_request(chat.live.base_url, f"/clientweb/file/{variant}")
        assert status == 404 and orjson.loads(payload)["error_code"] == "5502", (variant, payload)


# ---- domain refusals -----------------------------------------------------------------------------------------


async def test_signaling_to_a_destination_that_is_not_a_party_is_400(chat: Chat, live: LiveServer) -> None:
    mark = await chat.mark()
    parties = (await chat.agent.chat(chat.chat_id))["parties"]
    bot = next(p for p in parties if p["type"] == "scenario")  # the welcome bot left when anna joined
    async with live.customer(client_id="device-2") as other:
        other_chat = (await other.request_chat())["chat_id"]
        other_parties = [e["party_id"] for e in await other.history(other_chat)
                         if e["event"] == "chat_session_party_joined"]
    for destination in ("no-such-party", bot["party_id"], other_parties[0], chat.chat_id):
        event = {"event": "chat_session_signaling", "msg_id": "1", "destination_party_id": destination,
                 "data": {"type": "REQUEST_CALL"}}
        assert_error(await chat.post_events({"events": [event]}), 400, "5003")
    await chat.assert_intact(mark)


async def test_form_data_for_a_form_never_shown_is_400(chat: Chat) -> None:
    mark = await chat.mark()
    for name, extra in [("chat_session_form_data", {"data": {"a": "1"}}), ("chat_form_data_cancel", {}),
                        ("chat_session_secure_form_data", {"data": {"card": "4111"}}),
                        ("chat_session_secure_form_cancel", {})]:
        event = {"event": name, "form_request_id": 12345, "form_name": "survey", **extra}
        assert_error(await chat.post_events({"events": [event]}), 400, "5003")
    await chat.assert_intact(mark)


async def test_form_data_twice_for_the_same_form_is_400_the_second_time(chat: Chat) -> None:
    form_id = await chat.agent.show_form(chat.chat_id, "survey")
    answer = {"event": "chat_session_form_data", "form_request_id": str(form_id), "data": {"score": "5"}}
    await chat.customer.send_events(chat.chat_id, answer)
    mark = await chat.mark()
    assert_error(await chat.post_events({"events": [answer]}), 400, "5003")
    assert_error(await chat.post_events({"events": [{**answer, "event": "chat_form_data_cancel"}]}), 400, "5003")
    await chat.assert_intact(mark)


async def test_notifications_with_two_device_tokens_is_406_5603(chat: Chat) -> None:
    mark = await chat.mark()
    path = f"chats/{chat.chat_id}/notifications"
    for body in ({"ios_firebase_device_token": "a", "android_firebase_device_token": "b"},
                 {"ios_apns_device_token": "aa", "ios_app_bundle_id": "x", "android_firebase_device_token": "b"},
                 {"android_firebase_device_token": "b", "favourite_colour": "blue"}):
        assert_error(await chat.call("POST", path, content=orjson.dumps(body)), 406, "5603")
    assert_error(await chat.call("POST", path, content=b"[1]"), 400, "5003")
    assert_error(await chat.call("POST", path, content=b'{"android_firebase_device_token": 5}'), 400, "5003")
    assert_error(await chat.call("POST", path, content=b'{"ios_apns_device_token": "aa"}'), 400, "5003")
    assert (await chat.call("POST", path, content=b'{"android_firebase_device_token": "ok"}')).json() == {}
    await chat.assert_intact(mark)


async def test_close_case_and_case_history_without_a_case_are_406_5601(chat: Chat) -> None:
    mark = await chat.mark()
    for method, path in [("POST", f"chats/{chat.chat_id}/closecase"), ("POST", "closecase"),
                         ("GET", f"chats/{chat.chat_id}/casehistory"), ("GET", "casehistory")]:
        assert_error(await chat.call(method, path), 406, "5601")
    # Android's copy-pasted body on closecase is ignored: it neither ends the chat nor changes the code
    android = orjson.dumps({"events": [{"event": "chat_session_end"}]})
    assert_error(await chat.call("POST", f"chats/{chat.chat_id}/closecase", content=android), 406, "5601")
    await chat.assert_intact(mark)


@pytest.mark.parametrize("after", ["abc", "-1", "1.5", "", "0x10", " 3", "²", "1e3"])
async def test_poll_with_a_bad_after_is_400(chat: Chat, after: str) -> None:
    mark = await chat.mark()
    response = await chat.call("GET", f"chats/{chat.chat_id}/events", params={**TENANT, "after": after})
    assert_error(response, 400, "5003")
    await chat.assert_intact(mark)


async def test_refused_polls_do_not_move_the_server_side_cursor(chat: Chat) -> None:
    """Bad polls in between lose no event: the next good poll still gets the agent's message."""
    await chat.agent.send_message(chat.chat_id, "are you there?")
    assert_error(await chat.call("GET", f"chats/{chat.chat_id}/events", params={**TENANT, "after": "abc"}),
                 400, "5003")
    assert_error(await chat.call("GET", f"chats/{chat.chat_id}/events", auth=OTHER_AUTH), 404, "5005")
    assert_error(await chat.call("GET", f"chats/{chat.chat_id}/events", auth=None), 403, "2000")
    events = await chat.customer.poll(chat.chat_id)
    assert "are you there?" in [e.get("msg_text") for e in events]


async def test_unknown_api_method_is_a_json_404(chat: Chat) -> None:
    mark = await chat.mark()
    for path in ("nosuchmethod", f"chats/{chat.chat_id}/nosuch"):
        response = await chat.call("GET", path)
        assert response.status_code == 404
        assert isinstance(response.json()["error_code"], str)
    # Get Version exists only in v2
    assert_error(await chat.call("GET", "version", version="v1"), 404, "5955")
    with pytest.raises(ClientError) as refused:
        await chat.customer.send_events("nope", {"event": "chat_session_message", "msg": "x"})
    assert (refused.value.status, refused.value.error_code) == (404, "5005")
    await chat.assert_intact(mark)
