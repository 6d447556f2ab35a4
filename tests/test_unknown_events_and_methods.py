"""Client events with names this server does not know are accepted and ignored (counted at debug
level, never logged with their body); a wrong HTTP method on a customer path is a JSON 405."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.decoders import check_error_body

JsonObject = dict[str, Any]
TENANT = {"tenantUrl": "demo.local"}
SECRET = "s3cr3t-body-text-never-logged"


def auth(client_id: str) -> dict[str, str]:
    return {"Authorization": f'MOBILE-API-140-327-PLAIN appId="demo", clientId="{client_id}"'}


def api(live: LiveServer, version: str = "v2") -> str:
    return f"{live.base_url}/clientweb/api/{version}"


async def new_chat(http: httpx.AsyncClient, live: LiveServer, client_id: str) -> str:
    response = await http.post(f"{api(live)}/chats", params=TENANT, headers=auth(client_id),
                               json={"parameters": {"first_name": "Uma"}})
    assert response.status_code == 200, response.text
    return str(response.json()["chat_id"])


# ---- unknown client events ---------------------------------------------------------------------------


async def test_a_batch_with_unknown_events_applies_the_known_ones_and_answers_200(
        live: LiveServer, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="frontdesk")
    client_id = f"newer-widget-{uuid.uuid4().hex[:6]}"
    chat_id = await new_chat(http, live, client_id)
    batch = [{"event": "chat_session_reaction", "emoji": "+1", "msg": SECRET},
             {"event": "chat_session_message", "msg": "known one", "msg_id": "m-1"},
             {"event": "CHAT_SESSION_MESSAGE", "msg": SECRET},
             {"event": "chat_session_message", "msg": "known two", "msg_id": "m-2"}]
    response = await http.post(f"{api(live)}/chats/{chat_id}/events", params=TENANT, headers=auth(client_id),
                               json={"events": batch})
    assert (response.status_code, response.json()) == (200, {"events": []})
    history = (await http.get(f"{api(live)}/chats/{chat_id}/history", params=TENANT,
                              headers=auth(client_id))).json()["events"]
    assert [e["msg_text"] for e in history if e["event"] == "chat_session_message"
            and e["party_id"] == chat_id] == ["known one", "known two"]
    assert not any(e["event"] in ("chat_session_reaction", "CHAT_SESSION_MESSAGE") for e in history)
    # structured lines (frontdesk.observability): the record carries the event and its fields
    counted = [r.msg for r in caplog.records if r.levelno == logging.DEBUG and isinstance(r.msg, dict)
               and "unknown name" in str(r.msg.get("event", ""))]
    assert [(line["event"], line["ignored"], line["chat"]) for line in counted] == \
        [("send events: ignored client events with an unknown name", 2, chat_id)]
    assert not any(SECRET in r.getMessage() for r in caplog.records)


async def test_a_batch_of_only_unknown_events_is_200_and_changes_nothing(live: LiveServer,
                                                                         http: httpx.AsyncClient) -> None:
    client_id = f"future-{uuid.uuid4().hex[:6]}"
    chat_id = await new_chat(http, live, client_id)
    before = (await http.get(f"{api(live)}/chats/{chat_id}/history", params=TENANT,
                             headers=auth(client_id))).json()["events"]
    response = await http.post(f"{api(live)}/chats/{chat_id}/events", params=TENANT, headers=auth(client_id),
                               json={"events": [{"event": "chat_session_hug"}, {"event": "x", "data": [1, 2]}]})
    assert (response.status_code, response.json()) == (200, {"events": []})
    after = (await http.get(f"{api(live)}/chats/{chat_id}/history", params=TENANT,
                            headers=auth(client_id))).json()["events"]
    assert after == before


async def test_a_known_event_that_is_malformed_still_refuses_the_batch(live: LiveServer,
                                                                       http: httpx.AsyncClient) -> None:
    client_id = f"strict-{uuid.uuid4().hex[:6]}"
    chat_id = await new_chat(http, live, client_id)
    batch = [{"event": "chat_session_hug"}, {"event": "chat_session_message", "msg": 42}]
    response = await http.post(f"{api(live)}/chats/{chat_id}/events", params=TENANT, headers=auth(client_id),
                               json={"events": batch})
    assert response.status_code == 400
    assert response.json()["error_code"] == "5003"


async def test_unknown_events_for_another_clients_chat_are_still_404(live: LiveServer,
                                                                     http: httpx.AsyncClient) -> None:
    chat_id = await new_chat(http, live, f"owner-{uuid.uuid4().hex[:6]}")
    response = await http.post(f"{api(live)}/chats/{chat_id}/events", params=TENANT, headers=auth("intruder"),
                               json={"events": [{"event": "chat_session_hug"}]})
    assert response.status_code == 404
    assert response.json()["error_code"] == "5005"


# ---- wrong methods ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "allow"), [
    pytest.param("POST", "availability", "GET, HEAD, OPTIONS", id="post-availability"),
    pytest.param("DELETE", "chats/{chat}", None, id="delete-chat-no-such-path"),
    pytest.param("PUT", "chats/{chat}/events", "GET, HEAD, POST, OPTIONS", id="put-events"),
    pytest.param("DELETE", "chats/{chat}/history", "GET, HEAD, OPTIONS", id="delete-history"),
    pytest.param("GET", "chats", "POST, OPTIONS", id="get-chats"),
    pytest.param("PATCH", "files", "POST, OPTIONS", id="patch-files"),
    pytest.param("POST", "configuration", "GET, HEAD, OPTIONS", id="post-configuration"),
    pytest.param("POST", "chats/{chat}/files/abc", "GET, HEAD, OPTIONS", id="post-file"),
])
async def test_a_wrong_method_is_a_json_405_with_allow(live: LiveServer, http: httpx.AsyncClient, method: str,
                                                       path: str, allow: str | None) -> None:
    chat_id = await new_chat(http, live, "methods-1")
    response = await http.request(method, f"{api(live)}/{path.format(chat=chat_id)}", params=TENANT,
                                  headers=auth("methods-1"), content=b"{}")
    if allow is None:  # a path no method serves is the JSON 404 it always was
        assert response.status_code == 404
        assert check_error_body(response.json()) == []
        return
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["allow"] == allow
    body = response.json()
    assert check_error_body(body) == []
    assert body["error_code"] == "5955"
    assert method in body["error_message"]


async def test_the_bare_file_path_and_v1_refuse_wrong_methods_alike(live: LiveServer, http: httpx.AsyncClient) -> None:
    for url in (f"{live.base_url}/clientweb/file/abc", f"{api(live, 'v1')}/chats/active"):
        response = await http.post(url, params=TENANT, headers=auth("methods-2"))
        assert response.status_code == 405, url
        assert response.headers["allow"] == "GET, HEAD, OPTIONS"
        assert response.json()["error_code"] == "5955"
