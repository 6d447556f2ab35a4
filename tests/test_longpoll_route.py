"""The long poll's direct route (``LongPollRoute``) answers exactly as the routed endpoint would."""

from __future__ import annotations

import httpx

from tests.conftest import LiveServer

AUTH = {"Authorization": 'MOBILE-API-140-327-PLAIN appId="demo", clientId="route-1"'}
PARAMS = {"tenantUrl": "demo.local"}


async def test_unknown_version_and_chat_answer_like_the_routed_paths(live: LiveServer,
                                                                     http: httpx.AsyncClient) -> None:
    base = f"{live.base_url}/clientweb/api"
    for version, chat_id in (("v3", "nope"), ("v2", "no-such-chat")):
        direct = await http.get(f"{base}/{version}/chats/{chat_id}/events", params=PARAMS, headers=AUTH)
        routed = await http.get(f"{base}/{version}/chats/{chat_id}/history", params=PARAMS, headers=AUTH)
        assert (direct.status_code, direct.json()) == (routed.status_code, routed.json())
        assert direct.headers["content-type"] == "application/json"
    direct = await http.get(f"{base}/v2/chats/x/events", params=PARAMS)  # no Authorization header
    routed = await http.get(f"{base}/v2/chats/x/history", params=PARAMS)
    assert (direct.status_code, direct.json()) == (routed.status_code, routed.json())


async def test_a_poll_through_the_direct_route_keeps_cors_and_collapses_slashes(live: LiveServer,
                                                                                http: httpx.AsyncClient) -> None:
    base = f"{live.base_url}/clientweb/api/v2"
    chat = (await http.post(f"{base}/chats", params=PARAMS, headers=AUTH, json={"parameters": {}})).json()
    origin = {"Origin": "http://localhost:5173"}  # the demo entry allows localhost on any port
    answer = await http.get(f"{base}//chats/{chat['chat_id']}/events", params=PARAMS, headers={**AUTH, **origin})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert answer.headers["cache-control"] == "no-store"
    assert "chat_session_status" in [e["event"] for e in answer.json()["events"]]
    # HEAD is not the direct route's: the router still answers it
    head = await http.head(f"{base}/chats/{chat['chat_id']}/events", params=PARAMS, headers=AUTH)
    assert head.status_code == 200
