"""Conformance of the customer Mobile/Web API, method by method, over real HTTP.

Where the exact wire matters (headers, raw bodies, query strings) the requests are made with a plain
httpx client; the rules are docs/protocol-notes.md and docs/customer-api.md.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from frontdesk.client import AgentClient
from tests.conftest import LiveServer
from tests.decoders import (
    DIGITS,
    EPOCH_SECONDS,
    check_case_history,
    check_chat_ticket,
    check_error_body,
    check_mobile_batch,
    tiny_png,
)

JsonObject = dict[str, Any]

TENANT = {"tenantUrl": "demo.local"}
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"

# docs/protocol-notes.md: the minimal configuration document the unchanged v4 widget accepts
WIDGET_CONFIGURATION = {
    "definition": {
        "chatInitiations": [{"id": "ci1", "urls": {"0": "/"},
                             "contactTab": {"enabled": True, "location": "bottom_right",
                                            "agentsAvailableMsg": "Chat with us", "outOfHoursMsg": "Offline",
                                            "iconUrl": ""},
                             "preChat": {"enabled": False}, "leaveMessage": {"enabled": False}}],
        "proactiveOffers": [], "forms": [],
        "chatWidgetStyling": {"tabStyle": "default", "width": 350, "height": 520, "color": "2db2dd",
                              "textColor": "ffffff", "fileUploadEnabled": True, "emojiSelector": False,
                              "videoCallEnabled": False, "showAgentPic": "left"}},
    "styles": {"default": {}},
    "cobrowsing": None,
}


def auth(client_id: str = "device-api", quoted: bool = True, app_id: str = "demo") -> dict[str, str]:
    q = '"' if quoted else ""
    return {"Authorization": f"MOBILE-API-140-327-PLAIN appId={q}{app_id}{q}, clientId={q}{client_id}{q}"}


def webchat(cookie: str | None = None) -> dict[str, str]:
    headers = auth("WebChat")
    if cookie is not None:
        headers["Cookie"] = f"fd_visitor={cookie}"
    return headers


def api(live: LiveServer, version: str = "v2") -> str:
    return f"{live.base_url}/clientweb/api/{version}"


def ok(response: httpx.Response) -> JsonObject:
    """A success as every client needs it: HTTP 200, application/json, a JSON object."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0].strip() == "application/json"
    body = response.json()
    assert isinstance(body, dict)
    return body


def fails(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0].strip() == "application/json"
    body = response.json()
    assert check_error_body(body) == []
    assert body["error_code"] == code


async def new_chat(http: httpx.AsyncClient, live: LiveServer, client_id: str = "device-api",
                   version: str = "v2") -> str:
    body = ok(await http.post(f"{api(live, version)}/chats", params=TENANT, headers=auth(client_id),
                              json={"phone_number": "", "from": "", "parameters": {"first_name": "Ada"}}))
    assert body["is_new_chat"] is True
    return str(body["chat_id"])


async def connected_chat(http: httpx.AsyncClient, live: LiveServer, client_id: str = "device-api",
                         version: str = "v2") -> tuple[str, AgentClient, str]:
    """A chat an agent has accepted: (chat_id, agent, the agent's party id)."""
    chat_id = await new_chat(http, live, client_id, version)
    agent = await live.agent()
    summary = await agent.accept(chat_id)
    party_id = next(p["party_id"] for p in summary["parties"] if p["type"] == "internal")
    return chat_id, agent, str(party_id)


async def new_webchat(http: httpx.AsyncClient, live: LiveServer, version: str = "v1") -> tuple[str, str]:
    """A WebChat chat requested the widget's way: ``availability`` first (the server sets the visitor
    cookie), then ``chats`` presenting it. Returns the chat id and the cookie."""
    first = await http.get(f"{api(live, version)}/availability", params=TENANT, headers=webchat())
    ok(first)
    cookie = first.cookies.get("fd_visitor")
    assert cookie
    response = await http.post(f"{api(live, version)}/chats", params=TENANT, headers=webchat(cookie),
                               json={"parameters": {}})
    body = ok(response)
    assert "set-cookie" not in response.headers
    return str(body["chat_id"]), cookie


# ---- availability, parameters, configuration, ICE servers, version -----------------------------------


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_availability(live: LiveServer, http: httpx.AsyncClient, version: str) -> None:
    body = ok(await http.get(f"{api(live, version)}/availability", params=TENANT, headers=auth()))
    assert body["chat"] == "available"
    assert isinstance(body["ewt"], str)
    assert DIGITS.fullmatch(body["ewt"])
    assert set(body) == {"chat", "ewt"}


async def test_parameters_shape(live: LiveServer, http: httpx.AsyncClient) -> None:
    body = ok(await http.get(f"{api(live)}/parameters", params=TENANT, headers=auth()))
    assert body == {"parameters": [{"first_name": "FIRST_NAME"}, {"last_name": "LAST_NAME"}, {"email": "EMAIL"}]}


async def test_configuration_is_the_widget_document(live: LiveServer, http: httpx.AsyncClient) -> None:
    body = ok(await http.get(f"{api(live, 'v1')}/configuration", headers=webchat(),
                             params={**TENANT, "domain": "shop.example:443", "appId": "demo"}))
    assert body == WIDGET_CONFIGURATION
    initiation = body["definition"]["chatInitiations"][0]
    assert initiation["contactTab"]["enabled"] is True
    assert "/" in initiation["urls"].values()


async def test_ice_servers(live: LiveServer, http: httpx.AsyncClient) -> None:
    assert ok(await http.get(f"{api(live)}/iceservers", params=TENANT, headers=auth())) == {"servers": []}


async def test_version_exists_only_in_v2(live: LiveServer, http: httpx.AsyncClient) -> None:
    body = ok(await http.get(f"{api(live, 'v2')}/version", params=TENANT, headers=auth()))
    assert set(body) == {"server_version"}
    assert isinstance(body["server_version"], str)
    assert body["server_version"]
    v1 = await http.get(f"{api(live, 'v1')}/version", params=TENANT, headers=auth())
    assert v1.status_code == 404
    assert check_error_body(v1.json()) == []


# ---- request chat and active chat ---------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_request_chat_response_fields(live: LiveServer, http: httpx.AsyncClient, version: str) -> None:
    widget_body = {"phone_number": "", "from": "", "parameters": {
        "email": "ada@example.com", "first_name": "Ada", "last_name": "L", "account_number": "", "logging": "",
        "location": {}, "user_platform": {"browser": "Firefox", "os": "Linux", "description": "x"}}}
    body = ok(await http.post(f"{api(live, version)}/chats", params=TENANT, headers=auth(f"dev-{version}"),
                              json=widget_body))
    assert check_chat_ticket(body) == []
    assert body["is_new_chat"] is True
    assert body["state"] == "queued"
    assert set(body) == {"chat_id", "state", "ewt", "is_new_chat", "phone_number"}
    assert body["phone_number"] == ""


async def test_mobile_repeat_request_returns_the_active_chat(live: LiveServer, http: httpx.AsyncClient) -> None:
    first = ok(await http.post(f"{api(live)}/chats", params=TENANT, headers=auth("phone-1"), json={}))
    again = ok(await http.post(f"{api(live)}/chats", params=TENANT, headers=auth("phone-1", quoted=False),
                               json={"parameters": {"first_name": "Ada"}}))
    assert check_chat_ticket(again) == []
    assert again["chat_id"] == first["chat_id"]
    assert again["is_new_chat"] is False
    other = ok(await http.post(f"{api(live)}/chats", params=TENANT, headers=auth("phone-2"), json={}))
    assert other["chat_id"] != first["chat_id"]
    assert other["is_new_chat"] is True


async def test_webchat_repeat_request_creates_a_new_chat_each_time(live: LiveServer, http: httpx.AsyncClient) -> None:
    chat_id, cookie = await new_webchat(http, live)
    ids = {chat_id}
    for headers in (webchat(), webchat(cookie), webchat(cookie)):
        body = ok(await http.post(f"{api(live, 'v1')}/chats", params=TENANT, headers=headers, json={}))
        assert body["is_new_chat"] is True
        ids.add(body["chat_id"])
    assert len(ids) == 4


async def test_active_chat_of_a_mobile_client(live: LiveServer, http: httpx.AsyncClient) -> None:
    fails(await http.get(f"{api(live)}/chats/active", params=TENANT, headers=auth("phone-3")), 404, "5005")
    chat_id = await new_chat(http, live, "phone-3")
    body = ok(await http.get(f"{api(live)}/chats/active", params=TENANT, headers=auth("phone-3", quoted=False)))
    assert check_chat_ticket(body, with_is_new_chat=False) == []
    assert body["chat_id"] == chat_id
    assert set(body) == {"chat_id", "state", "ewt", "phone_number"}
    fails(await http.get(f"{api(live)}/chats/active", params=TENANT, headers=auth("phone-4")), 404, "5005")


async def test_active_chat_of_a_web_visitor_needs_its_cookie(live: LiveServer, http: httpx.AsyncClient) -> None:
    chat_id, cookie = await new_webchat(http, live)
    body = ok(await http.get(f"{api(live, 'v1')}/chats/active", params=TENANT, headers=webchat(cookie)))
    assert body["chat_id"] == chat_id
    fails(await http.get(f"{api(live, 'v1')}/chats/active", params=TENANT, headers=webchat()), 404, "5005")
    fails(await http.get(f"{api(live, 'v1')}/chats/active", params=TENANT, headers=webchat("someone-else")),
          404, "5005")


async def test_active_chat_is_gone_after_the_chat_ends(live: LiveServer, http: httpx.AsyncClient) -> None:
    chat_id, agent, _ = await connected_chat(http, live, "phone-5")
    async with agent:
        await agent.end(chat_id)
    fails(await http.get(f"{api(live)}/chats/active", params=TENANT, headers=auth("phone-5")), 404, "5005")


async def test_request_sms(live: LiveServer, http: httpx.AsyncClient) -> None:
    body = ok(await http.post(f"{api(live, 'v1')}/requestsms", params=TENANT, headers=auth(),
                              json={"phone_number": "+15550100", "from": "", "parameters": {}}))
    assert body["sms_error_code"] == 5
    assert type(body["sms_error_code"]) is int
    assert isinstance(body["error_message"], str)


# ---- send events, poll, history -------------------------------------------------------------------------


async def test_post_events_answers_empty_and_keeps_queued_events(live: LiveServer, http: httpx.AsyncClient) -> None:
    chat_id = await new_chat(http, live, "phone-6")  # party_joined, welcome and status are queued
    response = await http.post(f"{api(live)}/chats/{chat_id}/events", params=TENANT, headers=auth("phone-6"),
                               json={"events": [{"event": "chat_session_message", "msg": "hi", "msg_id": "1"}]})
    assert ok(response) == {"events": []}
    assert response.content.replace(b" ", b"") == b'{"events":[]}'
    polled = ok(await http.get(f"{api(live)}/chats/{chat_id}/events", params=TENANT, headers=auth("phone-6")))
    assert [e["event"] for e in polled["events"]] == [
        "chat_session_party_joined", "chat_session_message", "chat_session_status"]
    assert all(e.get("party_id") != chat_id for e in polled["events"])  # own message not echoed


async def test_idle_poll_answers_empty_events(live: LiveServer, http: httpx.AsyncClient) -> None:
    chat_id = await new_chat(http, live, "phone-7")
    ok(await http.get(f"{api(live)}/chats/{chat_id}/events", params=TENANT, headers=auth("phone-7")))
    idle = await http.get(f"{api(live)}/chats/{chat_id}/events", params=TENANT, headers=auth("phone-7"))
    assert ok(idle) == {"events": []}


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_history(live: LiveServer, http: httpx.AsyncClient, version: str) -> None:
    chat_id, agent, party_id = await connected_chat(http, live, f"phone-h-{version}", version)
    async with agent:
        headers = auth(f"phone-h-{version}")
        await http.post(f"{api(live, version)}/chats/{chat_id}/events", params=TENANT, headers=headers,
                        json={"events": [{"event": "chat_session_message", "msg": "a &lt; b", "msg_id": "3"}]})
        await agent.send_message(chat_id, "hello")
        body = ok(await http.get(f"{api(live, version)}/chats/{chat_id}/history", params=TENANT, headers=headers))
    events = body["events"]
    assert check_mobile_batch(events) == []
    messages = [e for e in events if e["event"] == "chat_session_message"]
    assert [(m["party_id"], m["msg"]) for m in messages[1:]] == [(chat_id, "a &lt; b"), (party_id, "hello")]
    assert messages[1]["msg_id"] == "3"
    assert messages[1]["msg_text"] == "a < b"
    timestamps = [e["timestamp"] for e in events if "timestamp" in e]
    assert timestamps == sorted(timestamps)


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_same_chat_flow_under_both_versions(live: LiveServer, version: str) -> None:
    async with live.customer(client_id=f"flow-{version}", version=version, quoted_auth=version == "v1") as customer:
        chat = await customer.request_chat({"first_name": "Ada"})
        chat_id = chat["chat_id"]
        async with await live.agent() as agent:
            assert [o["chat_id"] for o in await agent.offers()] == [chat_id]
            await agent.accept(chat_id)
            await customer.send_message(chat_id, "question")
            seen = [e["event"]["event"] for e in await agent.events(chat_id)]
            assert seen.count("chat_session_message") == 2  # the welcome and the question
            await agent.send_message(chat_id, "answer")
            polled = await customer.poll(chat_id)
            assert [e["msg"] for e in polled if e["event"] == "chat_session_message"][-1] == "answer"
            await agent.end(chat_id)
        final = await customer.poll(chat_id)
        assert [e["event"] for e in final] == ["chat_session_party_left", "chat_session_ended"]
        base = f"{customer.api}/chats/{chat_id}"
        for method, path in (("GET", "events"), ("GET", "history"), ("POST", "events")):
            response = await customer.http.request(method, f"{base}/{path}", params=TENANT,
                                                   headers={"Authorization": customer.authorization},
                                                   json={"events": []} if method == "POST" else None)
            fails(response, 404, "5005")


# ---- files -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["file-upload-input", "file"])
async def test_upload_accepts_both_field_names(live: LiveServer, field: str) -> None:
    async with live.customer(client_id=f"uploader-{field}") as customer:
        body = await customer.upload("notes.txt", b"some notes\n", "text/plain", field=field)
    assert set(body) == {"file_id", "file_name"}
    assert isinstance(body["file_id"], str)
    assert body["file_id"]
    assert body["file_name"] == "notes.txt"


async def test_upload_android_style_raw_multipart(live: LiveServer, http: httpx.AsyncClient) -> None:
    boundary = "Boundary-" + uuid.uuid4().hex
    raw = (f"\r\n--{boundary}\r\n"
           'Content-Disposition: form-data;name="file-upload-input";filename="photo.jpg"\r\n'
           "Content-Type: image/jpeg\r\n\r\n").encode() + JPEG + f"\r\n--{boundary}--\r\n".encode()
    headers = {**auth("android-1", quoted=False), "Content-Type": f"multipart/form-data; boundary={boundary}",
               "UserAgent": "MobileClient", "Cache-Control": "no-cache"}
    body = ok(await http.post(f"{api(live)}/files", params={**TENANT, "nonce": "1700000000000"}, headers=headers,
                              content=raw))
    assert body["file_name"] == "photo.jpg"
    download = await http.get(f"{live.base_url}/clientweb/file/{body['file_id']}")
    assert download.status_code == 200
    assert download.content == JPEG
    assert download.headers["content-type"].startswith("image/jpeg")


async def test_file_download_without_authorization_at_both_urls(live: LiveServer, http: httpx.AsyncClient) -> None:
    chat_id = await new_chat(http, live, "phone-f")
    png = tiny_png()
    files = {"file-upload-input": ("blob.bin", png, "application/octet-stream")}
    uploaded = ok(await http.post(f"{api(live)}/files", params=TENANT, headers=auth("phone-f"), files=files))
    file_id = uploaded["file_id"]
    ok(await http.post(f"{api(live)}/chats/{chat_id}/events", params=TENANT, headers=auth("phone-f"),
                       json={"events": [{"event": "chat_session_file", "msg_id": "", "file_id": file_id,
                                         "file_type": "image", "file_name": uploaded["file_name"]}]}))
    for url in (f"{api(live, 'v2')}/chats/{chat_id}/files/{file_id}",
                f"{api(live, 'v1')}/chats/{chat_id}/files/{file_id}",
                f"{live.base_url}/clientweb/file/{file_id}"):
        response = await http.get(url)  # no Authorization, no tenantUrl
        assert response.status_code == 200, url
        assert response.headers["content-type"] == "image/png"
        assert response.content == png
    # spchat's GET carries a JSON body and content type, with its Authorization
    response = await http.request("GET", f"{api(live, 'v1')}/chats/{chat_id}/files/{file_id}",
                                  headers={**auth("phone-f"), "Content-Type": "application/json"}, content=b"{}")
    assert response.content == png
    fails(await http.get(f"{live.base_url}/clientweb/file/no-such-file"), 404, "5502")
    other_chat = await new_chat(http, live, "phone-g")
    fails(await http.get(f"{api(live)}/chats/{other_chat}/files/{file_id}"), 404, "5502")


async def test_agent_profile_photo_without_authorization(live: LiveServer, http: httpx.AsyncClient) -> None:
    chat_id, agent, party_id = await connected_chat(http, live, "phone-p")
    await agent.aclose()
    for version in ("v1", "v2"):
        response = await http.get(f"{api(live, version)}/chats/{chat_id}/profilephotos/{party_id}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("image/svg+xml")
        assert response.content.startswith(b"<svg")
        assert b">A</text>" in response.content  # Anna's initial
    fails(await http.get(f"{api(live)}/chats/{chat_id}/profilephotos/{uuid.uuid4()}"), 404, "5502")
    fails(await http.get(f"{api(live)}/chats/{uuid.uuid4()}/profilephotos/{party_id}"), 404, "5502")


async def test_chat_icon_is_absent_in_the_demo(live: LiveServer, http: httpx.AsyncClient) -> None:
    chat_id = await new_chat(http, live, "phone-i")
    fails(await http.get(f"{api(live, 'v1')}/chats/{chat_id}/chaticon"), 404, "5502")


# ---- notifications and cases (v2) -----------------------------------------------------------------------


async def stored_push(live: LiveServer, chat_id: str) -> JsonObject | None:
    async with live.frontdesk.storage.read() as tx:
        return await tx.push.get(chat_id)


async def test_notifications_subscribe_cancel_and_refuse_two_tokens(live: LiveServer, http: httpx.AsyncClient) -> None:
    chat_id = await new_chat(http, live, "phone-n")
    url = f"{api(live)}/chats/{chat_id}/notifications"
    headers = auth("phone-n", quoted=False)
    assert ok(await http.post(url, params=TENANT, headers=headers,
                              json={"android_firebase_device_token": "fcm-token"})) == {}
    assert await stored_push(live, chat_id) == {"android_firebase_device_token": "fcm-token"}
    assert ok(await http.post(url, params=TENANT, headers=headers,
                              json={"ios_apns_device_token": "a1b2", "ios_app_bundle_id": "com.example.app"})) == {}
    assert await stored_push(live, chat_id) == {"ios_apns_device_token": "a1b2", "ios_app_bundle_id": "com.example.app"}
    assert ok(await http.post(url, params=TENANT, headers=headers, json={})) == {}
    assert await stored_push(live, chat_id) is None
    fails(await http.post(url, params=TENANT, headers=headers,
                          json={"ios_firebase_device_token": "x", "android_firebase_device_token": "y"}), 406, "5603")
    assert await stored_push(live, chat_id) is None


async def test_case_methods_need_a_case(live: LiveServer, http: httpx.AsyncClient) -> None:
    chat_id = await new_chat(http, live, "phone-c0")
    headers = auth("phone-c0")
    fails(await http.get(f"{api(live)}/chats/{chat_id}/casehistory", params=TENANT, headers=headers), 406, "5601")
    fails(await http.post(f"{api(live)}/chats/{chat_id}/closecase", params=TENANT, headers=headers), 406, "5601")
    fails(await http.get(f"{api(live)}/casehistory", params=TENANT, headers=headers), 406, "5601")
    fails(await http.post(f"{api(live)}/closecase", params=TENANT, headers=headers), 406, "5601")
    # without an active chat the root variants find nothing
    fails(await http.get(f"{api(live)}/casehistory", params=TENANT, headers=auth("phone-nobody")), 404, "5005")


async def test_case_history_and_close_case_after_the_agent_sets_a_case(live: LiveServer,
                                                                       http: httpx.AsyncClient) -> None:
    headers = auth("phone-c1", quoted=False)
    first_chat, agent, _ = await connected_chat(http, live, "phone-c1")
    async with agent:
        await agent.set_case(first_chat, "CASE-7")
        await agent.end(first_chat)
        chat_id = await new_chat(http, live, "phone-c1")
        await agent.accept(chat_id)
        await agent.set_case(chat_id, "CASE-7")
        for url in (f"{api(live)}/chats/{chat_id}/casehistory", f"{api(live)}/casehistory"):
            body = ok(await http.get(url, params=TENANT, headers=headers))
            assert check_case_history(body) == []
            sessions = body["sessions"]
            assert {s["chat_id"] for s in sessions} == {first_chat, chat_id}
            assert all(EPOCH_SECONDS.fullmatch(s["created_time"]) for s in sessions)
            current = next(s for s in sessions if s["chat_id"] == chat_id)
            assert current["events"][-1]["event"] == "chat_session_case_set"
            assert current["events"][-1]["case_id"] == "CASE-7"
        # Android posts {"events":[{"event":"chat_session_end"}]} to closecase: ignored, the chat goes on
        assert ok(await http.post(f"{api(live)}/chats/{chat_id}/closecase", params=TENANT, headers=headers,
                                  json={"events": [{"event": "chat_session_end"}]})) == {}
        assert ok(await http.post(f"{api(live)}/closecase", params=TENANT, headers=headers)) == {}
        await agent.send_message(chat_id, "still here")
    polled = ok(await http.get(f"{api(live)}/chats/{chat_id}/events", params=TENANT, headers=headers))
    assert "chat_session_ended" not in [e["event"] for e in polled["events"]]
    assert polled["events"][-1]["msg"] == "still here"


# ---- Authorization, tenantUrl, query parameters, paths ------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        'MOBILE-API-140-327-PLAIN appId="demo", clientId="spell-1"',
        "MOBILE-API-140-327-PLAIN appId=demo, clientId=spell-1",
        'MOBILE-API-140-327-PLAIN appId="demo",clientId="spell-1"',
        "MOBILE-API-140-327-PLAIN   appId = demo ,   clientId = spell-1",
        'MOBILE-API-140-327-PLAIN clientId="spell-1", appId="demo"',
        "MOBILE-API-140-327-PLAIN clientId=spell-1,appId=demo",
    ],
)
async def test_authorization_spellings_name_the_same_client(live: LiveServer, http: httpx.AsyncClient,
                                                            header: str) -> None:
    chat_id = await new_chat(http, live, "spell-1")
    ok(await http.get(f"{api(live)}/availability", params=TENANT, headers={"Authorization": header}))
    again = ok(await http.post(f"{api(live)}/chats", params=TENANT, headers={"Authorization": header}, json={}))
    assert (again["chat_id"], again["is_new_chat"]) == (chat_id, False)
    ok(await http.get(f"{api(live)}/chats/{chat_id}/history", params=TENANT, headers={"Authorization": header}))


@pytest.mark.parametrize(
    "query",
    [
        "tenantUrl=demo.local",
        "tenantUrl=https://demo.local/",
        "tenantUrl=https%3A%2F%2Fdemo.local%2F",
        "tenantUrl=demo.local%3A443",
        "tenantUrl=DEMO.LOCAL",
        "tenantUrl=demo",
        "",
    ],
)
async def test_tenant_url_variants(live: LiveServer, http: httpx.AsyncClient, query: str) -> None:
    chat_id = await new_chat(http, live, "tenant-1")
    suffix = f"?{query}" if query else ""
    ok(await http.get(f"{api(live)}/availability{suffix}", headers=auth("tenant-1")))
    again = ok(await http.post(f"{api(live)}/chats{suffix}", headers=auth("tenant-1"), json={}))
    assert (again["chat_id"], again["is_new_chat"]) == (chat_id, False)


async def test_missing_tenant_url_falls_back_to_host_then_default(live: LiveServer, http: httpx.AsyncClient) -> None:
    chat_id = await new_chat(http, live, "tenant-2")
    for host in ("demo.local", "demo.local:8443", "unknown.example"):
        again = ok(await http.post(f"{api(live)}/chats", headers={**auth("tenant-2"), "Host": host}, json={}))
        assert again["chat_id"] == chat_id


async def test_unknown_tenant_url_is_refused(live: LiveServer, http: httpx.AsyncClient) -> None:
    for path in ("availability", "configuration", "iceservers"):
        fails(await http.get(f"{api(live)}/{path}", params={"tenantUrl": "nope.example"}, headers=auth()),
              403, "1000")
    fails(await http.post(f"{api(live)}/chats", params={"tenantUrl": "https://nope.example/"}, headers=auth(),
                          json={}), 403, "1000")


async def test_unknown_query_parameters_are_ignored(live: LiveServer, http: httpx.AsyncClient) -> None:
    extra = {"timestamp": "1700000000123", "nonce": "1700000000456", "domain": "shop.example:443", "appId": "demo",
             "locale": "en"}
    ok(await http.get(f"{api(live, 'v1')}/availability", params={**TENANT, **extra}, headers=webchat()))
    ok(await http.get(f"{api(live, 'v1')}/iceservers", params={**TENANT, **extra}, headers=webchat()))
    body = ok(await http.post(f"{api(live)}/chats", params={**TENANT, **extra}, headers=auth("query-1"), json={}))
    polled = ok(await http.get(f"{api(live)}/chats/{body['chat_id']}/events", params={**TENANT, **extra},
                               headers=auth("query-1")))
    assert polled["events"]
    assert "seq" not in polled["events"][0]  # only the explicit 'after' cursor adds seq


async def test_double_slash_paths(live: LiveServer, http: httpx.AsyncClient) -> None:
    body = ok(await http.get(f"{live.base_url}/clientweb/api/v1//iceservers", params=TENANT, headers=webchat()))
    assert body == {"servers": []}
    ok(await http.get(f"{live.base_url}/clientweb/api/v1//availability", params=TENANT, headers=webchat()))


# ---- content types -------------------------------------------------------------------------------------------


async def test_json_bodies_under_text_plain_and_without_content_type(live: LiveServer,
                                                                     http: httpx.AsyncClient) -> None:
    headers = auth("ctype-1")
    body = ok(await http.post(f"{api(live, 'v1')}/chats", params=TENANT, content=b'{"parameters":{"first_name":"A"}}',
                              headers={**headers, "Content-Type": "text/plain;charset=UTF-8"}))
    chat_id = body["chat_id"]
    assert body["is_new_chat"] is True
    event = b'{"events":[{"event":"chat_session_message","msg":"plain","msg_id":"1"}]}'
    sent = await http.post(f"{api(live, 'v1')}/chats/{chat_id}/events", params=TENANT, content=event,
                           headers=headers)
    assert "content-type" not in sent.request.headers
    assert ok(sent) == {"events": []}
    event2 = b'{"events":[{"event":"chat_session_message","msg":"charset","msg_id":"3"}]}'
    ok(await http.post(f"{api(live, 'v1')}/chats/{chat_id}/events", params=TENANT, content=event2,
                       headers={**headers, "Content-Type": "application/json; charset=UTF-8"}))
    history = ok(await http.get(f"{api(live, 'v1')}/chats/{chat_id}/history", params=TENANT, headers=headers))
    own = [e["msg"] for e in history["events"] if e["event"] == "chat_session_message" and e["party_id"] == chat_id]
    assert own == ["plain", "charset"]


async def test_every_success_is_application_json(live: LiveServer, http: httpx.AsyncClient) -> None:
    h = auth("json-1")
    chat_id, agent, _ = await connected_chat(http, live, "json-1")
    async with agent:
        await agent.set_case(chat_id, "CASE-J")
        base = api(live)
        files = {"file": ("a.txt", b"abc", "text/plain")}
        responses = [
            await http.get(f"{base}/availability", params=TENANT, headers=h),
            await http.get(f"{base}/parameters", params=TENANT, headers=h),
            await http.get(f"{base}/configuration", params=TENANT, headers=h),
            await http.get(f"{base}/iceservers", params=TENANT, headers=h),
            await http.get(f"{base}/version", params=TENANT, headers=h),
            await http.post(f"{base}/chats", params=TENANT, headers=h, json={}),
            await http.get(f"{base}/chats/active", params=TENANT, headers=h),
            await http.post(f"{base}/requestsms", params=TENANT, headers=h, json={}),
            await http.post(f"{base}/chats/{chat_id}/events", params=TENANT, headers=h, json={"events": []}),
            await http.get(f"{base}/chats/{chat_id}/events", params=TENANT, headers=h),
            await http.get(f"{base}/chats/{chat_id}/events", params={**TENANT, "after": "0"}, headers=h),
            await http.get(f"{base}/chats/{chat_id}/history", params=TENANT, headers=h),
            await http.post(f"{base}/files", params=TENANT, headers=h, files=files),
            await http.post(f"{base}/chats/{chat_id}/notifications", params=TENANT, headers=h, json={}),
            await http.get(f"{base}/chats/{chat_id}/casehistory", params=TENANT, headers=h),
            await http.post(f"{base}/chats/{chat_id}/closecase", params=TENANT, headers=h),
        ]
    for response in responses:
        ok(response)
        assert response.headers["cache-control"] == "no-store", response.request.url


# ---- WebChat cookie --------------------------------------------------------------------------------------------


async def test_webchat_first_response_sets_the_visitor_cookie(live: LiveServer, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{api(live, 'v1')}/availability", params=TENANT, headers=webchat())
    ok(response)
    set_cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=", 1)[0].lower() for part in set_cookie.split(";")}
    assert set_cookie.startswith("fd_visitor=")
    assert {"secure", "httponly", "path"} <= attributes
    assert "samesite=none" in set_cookie.lower().replace(" ", "")
    cookie = response.cookies["fd_visitor"]
    again = await http.get(f"{api(live, 'v1')}/availability", params=TENANT, headers=webchat(cookie))
    assert "set-cookie" not in again.headers
    mobile = await http.get(f"{api(live, 'v1')}/availability", params=TENANT, headers=auth())
    assert "set-cookie" not in mobile.headers


async def test_webchat_chat_requested_with_a_cookie_is_bound_to_it(live: LiveServer,
                                                                    http: httpx.AsyncClient) -> None:
    chat_id, cookie = await new_webchat(http, live)
    history_url = f"{api(live, 'v1')}/chats/{chat_id}/history"
    assert ok(await http.get(history_url, params=TENANT, headers=webchat(cookie)))["events"]
    ok(await http.post(f"{api(live, 'v1')}/chats/{chat_id}/events", params=TENANT, headers=webchat(cookie),
                       json={"events": [{"event": "chat_session_message", "msg": "mine"}]}))
    # another visitor, or a request without the cookie, cannot read or write it even knowing the chat id
    for headers in (webchat("another-visitor-cookie"), webchat()):
        fails(await http.get(history_url, params=TENANT, headers=headers), 404, "5005")
        fails(await http.get(f"{api(live, 'v1')}/chats/{chat_id}/events", params=TENANT, headers=headers),
              404, "5005")
        fails(await http.post(f"{api(live, 'v1')}/chats/{chat_id}/events", params=TENANT, headers=headers,
                              json={"events": [{"event": "chat_session_message", "msg": "x"}]}), 404, "5005")
    history = ok(await http.get(history_url, params=TENANT, headers=webchat(cookie)))["events"]
    assert [e["msg"] for e in history if e.get("party_id") == chat_id] == ["mine"]
    # another appId never reaches the chat
    fails(await http.get(history_url, params=TENANT, headers=auth("WebChat", app_id="other-app")), 403, "3000")


async def test_webchat_chat_requested_without_a_cookie_is_reached_by_its_id(live: LiveServer,
                                                                            http: httpx.AsyncClient) -> None:
    # a client without a cookie jar (server-side scripts, third-party cookies blocked): the chat id is
    # the capability
    chat_id = ok(await http.post(f"{api(live, 'v1')}/chats", params=TENANT, headers=webchat(), json={}))["chat_id"]
    history_url = f"{api(live, 'v1')}/chats/{chat_id}/history"
    assert ok(await http.get(history_url, params=TENANT, headers=webchat()))["events"]
    ok(await http.post(f"{api(live, 'v1')}/chats/{chat_id}/events", params=TENANT, headers=webchat(),
                       json={"events": [{"event": "chat_session_message", "msg": "from a script"}]}))
    polled = ok(await http.get(f"{api(live, 'v1')}/chats/{chat_id}/events", params=TENANT, headers=webchat()))
    # the history answer showed the welcome already: the poll does not repeat it (reload behaviour)
    assert polled["events"] == []
    # it has no cookie, so no visitor finds it as its active chat
    fails(await http.get(f"{api(live, 'v1')}/chats/active", params=TENANT, headers=webchat()), 404, "5005")
