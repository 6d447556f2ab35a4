"""Browser sessions over real HTTP and real WebSockets: the cookie login, CSRF on state-changing
requests, single-use WebSocket tickets, expiry sliding on use, and open sockets closing with 4410
the moment their session ends (logout, DELETE /session, a supervisor, expiry, a reload)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from frontdesk.client import AgentClient
from frontdesk.client.agent import AgentError
from frontdesk.domain.access import DEFAULT_TOKEN_TTL_SECS, TICKET_TTL_SECS
from frontdesk.domain.config import AgentConfig, ContactCenterConfig
from frontdesk.domain.ids import hash_password
from frontdesk.settings import (
    DEMO_AGENT_PASSWORD,
    DEMO_AGENT_USERNAME,
    DEMO_TENANT,
    ConfigError,
    Settings,
    demo_contact_center,
    load_settings,
)
from tests.conftest import LiveServer, StartServer

JsonObject = dict[str, Any]
HELLO = '{"type": "hello", "cursors": {}}'


def api(live: LiveServer) -> str:
    return f"{live.base_url}/agent/api/v1"


def ws_url(live: LiveServer, query: str) -> str:
    return api(live).replace("http://", "ws://", 1) + f"/ws?{query}"


def with_bob() -> ContactCenterConfig:
    """The demo tenant (anna, an admin) plus bob, an agent."""
    demo = demo_contact_center()
    bob = AgentConfig(username="bob", password_hash=hash_password("pw-bob"), first_name="Bob", last_name="Stone",
                      display_name="Bob", max_chats=2, skills={"general": 5})
    tenant = demo.tenants[DEMO_TENANT]
    return replace(demo, tenants={DEMO_TENANT: replace(tenant, agents=(*tenant.agents, bob))})


@dataclass
class Browser:
    """A browser's view of the agent API: the cookies ``POST /session`` set, sent back by hand
    (the test server is plain HTTP and the cookies are Secure by default)."""

    live: LiveServer
    http: httpx.AsyncClient
    cookies: dict[str, str]
    set_cookie: list[str]

    @property
    def session(self) -> str:
        return self.cookies.get("fd_session", "")

    @property
    def csrf(self) -> str:
        return self.cookies.get("fd_csrf", "")

    async def login(self, username: str = DEMO_AGENT_USERNAME, password: str = DEMO_AGENT_PASSWORD) -> httpx.Response:
        response = await self.http.post(f"{api(self.live)}/session", json={"username": username, "password": password})
        self._remember(response)
        return response

    def _remember(self, response: httpx.Response) -> None:
        self.set_cookie = response.headers.get_list("set-cookie")
        for header in self.set_cookie:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value

    async def call(self, method: str, path: str, csrf: str | None = None, **kwargs: Any) -> httpx.Response:
        """With the session cookies; ``csrf`` is the X-CSRF-Token header to send (None: none)."""
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items() if v)}
        if csrf is not None:
            headers["X-CSRF-Token"] = csrf
        response = await self.http.request(method, f"{api(self.live)}/{path}", headers=headers, **kwargs)
        self._remember(response)
        return response

    async def ticket(self) -> str:
        response = await self.call("POST", "ws-ticket", csrf=self.csrf)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["expires_in_secs"] == TICKET_TTL_SECS and len(body["ticket"]) >= 32
        return str(body["ticket"])


@pytest.fixture
async def browser(live: LiveServer) -> AsyncIterator[Browser]:
    async with httpx.AsyncClient(timeout=10.0) as http:
        yield Browser(live, http, {}, [])


async def open_stream(url: str) -> tuple[ClientConnection, JsonObject]:
    """A connected agent WebSocket after its hello, and the first snapshot."""
    ws = await connect(url)
    await ws.send(HELLO)
    snapshot = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
    assert snapshot["type"] == "snapshot"
    return ws, snapshot


async def closed_with(ws: ClientConnection) -> tuple[int, list[JsonObject]]:
    """Read until the server closes the socket: its close code and what it sent before."""
    got: list[JsonObject] = []
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(5):
            while True:
                got.append(orjson.loads(await ws.recv()))
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, got


async def connect_close_code(url: str) -> int:
    async with connect(url) as ws:
        code, _ = await closed_with(ws)
    return code


# ---- the cookie login ------------------------------------------------------------------------------------


async def test_session_login_sets_an_httponly_session_and_a_readable_csrf_cookie(browser: Browser) -> None:
    response = await browser.login()
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == DEMO_AGENT_USERNAME and body["state"] == "not_ready" and "token" not in body
    session = next(h for h in browser.set_cookie if h.startswith("fd_session="))
    csrf = next(h for h in browser.set_cookie if h.startswith("fd_csrf="))
    for header in (session, csrf):
        attributes = {a.strip().lower() for a in header.split(";")[1:]}
        assert {"path=/", "samesite=strict", "secure"} <= attributes, header
        assert not any(a.startswith(("max-age", "expires")) for a in attributes)  # ends with the browser
    assert "httponly" in session.lower() and "httponly" not in csrf.lower()
    assert browser.session and browser.csrf and browser.session != browser.csrf
    me = await browser.call("GET", "me")
    assert me.status_code == 200 and me.json() == body


async def test_session_cookies_are_not_secure_when_cookie_secure_is_off(start_server: StartServer) -> None:
    live = await start_server(settings=Settings(contact_center=demo_contact_center(), cookie_secure=False))
    async with httpx.AsyncClient(timeout=10.0) as http:
        browser = Browser(live, http, {}, [])
        assert (await browser.login()).status_code == 200
        assert len(browser.set_cookie) == 2
        assert all("secure" not in h.lower() for h in browser.set_cookie)
        # a plain-HTTP client's own cookie jar now works as a browser's would
        assert (await http.get(f"{api(live)}/me")).status_code == 200


async def test_session_login_refuses_a_wrong_password_with_the_documented_answer(browser: Browser) -> None:
    for username, password in ((DEMO_AGENT_USERNAME, "wrong"), ("nobody", DEMO_AGENT_PASSWORD)):
        response = await browser.login(username, password)
        assert response.status_code == 401
        assert response.json() == {"detail": "Wrong username or password"}
        assert response.headers.get_list("set-cookie") == []


async def test_cookie_reads_need_no_csrf_header_but_writes_do(browser: Browser) -> None:
    await browser.login()
    assert (await browser.call("GET", "me")).status_code == 200
    assert (await browser.call("GET", "offers")).status_code == 200
    for csrf in (None, "", "wrong", browser.session):
        refused = await browser.call("POST", "state", csrf=csrf, json={"state": "ready"})
        assert refused.status_code == 403, csrf
        assert refused.json() == {"detail": "CSRF token missing or wrong"}
        assert (await browser.call("DELETE", "session", csrf=csrf)).status_code == 403
        assert (await browser.call("POST", "ws-ticket", csrf=csrf)).status_code == 403
    assert (await browser.call("GET", "me")).json()["state"] == "not_ready"  # nothing happened
    accepted = await browser.call("POST", "state", csrf=browser.csrf, json={"state": "ready"})
    assert accepted.status_code == 200 and accepted.json()["state"] == "ready"


async def test_bearer_tokens_need_no_csrf_header(live: LiveServer, http: httpx.AsyncClient) -> None:
    login = await http.post(f"{api(live)}/login", json={"username": DEMO_AGENT_USERNAME,
                                                        "password": DEMO_AGENT_PASSWORD})
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    response = await http.post(f"{api(live)}/state", headers=headers, json={"state": "ready"})
    assert response.status_code == 200 and response.json()["state"] == "ready"
    assert (await http.post(f"{api(live)}/ws-ticket", headers=headers)).status_code == 200


async def test_a_missing_forged_or_ended_session_cookie_is_401(browser: Browser) -> None:
    assert (await browser.call("GET", "me")).status_code == 401
    browser.cookies["fd_session"] = "forged-session-value"
    assert (await browser.call("GET", "me")).status_code == 401
    await browser.login()
    old = dict(browser.cookies)
    ended = await browser.call("DELETE", "session", csrf=browser.csrf)
    assert ended.status_code == 200 and ended.json() == {"ok": True}
    browser.cookies = old  # a browser that kept the cookies anyway
    assert (await browser.call("GET", "me")).status_code == 401
    assert (await browser.call("POST", "state", csrf=browser.csrf, json={"state": "ready"})).status_code == 401


async def test_delete_session_logs_out_gives_chats_back_and_clears_the_cookies(live: LiveServer,
                                                                               browser: Browser) -> None:
    await browser.login()
    assert (await browser.call("POST", "state", csrf=browser.csrf, json={"state": "ready"})).status_code == 200
    async with live.customer() as customer, AgentClient(live.base_url) as other:
        chat_id = (await customer.request_chat())["chat_id"]
        accepted = await browser.call("POST", f"chats/{chat_id}/accept", csrf=browser.csrf)
        assert accepted.status_code == 200
        await other.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)  # a second session of the same agent
        response = await browser.call("DELETE", "session", csrf=browser.csrf)
        assert response.status_code == 200
        cleared = [h.lower() for h in browser.set_cookie]
        assert len(cleared) == 2 and all("max-age=0" in h for h in cleared)
        assert browser.session == "" and browser.csrf == ""
        with pytest.raises(AgentError) as caught:
            await other.chats()  # logged out everywhere, as POST /logout
        assert caught.value.status == 401
        events = await customer.poll_after(chat_id, 0)
        assert any(e["event"] == "chat_session_party_left" for e in events)
        assert events[-1]["event"] == "chat_session_status" and events[-1]["state"] == "queued"


# ---- expiry ---------------------------------------------------------------------------------------------


async def test_tokens_and_sessions_expire_unless_used_and_each_use_extends_them(live: LiveServer,
                                                                                browser: Browser) -> None:
    await browser.login()
    async with AgentClient(live.base_url) as script:
        await script.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
        for _ in range(3):  # used every 2/3 of the lifetime: alive well past one lifetime
            await live.advance(DEFAULT_TOKEN_TTL_SECS * 2 / 3)
            assert (await browser.call("GET", "me")).status_code == 200
            await script.offers()
        await live.advance(DEFAULT_TOKEN_TTL_SECS + 1)
        assert (await browser.call("GET", "me")).status_code == 401
        with pytest.raises(AgentError) as caught:
            await script.offers()
        assert caught.value.status == 401


async def test_the_token_lifetime_is_a_setting(start_server: StartServer) -> None:
    live = await start_server(settings=Settings(contact_center=demo_contact_center(), token_ttl_secs=600))
    async with AgentClient(live.base_url) as script:
        await script.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
        await live.advance(599)
        await script.offers()
        await live.advance(601)
        with pytest.raises(AgentError) as caught:
            await script.offers()
        assert caught.value.status == 401


# ---- WebSocket tickets ----------------------------------------------------------------------------------


async def test_a_ticket_opens_the_stream_once(live: LiveServer, browser: Browser) -> None:
    await browser.login()
    ticket = await browser.ticket()
    ws, snapshot = await open_stream(ws_url(live, f"ticket={ticket}"))
    assert snapshot["agent"]["agent_id"] == f"{DEMO_TENANT}/{DEMO_AGENT_USERNAME}"
    await ws.close()
    assert await connect_close_code(ws_url(live, f"ticket={ticket}")) == 4401  # spent
    for bad in ("", "not-a-ticket", browser.session):  # a session's secret is no ticket
        assert await connect_close_code(ws_url(live, f"ticket={bad}")) == 4401


async def test_a_ticket_expires_and_dies_with_its_session(live: LiveServer, browser: Browser) -> None:
    await browser.login()
    late = await browser.ticket()
    await live.advance(TICKET_TTL_SECS + 1)
    assert await connect_close_code(ws_url(live, f"ticket={late}")) == 4401
    orphan = await browser.ticket()
    assert (await browser.call("DELETE", "session", csrf=browser.csrf)).status_code == 200
    assert await connect_close_code(ws_url(live, f"ticket={orphan}")) == 4401
    assert (await browser.call("POST", "ws-ticket", csrf="anything")).status_code == 401


async def test_tokens_still_open_the_stream_for_scripts(live: LiveServer) -> None:
    async with AgentClient(live.base_url) as script:
        await script.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
        ws, snapshot = await open_stream(ws_url(live, f"token={script.token}"))
        assert snapshot["agent"]["state"] == "not_ready"
        await ws.close()


# ---- open sockets close with 4410 when their session ends ------------------------------------------------


async def test_logout_closes_the_open_socket_and_a_new_login_never_reaches_it(live: LiveServer) -> None:
    async with AgentClient(live.base_url) as first, live.customer() as customer:
        await first.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
        ws, _ = await open_stream(ws_url(live, f"ticket={await first.ws_ticket()}"))
        await first.logout()
        code, sent = await closed_with(ws)
        assert code == 4410
        assert all(m["type"] == "snapshot" and not m["chats"] for m in sent)
        async with AgentClient(live.base_url) as second:
            await second.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
            await second.set_state("ready")
            chat_id = (await customer.request_chat())["chat_id"]
            await second.accept(chat_id)
            async with second.live() as stream:  # the new login's own socket gets the chat
                snapshot = await stream.receive()
                assert [c["chat_id"] for c in snapshot["chats"]] == [chat_id]
    assert sent == [m for m in sent if chat_id not in orjson.dumps(m).decode()]


async def test_a_socket_opened_with_a_token_closes_when_the_token_is_revoked(live: LiveServer) -> None:
    async with AgentClient(live.base_url) as script:
        await script.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
        ws, _ = await open_stream(ws_url(live, f"token={script.token}"))
        await script.logout()
        assert (await closed_with(ws))[0] == 4410


async def test_delete_session_closes_the_browsers_socket(live: LiveServer, browser: Browser) -> None:
    await browser.login()
    ws, _ = await open_stream(ws_url(live, f"ticket={await browser.ticket()}"))
    assert (await browser.call("DELETE", "session", csrf=browser.csrf)).status_code == 200
    assert (await closed_with(ws))[0] == 4410


async def test_a_supervisor_forcing_logged_out_closes_the_agents_socket(start_server: StartServer) -> None:
    live = await start_server(settings=Settings(contact_center=with_bob()))
    async with AgentClient(live.base_url) as anna, AgentClient(live.base_url) as bob:
        await anna.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
        await bob.login("bob", "pw-bob")
        ws, _ = await open_stream(ws_url(live, f"ticket={await bob.ws_ticket()}"))
        forced = await anna.http.post(f"{anna.api}/supervisor/agents/{DEMO_TENANT}/bob/state",
                                      headers={"Authorization": f"Bearer {anna.token}"}, json={"state": "logged_out"})
        assert forced.status_code == 200, forced.text
        assert (await closed_with(ws))[0] == 4410
        with pytest.raises(AgentError) as caught:
            await bob.offers()
        assert caught.value.status == 401


async def test_an_expired_session_closes_its_socket(live: LiveServer, browser: Browser) -> None:
    await browser.login()
    ws, _ = await open_stream(ws_url(live, f"ticket={await browser.ticket()}"))
    await live.advance(DEFAULT_TOKEN_TTL_SECS + 1)  # the timer pass sweeps expired sessions
    assert (await closed_with(ws))[0] == 4410


async def test_a_reload_that_removes_the_agent_closes_its_socket(start_server: StartServer) -> None:
    live = await start_server(settings=Settings(contact_center=with_bob()))
    async with AgentClient(live.base_url) as anna, AgentClient(live.base_url) as bob:
        await anna.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
        await bob.login("bob", "pw-bob")
        ws, _ = await open_stream(ws_url(live, f"ticket={await bob.ws_ticket()}"))
        headers = {"Authorization": f"Bearer {anna.token}"}
        document = (await anna.http.get(f"{anna.api}/admin/config", headers=headers)).json()
        document["tenants"][0]["agents"] = [a for a in document["tenants"][0]["agents"] if a["username"] != "bob"]
        assert (await anna.http.put(f"{anna.api}/admin/config", headers=headers, json=document)).status_code == 200
        assert (await closed_with(ws))[0] == 4410


async def test_a_lost_desktop_logs_the_agent_out_and_revokes_its_tokens(live: LiveServer) -> None:
    grace = live.frontdesk.live.current.tenants[DEMO_TENANT].agent_lost_grace_secs
    async with AgentClient(live.base_url) as script:
        await script.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
        async with script.live() as stream:
            await stream.receive()
        await asyncio.sleep(0)  # the server notices the close
        for _ in range(50):
            if await live.advance(grace + 1):
                break
            await asyncio.sleep(0.02)
        with pytest.raises(AgentError) as caught:
            await script.offers()
        assert caught.value.status == 401


def test_token_ttl_secs_is_read_from_the_server_table_and_bounded(tmp_path: Path) -> None:
    path = tmp_path / "frontdesk.toml"
    tenant = '[[tenants]]\nname = "t.example"\n'
    path.write_text(f"[server]\ntoken_ttl_secs = 3600\n{tenant}", encoding="utf-8")
    assert load_settings(path).token_ttl_secs == 3600
    path.write_text(tenant, encoding="utf-8")
    assert load_settings(path).token_ttl_secs == DEFAULT_TOKEN_TTL_SECS
    for bad in ("10", "3000000"):
        path.write_text(f"[server]\ntoken_ttl_secs = {bad}\n{tenant}", encoding="utf-8")
        with pytest.raises(ConfigError, match=r"^server\.token_ttl_secs: must be between 300 and 2592000"):
            load_settings(path)


async def test_websocket_credentials_never_reach_the_server_log(live: LiveServer) -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("uvicorn.error")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        async with AgentClient(live.base_url) as script:
            await script.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
            ticket = await script.ws_ticket()
            for query in (f"token={script.token}", f"ticket={ticket}"):
                ws, _ = await open_stream(ws_url(live, query))
                await ws.close()
            assert await connect_close_code(ws_url(live, "ticket=also-not&token=not-a-token")) == 4401
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    lines = [r.getMessage() for r in records]
    assert sum("WebSocket /agent/api/v1/ws?" in line for line in lines) >= 3, lines
    for secret in (script.token, ticket, "not-a-token", "also-not"):
        assert not any(secret in line for line in lines), lines
