"""Identities are worked out once per distinct request statement and configuration
(``api.identity.identify``): over real HTTP, a configuration change is seen by the very next
request, a WebChat browser without a cookie gets a new cookie every time, a refused request is
refused every time, and requests that differ in any part an identity depends on get their own."""

from __future__ import annotations

from dataclasses import replace

import httpx

from frontdesk.api.identity import VISITOR_COOKIE, _what_it_says
from frontdesk.domain.config import ContactCenterConfig
from tests.conftest import LiveServer

TENANT = {"tenantUrl": "demo.local"}


def mobile(app_id: str = "demo", client_id: str = "cache-1") -> dict[str, str]:
    return {"Authorization": f'MOBILE-API-140-327-PLAIN appId="{app_id}", clientId="{client_id}"'}


async def availability(live: LiveServer, headers: dict[str, str], **params: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:
        return await http.get("/clientweb/api/v2/availability", params={**TENANT, **params}, headers=headers)


def without_entry(config: ContactCenterConfig, app_id: str) -> ContactCenterConfig:
    tenant = config.tenants[config.default_tenant]
    entries = {key: entry for key, entry in tenant.entries.items() if key != app_id}
    return replace(config, tenants={tenant.name: replace(tenant, entries=entries)})


async def test_a_configuration_change_is_seen_by_the_next_request(live: LiveServer) -> None:
    live_config = live.frontdesk.live
    assert (await availability(live, mobile())).status_code == 200
    assert (await availability(live, mobile())).status_code == 200  # the same statement again
    live_config.replace(without_entry(live_config.current, "demo"))
    refused = await availability(live, mobile())
    assert refused.status_code != 200 and refused.json()["error_code"] == "3000"
    live_config.replace(replace(live_config.current))  # an equal configuration is a new one too
    assert (await availability(live, mobile())).json()["error_code"] == "3000"


async def test_a_refused_request_is_refused_every_time(live: LiveServer) -> None:
    for _ in range(2):
        answer = await availability(live, mobile(app_id="no-such-entry"))
        assert answer.status_code != 200 and answer.json()["error_code"] == "3000"


async def test_a_browser_without_a_cookie_gets_a_new_one_each_time(live: LiveServer) -> None:
    webchat = {"Authorization": 'MOBILE-API-140-327-PLAIN appId="demo", clientId="WebChat"'}
    cookies = []
    for _ in range(2):
        answer = await availability(live, webchat)
        assert answer.status_code == 200
        cookies.append(answer.cookies.get(VISITOR_COOKIE))
    assert all(cookies) and cookies[0] != cookies[1]
    # a browser that shows its cookie is not given another
    shown = await availability(live, {**webchat, "Cookie": f"{VISITOR_COOKIE}={cookies[0]}"})
    assert shown.status_code == 200 and VISITOR_COOKIE not in shown.cookies


async def test_requests_differing_in_what_an_identity_depends_on_are_told_apart(live: LiveServer) -> None:
    customer = live.customer("cache-2")
    chat = await customer.request_chat()
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:
        path = f"/clientweb/api/v2/chats/{chat['chat_id']}/history"
        own = await http.get(path, params=TENANT, headers=mobile(client_id="cache-2"))
        assert own.status_code == 200
        # another client id, the same query string: not the owner
        other = await http.get(path, params=TENANT, headers=mobile(client_id="cache-3"))
        assert other.status_code != 200
        # another tenant named in the query string: refused as an unknown tenant
        tenant = await http.get(path, params={"tenantUrl": "nowhere.example"}, headers=mobile(client_id="cache-2"))
        assert tenant.json()["error_code"] == "1000"
    await customer.aclose()


def test_what_a_request_says_is_told_apart_part_by_part() -> None:
    def scope(query: bytes, *headers: tuple[bytes, bytes]) -> dict[str, object]:
        return {"query_string": query, "scheme": "http", "headers": list(headers)}

    said = [
        _what_it_says(scope(b"tenantUrl=a", (b"authorization", b"ab"))),
        _what_it_says(scope(b"tenantUrl=a", (b"authorization", b"a"), (b"origin", b"b"))),
        _what_it_says(scope(b"tenantUrl=a", (b"authorization", b"a"), (b"host", b"b"))),
        _what_it_says(scope(b"tenantUrl=a", (b"authorization", b""))),
        _what_it_says(scope(b"tenantUrl=a")),
        _what_it_says(scope(b"tenantUrl=ab")),
    ]
    assert len(set(said)) == len(said)
    # the same statement in another header order, with headers that do not matter: the same
    assert _what_it_says(scope(b"q", (b"host", b"h"), (b"x-other", b"1"), (b"authorization", b"a"))) == \
        _what_it_says(scope(b"q", (b"authorization", b"a"), (b"host", b"h")))
    # a header sent twice: worked out afresh every time, never remembered
    assert _what_it_says(scope(b"q", (b"authorization", b"a"), (b"authorization", b"b"))) is None
