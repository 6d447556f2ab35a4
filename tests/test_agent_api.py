"""The agent API over real HTTP and a real WebSocket: login and tokens, state, routing and capacity,
offers, every chat action and what the customer sees of it, and the live event stream."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from frontdesk.client import AgentClient, ClientError, CustomerClient
from frontdesk.client.agent import AgentError, AgentLive
from frontdesk.settings import DEMO_AGENT_PASSWORD, DEMO_AGENT_USERNAME
from tests.conftest import LiveServer

JsonObject = dict[str, Any]

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


# ---- helpers ---------------------------------------------------------------------------------------------


def api(live: LiveServer) -> str:
    return f"{live.base_url}/agent/api/v1"


def ws_url(live: LiveServer, token: str) -> str:
    return api(live).replace("http://", "ws://", 1) + f"/ws?token={token}"


def names(events: list[JsonObject]) -> list[str]:
    return [e["event"] for e in events]


def agent_view(records: list[JsonObject]) -> list[JsonObject]:
    """The payloads of the agent API's ``{"seq", "event"}`` records."""
    return [r["event"] for r in records]


async def customer_inbox(customer: CustomerClient, chat_id: str) -> list[JsonObject]:
    """Everything the customer has been sent so far (one explicit-cursor poll from the start)."""
    return await customer.poll_after(chat_id, 0)


async def refused(status: int, call: Awaitable[Any]) -> AgentError:
    with pytest.raises(AgentError) as caught:
        await call
    assert caught.value.status == status, caught.value
    return caught.value


async def receive_until(live_ws: AgentLive, done: Callable[[JsonObject], bool], timeout: float = 5.0
                        ) -> list[JsonObject]:
    """WebSocket messages up to and including the first one for which ``done`` is true."""
    got: list[JsonObject] = []
    async with asyncio.timeout(timeout):
        while True:
            message = await live_ws.receive()
            got.append(message)
            if done(message):
                return got


def is_event(name: str, **fields: Any) -> Callable[[JsonObject], bool]:
    def match(message: JsonObject) -> bool:
        if message.get("type") != "event" or message["event"].get("event") != name:
            return False
        return all(message["event"].get(k) == v for k, v in fields.items())

    return match


def is_snapshot(check: Callable[[JsonObject], bool]) -> Callable[[JsonObject], bool]:
    return lambda message: message.get("type") == "snapshot" and check(message)


async def close_code(live: LiveServer, token: str, first: str | None) -> int:
    """Open the agent WebSocket, optionally send one text message, and return the server's close code."""
    async with connect(ws_url(live, token)) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(5):
                if first is not None:
                    await ws.send(first)  # the server may already be closing: that raises too
                while True:
                    await ws.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def me(agent: AgentClient) -> JsonObject:
    response = await agent.http.get(f"{agent.api}/me", headers={"Authorization": f"Bearer {agent.token}"})
    assert response.status_code == 200
    return dict(response.json())


async def connected(live: LiveServer, agent: AgentClient, client_id: str = "device-1") -> tuple[CustomerClient, str]:
    customer = live.customer(client_id=client_id)
    chat_id = (await customer.request_chat({"first_name": "Ada", "email": "ada@example.com"}))["chat_id"]
    await agent.accept(chat_id)
    return customer, chat_id


# ---- OpenAPI and docs -----------------------------------------------------------------------------------


async def test_openapi_document_lists_the_agent_api(live: LiveServer, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{api(live)}/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    expected = {
        "/login": "post", "/logout": "post", "/me": "get", "/state": "post", "/offers": "get", "/chats": "get",
        "/chats/{chat_id}": "get", "/chats/{chat_id}/accept": "post", "/chats/{chat_id}/reject": "post",
        "/chats/{chat_id}/events": "get", "/chats/{chat_id}/messages": "post", "/chats/{chat_id}/typing": "post",
        "/chats/{chat_id}/receipts": "post", "/chats/{chat_id}/files": "post",
        "/chats/{chat_id}/files/{file_id}": "get", "/chats/{chat_id}/forms": "post",
        "/chats/{chat_id}/case": "post", "/chats/{chat_id}/signaling": "post", "/chats/{chat_id}/end": "post",
    }
    for path, method in expected.items():
        assert method in paths.get(path, {}), f"{method.upper()} {path} is not in the OpenAPI document"
    # the documented error answers and the request bodies are described
    assert "401" in paths["/chats/{chat_id}/messages"]["post"]["responses"]
    assert "409" in paths["/chats/{chat_id}/accept"]["post"]["responses"]
    schemas = document["components"]["schemas"]
    assert {"username", "password"} <= set(schemas["LoginRequest"]["properties"])
    # both ways to authenticate are documented on every authenticated route, and only there
    schemes = document["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert (schemes["APIKeyCookie"]["in"], schemes["APIKeyCookie"]["name"]) == ("cookie", "fd_session")
    both: list[JsonObject] = [{"HTTPBearer": []}, {"APIKeyCookie": []}]
    for path, method in (("/chats/{chat_id}/messages", "post"), ("/ws-ticket", "post"), ("/me", "get"),
                         ("/admin/config", "get"), ("/chats/{chat_id}/transfer", "post")):
        assert paths[path][method]["security"] == both, path
    assert "security" not in paths["/login"]["post"]
    assert schemas["ReceiptRequest"]["properties"]["kind"]["enum"] == ["delivered", "read"]


@pytest.mark.parametrize("page", ["docs", "redoc"])
async def test_docs_pages_load_everything_from_frontdesk(live: LiveServer, http: httpx.AsyncClient, page: str) -> None:
    response = await http.get(f"{api(live)}/{page}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    match = re.search(r"""(?:url: ?|spec-url=)['"]([^'"]*openapi\.json)['"]""", response.text)
    assert match is not None
    linked = await http.get(f"{live.base_url}{match.group(1)}")
    assert linked.status_code == 200 and "paths" in linked.json()
    # every script, style sheet, icon or other URL of the page is one of ours, and it answers
    urls = set(re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", response.text))
    assert len(urls) >= 2, urls
    assert not re.search(r"https?:|//[a-z]", response.text), "a URL outside frontdesk"
    for url in urls:
        assert url.startswith("/agent/api/v1/docs-assets/"), url
        asset = await http.get(f"{live.base_url}{url}")
        assert asset.status_code == 200 and len(asset.content) > 1000, url


# ---- login, tokens, state --------------------------------------------------------------------------------


async def test_login_refuses_wrong_password_and_unknown_user_alike(live: LiveServer, http: httpx.AsyncClient) -> None:
    details = []
    for username, password in [(DEMO_AGENT_USERNAME, "wrong"), ("nobody", DEMO_AGENT_PASSWORD),
                               (DEMO_AGENT_USERNAME.upper(), DEMO_AGENT_PASSWORD)]:
        response = await http.post(f"{api(live)}/login", json={"username": username, "password": password})
        assert response.status_code == 401
        assert "token" not in response.json()
        details.append(response.json()["detail"])
    assert len(set(details)) == 1  # the answer does not tell which of the two was wrong
    unknown_tenant = await http.post(f"{api(live)}/login", json={"username": DEMO_AGENT_USERNAME,
                                                                 "password": DEMO_AGENT_PASSWORD,
                                                                 "tenant": "elsewhere.example"})
    assert unknown_tenant.status_code == 401
    for body in ({"username": "", "password": "x"}, {"username": "anna"}, {"password": "x"}):
        assert (await http.post(f"{api(live)}/login", json=body)).status_code == 422
    good = await http.post(f"{api(live)}/login", json={"username": DEMO_AGENT_USERNAME,
                                                       "password": DEMO_AGENT_PASSWORD, "tenant": "demo.local"})
    assert good.status_code == 200
    assert len(good.json()["token"]) >= 32 and good.json()["agent"]["username"] == DEMO_AGENT_USERNAME


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer not-a-token", "Basic YW5uYTp4",
                                           "Token abc"])
async def test_requests_without_a_valid_token_are_401(live: LiveServer, http: httpx.AsyncClient,
                                                      authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    for method, path in [("GET", "me"), ("GET", "offers"), ("GET", "chats"), ("POST", "state"),
                         ("POST", "logout"), ("GET", "chats/x/events"), ("POST", "chats/x/messages"),
                         ("POST", "chats/x/accept"), ("GET", "chats/x/files/y")]:
        response = await http.request(method, f"{api(live)}/{path}", headers=headers, json={"state": "ready"})
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers.get("www-authenticate") == "Bearer"


async def test_state_ready_and_not_ready_show_in_me(live: LiveServer, http: httpx.AsyncClient) -> None:
    async with AgentClient(live.base_url) as agent:
        info = await agent.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
        assert info["state"] == "not_ready" and info["max_chats"] == 3
        assert (await agent.set_state("ready"))["state"] == "ready"
        assert (await me(agent))["state"] == "ready"
        assert (await agent.set_state("not_ready"))["state"] == "not_ready"
        assert (await me(agent))["state"] == "not_ready"
        await refused(422, agent.set_state("busy"))
        await refused(422, agent.set_state("logged_out"))
        assert (await me(agent))["state"] == "not_ready"


async def test_logout_revokes_the_token(live: LiveServer) -> None:
    async with AgentClient(live.base_url) as agent, AgentClient(live.base_url) as second:
        await agent.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
        await second.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
        assert agent.token != second.token
        await agent.logout()
        await refused(401, agent.offers())
        await refused(401, second.offers())  # logging out ends every session of the agent
        assert await close_code(live, agent.token, '{"type": "hello", "cursors": {}}') == 4401


# ---- routing, capacity, offers -----------------------------------------------------------------------------


async def test_a_not_ready_agent_gets_no_offer_until_ready(live: LiveServer) -> None:
    async with live.customer() as customer:
        agent = await live.agent(ready=False)
        chat_id = (await customer.request_chat())["chat_id"]
        assert await agent.offers() == []
        assert (await customer.active_chat())["state"] == "queued"
        await agent.set_state("ready")
        offers = await agent.offers()
        assert [o["chat_id"] for o in offers] == [chat_id]
        assert offers[0]["state"] == "connecting" and offers[0]["client_kind"] == "mobile"
        statuses = [e["state"] for e in await customer_inbox(customer, chat_id) if e["event"] == "chat_session_status"]
        assert statuses == ["queued", "connecting"]
        # going not ready keeps an offer already made; accepting it connects the chat
        await agent.set_state("not_ready")
        summary = await agent.accept(chat_id)
        assert summary["state"] == "connected"
        assert [p["type"] for p in summary["parties"] if p["left_at"] is None] == ["internal"]
        await agent.aclose()


async def test_capacity_a_fourth_chat_waits_until_one_ends(live: LiveServer, anna: AgentClient) -> None:
    customers = [live.customer(client_id=f"device-{i}") for i in range(4)]
    chat_ids = [(await c.request_chat())["chat_id"] for c in customers]
    offered = [o["chat_id"] for o in await anna.offers()]
    assert offered == chat_ids[:3]  # offers count against max_chats 3 too, FIFO order
    assert (await customers[3].active_chat())["state"] == "queued"
    for chat_id in chat_ids[:3]:
        await anna.accept(chat_id)
    assert await anna.offers() == []
    assert sorted(c["chat_id"] for c in await anna.chats()) == sorted(chat_ids[:3])
    # going not ready and ready again does not exceed the capacity
    await anna.set_state("not_ready")
    await anna.set_state("ready")
    assert await anna.offers() == []
    assert (await customers[3].active_chat())["state"] == "queued"
    await anna.end(chat_ids[1])
    assert [o["chat_id"] for o in await anna.offers()] == [chat_ids[3]]
    assert names(await customer_inbox(customers[3], chat_ids[3]))[-1] == "chat_session_status"
    assert (await customers[3].active_chat())["state"] == "connecting"
    for customer in customers:
        await customer.aclose()


async def test_reject_requeues_and_is_not_offered_again_to_the_same_agent(live: LiveServer, anna: AgentClient) -> None:
    async with live.customer() as customer, live.customer(client_id="device-2") as later:
        chat_id = (await customer.request_chat())["chat_id"]
        assert [o["chat_id"] for o in await anna.offers()] == [chat_id]
        await anna.reject(chat_id)
        assert await anna.offers() == []
        statuses = [e["state"] for e in await customer_inbox(customer, chat_id) if e["event"] == "chat_session_status"]
        assert statuses == ["queued", "connecting", "queued"]
        await refused(409, anna.accept(chat_id))
        await refused(409, anna.reject(chat_id))
        await anna.set_state("not_ready")
        await anna.set_state("ready")
        assert await anna.offers() == []
        # the agent still takes other chats
        other = (await later.request_chat())["chat_id"]
        assert [o["chat_id"] for o in await anna.offers()] == [other]
        assert (await customer.active_chat())["state"] == "queued"


async def test_accept_of_a_chat_not_offered_is_409_and_unknown_is_404(live: LiveServer) -> None:
    async with live.customer() as customer:
        agent = await live.agent(ready=False)
        chat_id = (await customer.request_chat())["chat_id"]
        await refused(409, agent.accept(chat_id))  # queued, offered to nobody
        await refused(404, agent.accept("00000000-0000-4000-8000-000000000000"))
        await agent.set_state("ready")
        await agent.accept(chat_id)
        await refused(409, agent.accept(chat_id))  # already accepted
        await agent.aclose()


async def test_actions_on_a_chat_not_held_are_403(live: LiveServer) -> None:
    async with live.customer() as customer:
        agent = await live.agent(ready=False)
        chat_id = (await customer.request_chat())["chat_id"]
        history_before = await customer.history(chat_id)
        calls: list[Callable[[], Awaitable[Any]]] = [
            lambda: agent.chat(chat_id), lambda: agent.events(chat_id), lambda: agent.send_message(chat_id, "hi"),
            lambda: agent.typing(chat_id), lambda: agent.receipt(chat_id, "m1"),
            lambda: agent.send_file(chat_id, "a.txt", b"a", "text/plain"),
            lambda: agent.show_form(chat_id, "survey"), lambda: agent.set_case(chat_id, "C1"),
            lambda: agent.signaling(chat_id, {"type": "OFFER_CALL", "sdp": "x"}), lambda: agent.end(chat_id),
        ]
        for call in calls:
            await refused(403, call())
        response = await agent.http.get(f"{api(live)}/chats/{chat_id}/files/abcdefgh12345678",
                                        headers={"Authorization": f"Bearer {agent.token}"})
        assert response.status_code == 403
        await refused(404, agent.chat("no-such-chat"))
        await refused(404, agent.send_message("no-such-chat", "hi"))
        await refused(404, agent.end("no-such-chat"))
        # nothing reached the customer, and the chat is still waiting
        assert await customer.history(chat_id) == history_before
        assert (await customer.active_chat())["state"] == "queued"
        await agent.aclose()


# ---- customer → agent ---------------------------------------------------------------------------------------


async def test_typing_preview_delivered_and_read_reach_the_agent(live: LiveServer, anna: AgentClient) -> None:
    customer, chat_id = await connected(live, anna)
    async with customer:
        sent = await anna.send_message(chat_id, "How can I help?")
        await customer.send_typing(chat_id, preview="My order nu")
        await customer.send_events(chat_id, {"event": "chat_session_not_typing"})
        await customer.send_events(chat_id, {"event": "chat_session_message_delivered", "msg_id": sent["msg_id"]},
                                   {"event": "chat_session_message_read", "ref_msg_id": sent["msg_id"]})
        events = agent_view(await anna.events(chat_id))
        tail = [e for e in events if e.get("party_id") == chat_id]
        assert [(e["event"], e.get("msg"), e.get("ref_msg_id")) for e in tail] == [
            ("chat_session_typing", "My order nu", None),
            ("chat_session_not_typing", None, None),
            ("chat_session_message_delivered", None, sent["msg_id"]),
            ("chat_session_message_read", None, sent["msg_id"]),
        ]
        # the draft is for the agent only: not in the customer's history
        assert "chat_session_typing" not in names(await customer.history(chat_id))


async def test_agent_receipts_and_typing_reach_the_customer(live: LiveServer, anna: AgentClient) -> None:
    customer, chat_id = await connected(live, anna)
    async with customer:
        msg_id = await customer.send_message(chat_id, "Hello?")
        await anna.receipt(chat_id, msg_id, "delivered")
        await anna.receipt(chat_id, msg_id, "read")
        await anna.typing(chat_id, True)
        await anna.typing(chat_id, False)
        await refused(422, anna.receipt(chat_id, msg_id, "seen"))
        agent_party = (await anna.chat(chat_id))["parties"]
        party_id = next(p["party_id"] for p in agent_party if p["type"] == "internal")
        inbox = [e for e in await customer_inbox(customer, chat_id) if e.get("party_id") == party_id]
        assert [(e["event"], e.get("ref_msg_id")) for e in inbox] == [
            ("chat_session_party_joined", None),
            ("chat_session_message_delivered", msg_id),
            ("chat_session_message_read", msg_id),
            ("chat_session_typing", None),
            ("chat_session_not_typing", None),
        ]


async def test_location_and_navigation_reach_the_agent(live: LiveServer, anna: AgentClient) -> None:
    customer, chat_id = await connected(live, anna)
    async with customer:
        await customer.send_events(chat_id, {"event": "chat_session_location", "msg_id": "device-1:9",
                                             "latitude": 52.52, "longitude": "13.405",
                                             "url": "https://maps.example/?q=52.52,13.405"})
        await customer.send_events(chat_id, {"event": "chat_session_navigation", "msg_id": "device-1:10",
                                             "page": "https://shop.example/checkout", "title": "Checkout"})
        events = [e for e in agent_view(await anna.events(chat_id)) if e.get("party_id") == chat_id]
        location, navigation = events
        assert location["event"] == "chat_session_location"
        assert (location["latitude"], location["longitude"]) == ("52.52", "13.405")  # strings on the wire
        assert location["url"] == "https://maps.example/?q=52.52,13.405"
        assert navigation["event"] == "chat_session_navigation"
        assert (navigation["page"], navigation["title"]) == ("https://shop.example/checkout", "Checkout")


# ---- files --------------------------------------------------------------------------------------------------


async def test_agent_file_reaches_the_customer_who_downloads_it_without_authorization(
        live: LiveServer, anna: AgentClient, http: httpx.AsyncClient) -> None:
    customer, chat_id = await connected(live, anna)
    async with customer:
        report = b"%PDF-1.4\n" + bytes(range(256)) * 40
        sent = await anna.send_file(chat_id, "report.pdf", report, "application/pdf")
        picture = await anna.send_file(chat_id, "../../pic.png", PNG, "image/png")
        files = [e for e in await customer_inbox(customer, chat_id) if e["event"] == "chat_session_file"]
        assert [(f["file_id"], f["file_name"], f["file_type"]) for f in files] == [
            (sent["file_id"], "report.pdf", "attachment"), (picture["file_id"], "pic.png", "image")]
        for url in (f"{live.base_url}/clientweb/api/v2/chats/{chat_id}/files/{sent['file_id']}",
                    f"{live.base_url}/clientweb/api/v1/chats/{chat_id}/files/{sent['file_id']}",
                    f"{live.base_url}/clientweb/file/{sent['file_id']}"):
            response = await http.get(url)  # no Authorization, no tenantUrl: a plain link
            assert response.status_code == 200
            assert response.content == report
            assert response.headers["content-type"] == "application/pdf"
            assert response.headers["content-disposition"].startswith("attachment")
        image = await http.get(f"{live.base_url}/clientweb/file/{picture['file_id']}")
        assert image.content == PNG and image.headers["content-type"] == "image/png"
        assert image.headers["content-disposition"].startswith("inline")
        # the agent can fetch what it sent, too
        assert await anna.download(chat_id, sent["file_id"]) == report


async def test_customer_file_reaches_the_agent_who_downloads_it(live: LiveServer, anna: AgentClient,
                                                                http: httpx.AsyncClient) -> None:
    customer, chat_id = await connected(live, anna)
    other_customer, other_chat = await connected(live, anna, client_id="device-2")
    async with customer, other_customer:
        data = b"receipt #42\n" * 1000
        uploaded = await customer.send_file(chat_id, "receipt.txt", data, "text/plain")
        files = [e for e in agent_view(await anna.events(chat_id)) if e["event"] == "chat_session_file"]
        assert len(files) == 1
        assert (files[0]["file_id"], files[0]["file_name"], files[0]["party_id"]) == (
            uploaded["file_id"], "receipt.txt", chat_id)
        assert await anna.download(chat_id, uploaded["file_id"]) == data
        # only under its own chat, and only with a token
        with pytest.raises(AgentError) as wrong_chat:
            await anna.download(other_chat, uploaded["file_id"])
        assert wrong_chat.value.status == 404
        anonymous = await http.get(f"{api(live)}/chats/{chat_id}/files/{uploaded['file_id']}")
        assert anonymous.status_code == 401
        for trick in ("..%2f..%2ffrontdesk.sqlite3", "frontdesk.sqlite3", "%2e%2e"):
            response = await http.get(f"{api(live)}/chats/{chat_id}/files/{trick}",
                                      headers={"Authorization": f"Bearer {anna.token}"})
            assert response.status_code == 404
            assert b"SQLite format" not in response.content


# ---- forms, case, signaling ----------------------------------------------------------------------------------


async def test_form_push_and_form_data_round_trip(live: LiveServer, anna: AgentClient) -> None:
    customer, chat_id = await connected(live, anna)
    async with customer:
        form_id = await anna.show_form(chat_id, "satisfaction", timeout_secs=120)
        shown = [e for e in await customer_inbox(customer, chat_id) if e["event"] == "chat_session_form_show"]
        assert len(shown) == 1
        assert shown[0]["form_request_id"] == form_id and isinstance(shown[0]["form_request_id"], int)
        assert (shown[0]["form_name"], shown[0]["form_timeout"]) == ("satisfaction", 120)
        await customer.send_events(chat_id, {"event": "chat_session_form_data", "form_request_id": form_id,
                                             "form_name": "satisfaction", "data": {"rating": "5", "comment": "ok"}})
        answers = [e for e in agent_view(await anna.events(chat_id)) if e["event"] == "chat_session_form_data"]
        assert len(answers) == 1
        assert answers[0]["form_request_id"] == form_id
        assert answers[0]["data"] == {"rating": "5", "comment": "ok"}
        await refused(422, anna.show_form(chat_id, "x", timeout_secs=0))


async def test_case_set_reaches_the_customer_and_case_history_works(live: LiveServer, anna: AgentClient) -> None:
    customer, chat_id = await connected(live, anna)
    async with customer:
        await customer.send_message(chat_id, "About my refund")
        await anna.set_case(chat_id, "CASE-42")
        case_events = [e for e in await customer_inbox(customer, chat_id) if e["event"] == "chat_session_case_set"]
        assert [e["case_id"] for e in case_events] == ["CASE-42"]
        assert (await anna.chat(chat_id))["case_id"] == "CASE-42"
        history = await customer.case_history(chat_id)
        (session,) = history["sessions"]
        assert session["chat_id"] == chat_id
        assert isinstance(session["created_time"], str) and session["created_time"].isdigit()
        assert "About my refund" in [e.get("msg") for e in session["events"]]
        assert await customer.close_case(chat_id) == {}
        assert "frontdesk_case_closed" in names(agent_view(await anna.events(chat_id)))


async def test_agent_signaling_reaches_the_customer_only(live: LiveServer, anna: AgentClient) -> None:
    customer, chat_id = await connected(live, anna)
    async with customer:
        await anna.signaling(chat_id, {"type": "OFFER_CALL", "sdp": "v=0"})
        await refused(400, anna.signaling(chat_id, {"type": "DANCE"}))
        signals = [e for e in await customer_inbox(customer, chat_id) if e["event"] == "chat_session_signaling"]
        assert [s["data"] for s in signals] == [{"type": "OFFER_CALL", "sdp": "v=0"}]
        assert "chat_session_signaling" not in names(agent_view(await anna.events(chat_id)))


# ---- ending and logging out -----------------------------------------------------------------------------------


async def test_agent_ends_the_chat(live: LiveServer, anna: AgentClient) -> None:
    customer, chat_id = await connected(live, anna)
    async with customer:
        await anna.end(chat_id)
        party_id = next(p["party_id"] for p in (await anna.chat(chat_id))["parties"] if p["type"] == "internal")
        tail = (await customer_inbox(customer, chat_id))[-2:]
        assert [(e["event"], e.get("party_id")) for e in tail] == [("chat_session_party_left", party_id),
                                                                   ("chat_session_ended", None)]
        assert await anna.chats() == []
        assert (await anna.chat(chat_id))["state"] == "completed"
        await refused(409, anna.send_message(chat_id, "one more thing"))
        await refused(409, anna.end(chat_id))
        await refused(409, anna.typing(chat_id))
        # once the customer has read the terminal events the chat is gone for them
        with pytest.raises(ClientError) as gone:
            await customer.poll_after(chat_id, tail[-1]["seq"])
        assert (gone.value.status, gone.value.error_code) == (404, "5005")


async def test_logout_returns_held_and_offered_chats_to_the_queue(live: LiveServer, anna: AgentClient) -> None:
    held_customer, held = await connected(live, anna)
    async with held_customer, live.customer(client_id="device-2") as offered_customer:
        offered = (await offered_customer.request_chat())["chat_id"]
        assert [o["chat_id"] for o in await anna.offers()] == [offered]
        party_id = next(p["party_id"] for p in (await anna.chat(held))["parties"] if p["type"] == "internal")
        await anna.logout()
        tail = (await customer_inbox(held_customer, held))[-2:]
        assert [(e["event"], e.get("party_id"), e.get("state")) for e in tail] == [
            ("chat_session_party_left", party_id, None), ("chat_session_status", None, "queued")]
        assert (await customer_inbox(offered_customer, offered))[-1]["state"] == "queued"
        assert (await held_customer.active_chat())["state"] == "queued"
        # back in the queue in their original order: a new login offers both again
        async with AgentClient(live.base_url) as again:
            await again.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
            assert (await me(again))["state"] == "not_ready"
            await again.set_state("ready")
            assert [o["chat_id"] for o in await again.offers()] == [held, offered]


# ---- events long poll --------------------------------------------------------------------------------------


async def held_events_request(live: LiveServer) -> None:
    """Until a held events request listens for its chat's wake-ups."""
    async with asyncio.timeout(20):
        while live.frontdesk.notifier.topic_count == 0:  # noqa: ASYNC110 - no event to wait on from outside
            await asyncio.sleep(0.005)


async def test_events_wait_returns_early_when_an_event_arrives(live: LiveServer, anna: AgentClient) -> None:
    customer, chat_id = await connected(live, anna)
    async with customer:
        last = (await anna.events(chat_id))[-1]["seq"]
        assert live.frontdesk.notifier.topic_count == 0
        # the longest wait there is: a request that answers within the guard below was woken early
        waiting = asyncio.ensure_future(anna.events(chat_id, after=last, wait=25))
        await held_events_request(live)
        await customer.send_message(chat_id, "ping from the customer")
        events = await asyncio.wait_for(waiting, timeout=20)  # a guard against a hang, far below the wait
        assert [(r["event"]["event"], r["event"]["msg"]) for r in events] == [
            ("chat_session_message", "ping from the customer")]
        assert events[0]["seq"] > last


@pytest.mark.parametrize("after", [2**63, 2**64, 10**30, -1])
async def test_events_after_beyond_a_sequence_number_is_422(live: LiveServer, anna: AgentClient, after: int) -> None:
    async with live.customer() as customer:
        chat_id = (await customer.request_chat())["chat_id"]
        await anna.accept(chat_id)
        response = await anna.http.get(f"{anna.api}/chats/{chat_id}/events", params={"after": str(after)},
                                       headers={"Authorization": f"Bearer {anna.token}"})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/json"
        assert "after" in response.text
        assert await anna.events(chat_id, after=2**63 - 1) == []  # the largest one is fine


async def test_events_wait_with_nothing_new_returns_empty_after_the_wait(live: LiveServer, anna: AgentClient) -> None:
    customer, chat_id = await connected(live, anna)
    async with customer:
        last = (await anna.events(chat_id))[-1]["seq"]
        waiting = asyncio.ensure_future(anna.events(chat_id, after=last, wait=1))
        await held_events_request(live)
        assert not waiting.done()  # held, with nothing to say
        assert await waiting == []
        assert live.frontdesk.notifier.topic_count == 0
        assert [r["seq"] for r in await anna.events(chat_id, after=last - 1)] == [last]
        for params in ({"after": -1}, {"wait": 26}, {"after": "abc"}, {"wait": -1}):
            response = await anna.http.get(f"{api(live)}/chats/{chat_id}/events", params=params,
                                           headers={"Authorization": f"Bearer {anna.token}"})
            assert response.status_code == 422, params


# ---- the WebSocket ------------------------------------------------------------------------------------------


async def test_websocket_hello_gets_a_snapshot_with_the_offer(live: LiveServer, anna: AgentClient) -> None:
    async with live.customer() as customer, anna.live() as stream:
        first = await asyncio.wait_for(stream.receive(), 5)
        assert first["type"] == "snapshot"
        assert first["agent"]["state"] == "ready" and first["offers"] == [] and first["chats"] == []
        chat_id = (await customer.request_chat({"first_name": "Ada"}))["chat_id"]
        got = await receive_until(stream, is_snapshot(lambda m: bool(m["offers"])))
        offer = got[-1]["offers"][0]
        assert offer["chat_id"] == chat_id and offer["state"] == "connecting"
        assert offer["parameters"] == {"first_name": "Ada"}
        await anna.accept(chat_id)
        got = await receive_until(stream, is_snapshot(lambda m: bool(m["chats"])))
        assert got[-1]["offers"] == [] and got[-1]["chats"][0]["chat_id"] == chat_id
        # ping/pong on the same socket
        await stream.ws.send('{"type": "ping"}')
        assert any(m["type"] == "pong" for m in await receive_until(stream, lambda m: m["type"] == "pong"))


async def test_websocket_streams_events_live_including_typing_preview(live: LiveServer, anna: AgentClient) -> None:
    customer, chat_id = await connected(live, anna)
    async with customer, anna.live() as stream:
        backlog = await receive_until(stream, is_event("chat_session_status", state="connected"))
        assert backlog[0]["type"] == "snapshot"
        await customer.send_typing(chat_id, preview="I wou")
        typing = await receive_until(stream, is_event("chat_session_typing"))
        assert typing[-1]["event"]["msg"] == "I wou" and typing[-1]["chat_id"] == chat_id
        await customer.send_message(chat_id, "I would like a refund")
        message = await receive_until(stream, is_event("chat_session_message", party_id=chat_id))
        assert message[-1]["event"]["msg"] == "I would like a refund"
        await anna.send_message(chat_id, "Sure")
        own = await receive_until(stream, is_event("chat_session_message", msg_text="Sure"))
        seqs = [m["seq"] for m in backlog + typing + message + own if m["type"] == "event"]
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
        assert seqs == [r["seq"] for r in await anna.events(chat_id)]


async def test_websocket_reconnect_with_cursors_has_no_gaps_and_no_repeats(live: LiveServer,
                                                                           anna: AgentClient) -> None:
    customer, chat_id = await connected(live, anna)
    async with customer:
        first: list[int] = []
        async with anna.live() as stream:
            await customer.send_message(chat_id, "one")
            await customer.send_message(chat_id, "two")
            got = await receive_until(stream, is_event("chat_session_message", msg="two"))
            first = [m["seq"] for m in got if m["type"] == "event"]
        # while the agent is away the chat goes on
        await customer.send_message(chat_id, "three")
        await customer.send_typing(chat_id, preview="fou")
        await anna.send_message(chat_id, "I am back")
        await customer.send_message(chat_id, "four")
        everything = [r["seq"] for r in await anna.events(chat_id)]
        async with anna.live({chat_id: first[-1]}) as stream:
            got = await receive_until(stream, lambda m: m.get("seq") == everything[-1])
            second = [m["seq"] for m in got if m["type"] == "event"]
            assert [m["event"].get("msg") for m in got if m["type"] == "event"] == [
                "three", "fou", "I am back", "four"]
            # and nothing more: a ping round trip brings no repeated event
            await stream.ws.send('{"type": "ping"}')
            trailing = await receive_until(stream, lambda m: m["type"] == "pong")
            assert [m for m in trailing if m["type"] == "event"] == []
        assert first + second == everything
        assert len(set(first) & set(second)) == 0
        # a cursor of 0 replays it all, a cursor at the end replays nothing
        async with anna.live({chat_id: 0}) as stream:
            got = await receive_until(stream, lambda m: m.get("seq") == everything[-1])
            assert [m["seq"] for m in got if m["type"] == "event"] == everything
        async with anna.live({chat_id: everything[-1]}) as stream:
            await customer.send_message(chat_id, "five")
            got = await receive_until(stream, is_event("chat_session_message", msg="five"))
            assert [m["seq"] for m in got if m["type"] == "event"] == [everything[-1] + 1]


async def test_websocket_bad_token_is_closed_4401(live: LiveServer) -> None:
    for token in ("", "not-a-token", "x" * 500):
        assert await close_code(live, token, '{"type": "hello", "cursors": {}}') == 4401


@pytest.mark.parametrize("first", [
    '{"type": "ping"}', "hello", "{}", "[]", '{"type": "hello", "cursors": []}',
    '{"type": "hello", "cursors": {"chat": "5"}}', '{"type": "HELLO", "cursors": {}}',
    '{"type": "hello", "cursors": {"chat": 9223372036854775808}}', '{"type": "hello", "cursors": {"chat": -1}}',
])
async def test_websocket_without_a_valid_hello_is_closed_4400(live: LiveServer, anna: AgentClient,
                                                               first: str) -> None:
    assert await close_code(live, anna.token, first) == 4400


async def test_websocket_hello_is_required_before_anything_is_sent(live: LiveServer, anna: AgentClient) -> None:
    async with live.customer() as customer:
        await customer.request_chat()
        async with connect(ws_url(live, anna.token)) as ws:
            # no snapshot before the hello, even though an offer is waiting
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await ws.recv()
            await ws.send('{"type": "hello"}')  # cursors may be left out
            snapshot = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert snapshot["type"] == "snapshot" and len(snapshot["offers"]) == 1


@pytest.mark.parametrize("who_ends", ["customer", "agent"])
async def test_websocket_gets_party_left_and_ended_after_the_chat_ends(live: LiveServer, anna: AgentClient,
                                                                       who_ends: str) -> None:
    customer, chat_id = await connected(live, anna)
    async with customer, anna.live() as stream:
        await receive_until(stream, is_event("chat_session_status", state="connected"))
        if who_ends == "customer":
            await customer.end(chat_id)
        else:
            await anna.end(chat_id)
        got = await receive_until(stream, is_event("chat_session_ended"))
        events = [m["event"]["event"] for m in got if m["type"] == "event"]
        assert events[-2:] == ["chat_session_party_left", "chat_session_ended"]
        if who_ends == "customer":
            assert events[-3] == "chat_session_end"
        # the snapshot without the chat comes too (before or after those events)
        if not any(m["type"] == "snapshot" and m["chats"] == [] for m in got):
            await receive_until(stream, is_snapshot(lambda m: m["chats"] == []))
        assert await anna.chats() == []


async def test_websocket_cursors_for_a_chat_not_held_send_nothing_of_it(live: LiveServer) -> None:
    """A hello may only resume chats the agent may read over REST (held, offered or once held):
    naming another chat's id in the cursors must not stream that chat's events."""
    async with live.customer() as customer:
        agent = await live.agent(ready=False)
        chat_id = (await customer.request_chat())["chat_id"]
        await customer.send_message(chat_id, "my card number is 4111 1111 1111 1111")
        await refused(403, agent.events(chat_id))
        async with agent.live({chat_id: 0}) as stream:
            snapshot = await asyncio.wait_for(stream.receive(), 5)
            assert snapshot["type"] == "snapshot" and snapshot["chats"] == []
            await stream.ws.send('{"type": "ping"}')
            got = await receive_until(stream, lambda m: m["type"] == "pong")
            assert [m for m in got if m["type"] == "event"] == []
        await agent.aclose()


async def test_websocket_resume_after_the_chat_ended_while_away(live: LiveServer, anna: AgentClient) -> None:
    """The agent's socket drops, the customer ends the chat meanwhile: resuming with the cursor
    still delivers the end of the chat, though the agent no longer holds it."""
    customer, chat_id = await connected(live, anna)
    async with customer:
        async with anna.live() as stream:
            got = await receive_until(stream, is_event("chat_session_status", state="connected"))
            cursor = got[-1]["seq"]
        await customer.send_message(chat_id, "never mind, bye")
        await customer.end(chat_id)
        assert await anna.chats() == []
        async with anna.live({chat_id: cursor}) as stream:
            got = await receive_until(stream, is_event("chat_session_ended"))
        events = [(m["seq"], m["event"]["event"]) for m in got if m["type"] == "event"]
        assert [name for _, name in events] == ["chat_session_message", "chat_session_end",
                                                "chat_session_party_left", "chat_session_ended"]
        assert [seq for seq, _ in events] == [r["seq"] for r in await anna.events(chat_id, after=cursor)]


async def test_an_agent_upload_over_25_mb_is_refused_with_413_before_it_is_read(live: LiveServer) -> None:
    customer = live.customer("big-upload")
    chat_id = (await customer.request_chat())["chat_id"]
    agent = await live.agent()
    await agent.accept(chat_id)
    too_big = b"x" * (25 * 1024 * 1024 + 128 * 1024)
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(f"{live.base_url}/agent/api/v1/chats/{chat_id}/files",
                                   headers={"Authorization": f"Bearer {agent.token}"},
                                   files={"file": ("big.bin", too_big, "application/octet-stream")})

        async def chunks() -> AsyncIterator[bytes]:  # a valid multipart body without a length
            yield (b'--zzz\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
                   b"Content-Type: application/octet-stream\r\n\r\n")
            for _ in range(30):
                yield b"y" * (1024 * 1024)

        streamed = await http.post(f"{live.base_url}/agent/api/v1/chats/{chat_id}/files", content=chunks(),
                                   headers={"Authorization": f"Bearer {agent.token}",
                                            "Content-Type": "multipart/form-data; boundary=zzz"})
    assert response.status_code == 413
    assert streamed.status_code == 413
    assert not [e for e in await agent.events(chat_id) if e["event"]["event"] == "chat_session_file"]
    await agent.aclose()
    await customer.aclose()
