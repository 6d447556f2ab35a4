"""GET iceservers: with ``sessionId`` (the 2026 web widget) the body is the base64 AES-GCM blob keyed
by the session id; without it (older widgets, the SDKs) the JSON document as before."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import replace
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from frontdesk.api import ice
from frontdesk.domain.config import ContactCenterConfig
from frontdesk.settings import Settings
from tests.conftest import LiveServer, StartServer

JsonObject = dict[str, Any]
TENANT = {"tenantUrl": "demo.local"}
SERVERS = ({"url": "turn:turn.example.com:3478", "username": "fd-user", "credential": "fd-pass"},
           {"url": "stun:stun.example.com:3478"})


def auth(client_id: str) -> dict[str, str]:
    return {"Authorization": f'MOBILE-API-140-327-PLAIN appId="demo", clientId="{client_id}"'}


def decrypt(body: str, session_id: str) -> Any:
    """The widget's recipe, written independently of the server's code (hashlib's PBKDF2)."""
    blob = base64.b64decode(body, validate=True)
    salt, iv, sealed = blob[:16], blob[16:28], blob[28:]
    key = hashlib.pbkdf2_hmac("sha256", session_id.encode("utf-8"), salt, 65_536, dklen=32)
    return json.loads(AESGCM(key).decrypt(iv, sealed, None))


@pytest.fixture
async def ice_live(start_server: StartServer, demo_config: ContactCenterConfig) -> LiveServer:
    tenant = demo_config.tenants["demo.local"]
    entry = replace(tenant.entries["demo"], ice_servers=SERVERS)
    config = replace(demo_config, tenants={**demo_config.tenants,
                                           "demo.local": replace(tenant, entries={**tenant.entries, "demo": entry})})
    return await start_server(settings=Settings(contact_center=config, poll_hold_secs=0.5))


async def new_chat(http: httpx.AsyncClient, live: LiveServer, client_id: str) -> str:
    response = await http.post(f"{live.base_url}/clientweb/api/v1/chats", params=TENANT, headers=auth(client_id),
                               json={})
    assert response.status_code == 200
    return str(response.json()["chat_id"])


async def test_with_session_id_the_body_is_the_widgets_encrypted_blob(ice_live: LiveServer,
                                                                      http: httpx.AsyncClient) -> None:
    chat_id = await new_chat(http, ice_live, "video-1")
    url = f"{ice_live.base_url}/clientweb/api/v1//iceservers"  # the widget's double slash
    params = {**TENANT, "timestamp": "1700000000000", "domain": "shop.example:443", "appId": "demo",
              "sessionId": chat_id}
    first = await http.get(url, params=params, headers=auth("video-1"))
    assert first.status_code == 200
    assert first.headers["content-type"] == "text/plain; charset=utf-8"  # a string for atob, not JSON
    expected = [{"urls": "turn:turn.example.com:3478", "url": "turn:turn.example.com:3478",
                 "username": "fd-user", "credential": "fd-pass"},
                {"urls": "stun:stun.example.com:3478", "url": "stun:stun.example.com:3478"}]
    assert decrypt(first.text, chat_id) == expected
    # a second answer for the session reuses its key (no second derivation) with a fresh IV
    second = await http.get(url, params=params, headers=auth("video-1"))
    assert decrypt(second.text, chat_id) == expected
    one, two = base64.b64decode(first.text), base64.b64decode(second.text)
    assert one[:16] == two[:16] and one[16:28] != two[16:28]
    # another session id cannot open it
    with pytest.raises(InvalidTag):
        decrypt(first.text, chat_id + "x")


async def test_without_session_id_the_json_document_as_before(ice_live: LiveServer, http: httpx.AsyncClient) -> None:
    for params in (TENANT, {**TENANT, "sessionId": ""}):
        response = await http.get(f"{ice_live.base_url}/clientweb/api/v2/iceservers", params=params,
                                  headers=auth("sdk-1"))
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"servers": [dict(s) for s in SERVERS]}


async def test_a_session_id_that_is_not_the_callers_chat_is_5005(ice_live: LiveServer,
                                                                 http: httpx.AsyncClient) -> None:
    chat_id = await new_chat(http, ice_live, "owner-1")
    for session_id, client in (("no-such-chat", "owner-1"), (chat_id, "someone-else")):
        response = await http.get(f"{ice_live.base_url}/clientweb/api/v1/iceservers",
                                  params={**TENANT, "sessionId": session_id}, headers=auth(client))
        assert response.status_code == 404
        assert response.json()["error_code"] == "5005"
    response = await http.get(f"{ice_live.base_url}/clientweb/api/v1/iceservers",
                              params={**TENANT, "sessionId": "x" * 300}, headers=auth("owner-1"))
    assert response.status_code == 400
    assert response.json()["error_code"] == "5003"


async def test_the_key_is_derived_off_the_event_loop_once_per_session(ice_live: LiveServer, http: httpx.AsyncClient,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    derive = ice.derive_key

    def recording(session_id: str, salt: bytes) -> bytes:
        threads.append(threading.current_thread().name)
        return derive(session_id, salt)

    monkeypatch.setattr(ice, "derive_key", recording)
    chat_id = await new_chat(http, ice_live, "video-2")
    for _ in range(3):
        response = await http.get(f"{ice_live.base_url}/clientweb/api/v1/iceservers",
                                  params={**TENANT, "sessionId": chat_id}, headers=auth("video-2"))
        assert response.status_code == 200
    assert len(threads) == 1
    assert threads[0] != threading.main_thread().name  # the server runs its loop in the main thread
