"""Forms the web widget can render and answer: the default widget document publishes the tenant's
forms, and a string ``data`` in ``chat_session_form_data`` is accepted — a text form's typed
answer, or the widget's "Form not found" (a cancel that tells the agent why)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from frontdesk.client import CustomerClient
from frontdesk.domain.config import default_widget_configuration
from tests.conftest import StartServer
from tests.test_scenarios import (
    APP,
    FORMS,
    TENANT,
    agent,
    agent_events,
    messages,
    names,
    poll,
    request,
    serve,
    settings,
    step,
)

JsonObject = dict[str, Any]
WIDGET_AUTH = {"Authorization": f'MOBILE-API-140-327-PLAIN appId="{APP}", clientId="WebChat"'}

FORM_FLOW = (
    step("form", "topic", "ask", timeout_secs=60, on_timeout="fallback"),
    step("end", "answered {form.topic.topic}"),
    step("end", "fell back", "fallback"),
)


def web(live: Any) -> CustomerClient:
    return CustomerClient(live.base_url, app_id=APP, client_id="WebChat", tenant_url=TENANT, version="v1")


async def test_the_default_widget_document_publishes_the_tenants_forms(start_server: StartServer,
                                                                       http: httpx.AsyncClient) -> None:
    live = await serve(start_server, settings())
    response = await http.get(f"{live.base_url}/clientweb/api/v1/configuration",
                              params={"tenantUrl": TENANT, "appId": APP}, headers=WIDGET_AUTH)
    assert response.status_code == 200
    document = response.json()
    forms = document["definition"].pop("forms")
    # everything else is the default document, unchanged
    expected = default_widget_configuration()
    expected["definition"].pop("forms")
    assert document == expected
    assert [f["id"] for f in forms] == list(FORMS) == [f["name"] for f in forms]
    topic, contact, survey = forms
    assert topic == {"id": "topic", "name": "topic", "title": "What is it about?", "urls": {"0": "/"},
                     "submitButtonText": "Submit", "cancelButtonText": "Cancel",
                     "fields": [{"name": "topic", "label": "Topic", "formFieldType": "selection_list",
                                 "required": True, "validate": False, "options": ["billing", "tech", "other"]}]}
    assert contact["fields"] == [
        {"name": "email", "label": "E-mail", "formFieldType": "email", "required": True, "validate": True},
        {"name": "message", "label": "Message", "formFieldType": "text", "required": True, "validate": False}]
    assert survey["fields"] == [
        {"name": "rating", "label": "Rating", "formFieldType": "numerical_range_slider", "required": True,
         "validate": False, "minValue": 0, "maxValue": 10},
        {"name": "comment", "label": "Comment", "formFieldType": "text", "required": False, "validate": False}]


async def test_an_operators_own_widget_document_is_served_as_it_is(start_server: StartServer,
                                                                   http: httpx.AsyncClient) -> None:
    config = settings()
    tenant = config.contact_center.tenants[TENANT]
    own = {"definition": {"chatInitiations": [], "forms": [{"id": "mine", "urls": {"0": "/shop"}}]}, "styles": {}}
    entry = replace(tenant.entries[APP], widget_configuration=own)
    tenant = replace(tenant, entries={APP: entry})
    config = replace(config, contact_center=replace(config.contact_center, tenants={TENANT: tenant}))
    live = await serve(start_server, config)
    response = await http.get(f"{live.base_url}/clientweb/api/v1/configuration", params={"tenantUrl": TENANT},
                              headers=WIDGET_AUTH)
    assert response.json() == own


async def test_form_not_found_cancels_the_form_and_tells_the_agent_why(start_server: StartServer) -> None:
    live = await serve(start_server, settings())
    client = web(live)
    anna = await agent(live)
    chat_id, _ = await request(client)
    await anna.accept(chat_id)
    form_request_id = await anna.show_form(chat_id, "survey")
    await client.send_events(chat_id, {"event": "chat_session_form_data", "form_request_id": form_request_id,
                                       "form_name": "survey", "data": "Form not found"})
    seen = await agent_events(anna, chat_id)
    cancel = [e for e in seen if e["event"] == "chat_form_data_cancel"]
    assert [(e["form_request_id"], e["form_name"], e["reason"]) for e in cancel] == \
        [(form_request_id, "survey", "Form not found")]
    assert not [e for e in seen if e["event"] == "chat_session_form_data"]
    # the text the customer types next is an ordinary message: nothing is lost
    await client.send_message(chat_id, "my answer is 9")
    assert [e.get("msg_text") for e in await agent_events(anna, chat_id)
            if e["event"] == "chat_session_message" and e["party_id"] == chat_id] == ["my answer is 9"]
    await client.aclose()
    await anna.aclose()


async def test_form_not_found_in_a_scenario_goes_on_as_after_a_cancel(start_server: StartServer) -> None:
    live = await serve(start_server, settings(*FORM_FLOW))
    client = web(live)
    chat_id, _ = await request(client)
    form = (await poll(client, chat_id))[-1]
    assert form["event"] == "chat_session_form_show"
    await client.send_events(chat_id, {"event": "chat_session_form_data", "form_request_id": form["form_request_id"],
                                       "form_name": "topic", "data": "Form not found"})
    events = await poll(client, chat_id)
    assert messages(events) == ["fell back"]
    assert names(events)[-1] == "chat_session_ended"
    await client.aclose()


async def test_a_text_forms_string_answer_is_the_answer_in_either_order(start_server: StartServer) -> None:
    scenario = (step("say", "What is your order number?"), step("form", ""), step("say", "Looking up {form..text}"),
                step("route", "general"))
    live = await serve(start_server, settings(*scenario))
    anna = await agent(live)
    for first, text in (("form_data", "C-3"), ("message", "D-4")):
        client = web(live)
        chat_id, _ = await request(client)
        form = (await poll(client, chat_id))[-1]
        answer = {"event": "chat_session_form_data", "form_request_id": form["form_request_id"], "form_name": "",
                  "data": text}
        message = {"event": "chat_session_message", "msg": text, "msg_id": "1"}
        for event in ((answer, message) if first == "form_data" else (message, answer)):
            await client.send_events(chat_id, event)  # both are accepted, in either order
        assert messages(await poll(client, chat_id)) == [f"Looking up {text}"]
        await anna.accept(chat_id)
        seen = await agent_events(anna, chat_id)
        assert [e["msg_text"] for e in seen if e["event"] == "chat_session_message"
                and e["party_id"] == chat_id] == [text]  # the typed text is kept once
        assert [e["data"] for e in seen if e["event"] == "chat_session_form_data"] == [{"text": text}]
        await anna.end(chat_id)
        await client.aclose()
    await anna.aclose()


async def test_a_string_answer_to_a_form_never_shown_is_still_refused(start_server: StartServer) -> None:
    live = await serve(start_server, settings())
    client = web(live)
    anna = await agent(live)
    chat_id, _ = await request(client)
    await anna.accept(chat_id)
    response = await client.http.post(f"{client.api}/chats/{chat_id}/events", params={"tenantUrl": TENANT},
                                      headers={"Authorization": client.authorization},
                                      json={"events": [{"event": "chat_session_form_data", "form_request_id": 999,
                                                        "form_name": "survey", "data": "Form not found"}]})
    assert response.status_code == 400
    assert response.json()["error_code"] == "5003"
    await client.aclose()
    await anna.aclose()
