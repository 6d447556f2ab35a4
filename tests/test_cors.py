"""Credentialed CORS per entry (docs/customer-api.md, "CORS model"), over real HTTP.

The visitor cookie is ``SameSite=None`` so that the widget works on the business's own site. What keeps
any other website from using a visitor's cookie is the origin check: only the server's own origin and
the entry's ``allowed_origins`` get credentialed CORS, and a cookie-bearing request from any other
Origin is refused before the cookie is looked up.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from frontdesk.api.middleware import CustomerCors
from frontdesk.domain.config import ContactCenterConfig, EntryConfig, LiveConfig
from frontdesk.settings import ConfigError, Settings, parse_settings
from tests.conftest import TEST_HOLD_SECS, LiveServer, StartServer
from tests.test_admin_api import admin_of

TENANT = {"tenantUrl": "demo.local"}
SHOP = "https://shop.example"  # allowed for the demo entry
PARTNER = "https://partner.example"  # allowed only for the "partner" entry
EVIL = "https://evil.example"


def config_with_origins(demo: ContactCenterConfig) -> ContactCenterConfig:
    tenant = demo.tenants[demo.default_tenant]
    entry = tenant.entries["demo"]
    entries = {
        "demo": replace(entry, allowed_origins=(SHOP, "https://*.example.com", "http://localhost:*")),
        "partner": replace(entry, app_id="partner", allowed_origins=(PARTNER,)),
        "own-only": replace(entry, app_id="own-only", allowed_origins=()),
    }
    return replace(demo, tenants={tenant.name: replace(tenant, entries=entries)})


@pytest.fixture
async def site(start_server: StartServer, demo_config: ContactCenterConfig) -> LiveServer:
    return await start_server(settings=Settings(contact_center=config_with_origins(demo_config),
                                                poll_hold_secs=TEST_HOLD_SECS))


def webchat(origin: str | None = None, cookie: str | None = None, app_id: str = "demo") -> dict[str, str]:
    headers = {"Authorization": f'MOBILE-API-140-327-PLAIN appId="{app_id}", clientId="WebChat"'}
    if origin is not None:
        headers["Origin"] = origin
    if cookie is not None:
        headers["Cookie"] = f"fd_visitor={cookie}"
    return headers


class Browser:
    """Requests as a browser sends them: its own cookie jar is the header we pass, nothing else."""

    def __init__(self, live: LiveServer) -> None:
        self.api = f"{live.base_url}/clientweb/api/v1"

    async def call(self, method: str, path: str, headers: dict[str, str], body: Any = None) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10.0) as fresh:
            return await fresh.request(method, f"{self.api}/{path}", params=TENANT, headers=headers, json=body)

    async def visitor_chat(self, origin: str) -> tuple[str, str]:
        """The widget's way from an allowed site: availability mints the cookie, chats presents it."""
        first = await self.call("GET", "availability", webchat(origin))
        assert first.status_code == 200
        cookie = first.cookies["fd_visitor"]
        chat = await self.call("POST", "chats", webchat(origin, cookie), {"parameters": {"first_name": "Vi"}})
        assert chat.status_code == 200, chat.text
        return str(chat.json()["chat_id"]), cookie


def credentialed_for(response: httpx.Response, origin: str) -> bool:
    return bool(response.headers.get("access-control-allow-origin") == origin
                and response.headers.get("access-control-allow-credentials") == "true")


def not_credentialed(response: httpx.Response) -> None:
    """Only the wildcard a browser refuses for any request that carries cookies."""
    assert response.headers.get("access-control-allow-origin") == "*"
    assert "access-control-allow-credentials" not in response.headers
    assert "set-cookie" not in response.headers


def refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error_code"] == "3000"
    assert "allowed_origins" in response.json()["error_message"]
    not_credentialed(response)


async def test_another_site_cannot_use_the_visitors_cookie(site: LiveServer) -> None:
    browser = Browser(site)
    chat_id, cookie = await browser.visitor_chat(SHOP)
    victim = webchat(EVIL, cookie)
    message = {"events": [{"event": "chat_session_message", "msg": "posted by evil", "msg_id": "1"}]}
    refused(await browser.call("GET", "chats/active", victim))
    refused(await browser.call("GET", f"chats/{chat_id}/history", victim))
    refused(await browser.call("GET", f"chats/{chat_id}/events", victim))
    refused(await browser.call("POST", f"chats/{chat_id}/events", victim, message))
    refused(await browser.call("POST", "chats", victim, {"parameters": {}}))
    refused(await browser.call("GET", f"chats/{chat_id}/casehistory", victim))
    # Origin: null (sandboxed frames, file: pages) is no better; nor is an origin allowed only for another entry
    refused(await browser.call("GET", "chats/active", webchat("null", cookie)))
    refused(await browser.call("GET", "chats/active", webchat(PARTNER, cookie)))
    # the visitor's own site still sees the chat, and nothing was posted into it
    active = await browser.call("GET", "chats/active", webchat(SHOP, cookie))
    assert active.status_code == 200 and active.json()["chat_id"] == chat_id
    history = await browser.call("GET", f"chats/{chat_id}/history", webchat(SHOP, cookie))
    assert "posted by evil" not in history.text


async def test_an_allowed_site_chats_with_credentials(site: LiveServer) -> None:
    browser = Browser(site)
    first = await browser.call("GET", "availability", webchat(SHOP))
    assert first.status_code == 200 and credentialed_for(first, SHOP)
    assert "origin" in first.headers["vary"].lower()
    assert "samesite=none" in first.headers["set-cookie"].lower().replace(" ", "")
    cookie = first.cookies["fd_visitor"]
    chat = await browser.call("POST", "chats", webchat(SHOP, cookie), {"parameters": {}})
    assert chat.status_code == 200 and credentialed_for(chat, SHOP)
    chat_id = chat.json()["chat_id"]
    answers = [
        await browser.call("GET", "chats/active", webchat(SHOP, cookie)),
        await browser.call("GET", f"chats/{chat_id}/events", webchat(SHOP, cookie)),
        await browser.call("POST", f"chats/{chat_id}/events", webchat(SHOP, cookie),
                           {"events": [{"event": "chat_session_message", "msg": "hello", "msg_id": "1"}]}),
        await browser.call("GET", f"chats/{chat_id}/history", webchat(SHOP, cookie)),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert credentialed_for(answer, SHOP)
        assert answer.headers["access-control-expose-headers"] == "Content-Disposition"
    assert answers[0].json()["chat_id"] == chat_id
    assert "chat_session_status" in [e["event"] for e in answers[1].json()["events"]]
    assert "hello" in answers[3].text
    # an error answer to an allowed site is readable by it too
    unknown = await browser.call("GET", "chats/00000000-0000-0000-0000-000000000000/history", webchat(SHOP, cookie))
    assert unknown.status_code == 404 and credentialed_for(unknown, SHOP)


@pytest.mark.parametrize(("origin", "trusted"), [
    ("https://www.example.com", True),  # https://*.example.com: one label in place of the *
    ("https://example.com", False),
    ("https://a.b.example.com", False),
    ("http://www.example.com", False),  # the scheme is part of the origin
    ("https://www.example.com:8443", False),  # and so is the port
    ("http://localhost:5173", True),  # http://localhost:*
    ("http://localhost", True),
    ("https://localhost:5173", False),
    ("https://shop.example:443", True),  # the default port is no port
    ("HTTPS://SHOP.EXAMPLE", True),
    ("https://shop.example.evil", False),
    ("https://evil-shop.example", False),
])
async def test_the_entrys_patterns_decide(site: LiveServer, origin: str, trusted: bool) -> None:
    answer = await Browser(site).call("GET", "availability", webchat(origin))
    assert answer.status_code == 200
    if trusted:
        assert credentialed_for(answer, origin)
        assert "fd_visitor=" in answer.headers["set-cookie"]
    else:
        not_credentialed(answer)


async def test_the_servers_own_pages_are_always_trusted(site: LiveServer) -> None:
    browser = Browser(site)
    own = site.base_url  # http://127.0.0.1:<port>: the entry "own-only" allows no other site
    answer = await browser.call("GET", "availability", webchat(own, app_id="own-only"))
    assert answer.status_code == 200 and credentialed_for(answer, own)
    cookie = answer.cookies["fd_visitor"]
    chat = await browser.call("POST", "chats", webchat(own, cookie, app_id="own-only"), {"parameters": {}})
    assert chat.status_code == 200 and credentialed_for(chat, own)
    # the same host on another port is another origin
    other_port = own.rsplit(":", 1)[0] + ":1"
    refused(await browser.call("GET", "chats/active", webchat(other_port, cookie, app_id="own-only")))


async def test_preflights(site: LiveServer) -> None:
    async def preflight(origin: str | None, path: str = "chats/active") -> httpx.Response:
        headers = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
        if origin is not None:
            headers["Origin"] = origin
        async with httpx.AsyncClient(timeout=10.0) as http:
            return await http.options(f"{site.base_url}/clientweb/api/v1/{path}", params=TENANT, headers=headers)

    for origin in (SHOP, PARTNER, site.base_url):  # a preflight names no entry: any entry of the tenant counts
        answer = await preflight(origin)
        assert answer.status_code == 204 and credentialed_for(answer, origin)
        assert "authorization" in answer.headers["access-control-allow-headers"].lower()
        assert {"GET", "POST"} <= {m.strip() for m in answer.headers["access-control-allow-methods"].split(",")}
        assert "origin" in answer.headers["vary"].lower()
    foreign = await preflight(EVIL)
    assert foreign.status_code == 204
    not_credentialed(foreign)
    assert "authorization" in foreign.headers["access-control-allow-headers"].lower()
    bare = await preflight(None)
    assert bare.status_code == 204 and "access-control-allow-origin" not in bare.headers
    # a tenantUrl that names no tenant allows no site
    async with httpx.AsyncClient(timeout=10.0) as http:
        nowhere = await http.options(f"{site.base_url}/clientweb/api/v1/availability",
                                     params={"tenantUrl": "nope.example"},
                                     headers={"Origin": SHOP, "Access-Control-Request-Method": "GET"})
    not_credentialed(nowhere)
    # the partner's site passes the preflight, but the actual request names the demo entry
    browser = Browser(site)
    _, cookie = await browser.visitor_chat(SHOP)
    refused(await browser.call("GET", "chats/active", webchat(PARTNER, cookie)))
    partner = await browser.call("GET", "availability", webchat(PARTNER, cookie, app_id="partner"))
    assert partner.status_code == 200 and credentialed_for(partner, PARTNER)


async def test_requests_without_cookies_are_unaffected(site: LiveServer) -> None:
    browser = Browser(site)
    mobile = {"Authorization": 'MOBILE-API-140-327-PLAIN appId=demo, clientId=device-7'}
    # an SDK or bridge: no Origin at all, and no CORS headers in the answers
    chat = await browser.call("POST", "chats", mobile, {"parameters": {}})
    assert chat.status_code == 200 and "access-control-allow-origin" not in chat.headers
    chat_id = chat.json()["chat_id"]
    polled = await browser.call("GET", f"chats/{chat_id}/events", mobile)
    assert polled.status_code == 200 and "access-control-allow-origin" not in polled.headers
    assert "origin" in polled.headers["vary"].lower()
    # a page of any site calling without credentials: the non-credentialed wildcard, everything works
    for path, method, body in ((f"chats/{chat_id}/history", "GET", None), ("chats/active", "GET", None),
                               (f"chats/{chat_id}/events", "POST", {"events": []})):
        answer = await browser.call(method, path, {**mobile, "Origin": EVIL}, body)
        assert answer.status_code == 200, answer.text
        not_credentialed(answer)
    # WebChat from such a page without a cookie: served cookie-less, no cookie minted for it
    answer = await browser.call("GET", "availability", webchat(EVIL))
    assert answer.status_code == 200
    not_credentialed(answer)


async def test_the_demo_allows_its_own_pages_and_local_dev_servers(live: LiveServer) -> None:
    browser = Browser(live)
    for origin in (live.base_url, "http://localhost:3000", "http://127.0.0.1:5173"):
        answer = await browser.call("GET", "availability", webchat(origin))
        assert credentialed_for(answer, origin), origin
    not_credentialed(await browser.call("GET", "availability", webchat("https://shop.example")))


def _with_origins(doc: dict[str, Any], origins: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["tenants"][0]["entries"][0]["allowed_origins"] = origins
    return doc


@pytest.mark.parametrize(("origins", "message"), [
    (["https://www.example.com/"], "allowed_origins[0]: 'https://www.example.com/': must be scheme://host[:port]"),
    ([SHOP, "*"], "allowed_origins[1]: '*': '*' would let every website"),
    (["ftp://files.example"], "allowed_origins[0]: 'ftp://files.example': the scheme must be http or https"),
    (["www.example.com"], "allowed_origins[0]: 'www.example.com': must be scheme://host[:port]"),
    (["https://*.com"], "allowed_origins[0]: 'https://*.com': '*.' must be followed by a domain"),
    (["https://shop*.example.com"], "'*' may only be the whole first label"),
    (["https://a.*.example.com"], "'*' may only be the whole first label"),
    (["https://shop.example:99999"], "the port must be a number from 1 to 65535 or *"),
    (["https://shop.example?x=1"], "must be scheme://host[:port]"),
    (["https://user@shop.example"], "must be scheme://host[:port]"),
    (["https://*.10.0.0.1"], "'*.' must be followed by a domain"),
    ([7], "allowed_origins[0]: expected str, got int"),
    ("https://shop.example", "allowed_origins: expected list, got str"),
])
async def test_bad_origins_are_refused_naming_the_field(live: LiveServer, origins: Any, message: str) -> None:
    admin = await admin_of(live)
    before = await admin.get()
    answer = await admin.put(_with_origins(before, origins), status=400)
    assert answer["detail"].startswith("tenants[0].entries[0].allowed_origins")
    assert message in answer["detail"]
    assert await admin.get() == before


async def test_origins_apply_on_reload_and_round_trip(live: LiveServer) -> None:
    admin = await admin_of(live)
    doc = await admin.get()
    assert doc["tenants"][0]["entries"][0]["allowed_origins"] == ["http://localhost:*", "http://127.0.0.1:*"]
    new = await admin.put(_with_origins(doc, ["HTTPS://Shop.Example:443", "https://*.example.org",
                                              "https://shop.example"]))
    # normalised (lower case, no default port), duplicates dropped
    assert new["tenants"][0]["entries"][0]["allowed_origins"] == ["https://shop.example", "https://*.example.org"]
    browser = Browser(live)
    assert credentialed_for(await browser.call("GET", "availability", webchat(SHOP)), SHOP)
    not_credentialed(await browser.call("GET", "availability", webchat("http://localhost:3000")))


FILE = """
[[tenants]]
name = "shop.example"
[[tenants.queues]]
id = "general"
[[tenants.entries]]
app_id = "web"
queue = "general"
allowed_origins = [%s]
"""


def test_the_file_reads_the_field_and_names_it_in_errors(tmp_path: Path) -> None:
    def entry(origins: str) -> EntryConfig:
        return parse_settings(tomllib.loads(FILE % origins), tmp_path).contact_center.tenants["shop.example"] \
            .entries["web"]

    assert entry('"https://www.shop.example", "http://localhost:*"').allowed_origins == (
        "https://www.shop.example", "http://localhost:*")
    assert entry("").allowed_origins == ()
    assert parse_settings(tomllib.loads(FILE.replace("allowed_origins = [%s]\n", "")), tmp_path) \
        .contact_center.tenants["shop.example"].entries["web"].allowed_origins == ()
    with pytest.raises(ConfigError, match=r"^tenants\[0\]\.entries\[0\]\.allowed_origins\[1\]: "
                                          r"'http://bad\.example/path': must be scheme://host\[:port\]"):
        entry('"https://ok.example", "http://bad.example/path"')


async def test_an_answer_with_its_own_cors_or_vary_headers_is_merged_not_doubled(
        demo_config: ContactCenterConfig) -> None:
    """Most answers get the CORS headers appended; one that already carries some keeps one of each,
    its Vary extended by Origin (the layer itself, driven as ASGI: no route sets these today)."""
    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"vary", b"Accept-Encoding"), (b"access-control-allow-origin", b"https://old.example")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    async def plain(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"{}"})

    async def starts(app: Any, origin: bytes | None) -> list[tuple[bytes, bytes]]:
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b""}

        async def send(message: Message) -> None:
            sent.append(message)

        headers = [(b"host", b"demo.local")] + ([(b"origin", origin)] if origin else [])
        scope = {"type": "http", "method": "GET", "path": "/clientweb/x", "query_string": b"", "scheme": "http",
                 "headers": headers}
        await CustomerCors(app, LiveConfig(config_with_origins(demo_config)))(scope, receive, send)
        return list(sent[0]["headers"])

    assert await starts(answer, SHOP.encode()) == [
        (b"vary", b"Accept-Encoding, Origin"), (b"access-control-allow-origin", SHOP.encode()),
        (b"access-control-allow-credentials", b"true"), (b"access-control-expose-headers", b"Content-Disposition")]
    assert await starts(plain, SHOP.encode()) == [
        (b"content-length", b"2"), (b"access-control-allow-origin", SHOP.encode()),
        (b"access-control-allow-credentials", b"true"), (b"access-control-expose-headers", b"Content-Disposition"),
        (b"vary", b"Origin")]
    assert await starts(plain, EVIL.encode()) == [
        (b"content-length", b"2"), (b"access-control-allow-origin", b"*"),
        (b"access-control-expose-headers", b"Content-Disposition"), (b"vary", b"Origin")]
    assert await starts(plain, None) == [(b"content-length", b"2"), (b"vary", b"Origin")]
