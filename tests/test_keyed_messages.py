"""An agent's message sent with ``client_msg_id`` is sent once however often the request is: a
client that lost the answer sends the same request again and gets the message already sent."""

from __future__ import annotations

import httpx
import pytest

from frontdesk.client import AgentClient
from tests.conftest import LiveServer

PREFIX = "/agent/api/v1"


async def _chat(live: LiveServer, anna: AgentClient, client_id: str) -> str:
    customer = live.customer(client_id=client_id)
    try:
        chat_id = str((await customer.request_chat({"first_name": "Ada"}))["chat_id"])
    finally:
        await customer.aclose()
    await anna.accept(chat_id)
    return chat_id


async def _texts(anna: AgentClient, chat_id: str) -> list[str]:
    """The texts of the messages sent by the agent in the chat (not the demo's greeting)."""
    events = [e["event"] for e in await anna.events(chat_id)]
    bot = {e["party_id"] for e in events if e["event"] == "chat_session_party_joined" and e["type"] == "scenario"}
    return [str(e["msg_text"]) for e in events if e["event"] == "chat_session_message" and e["party_id"] not in bot]


async def test_the_same_request_again_is_answered_with_the_message_already_sent(
        live: LiveServer, anna: AgentClient, http: httpx.AsyncClient) -> None:
    chat_id = await _chat(live, anna, "keyed-1")
    url = f"{live.base_url}{PREFIX}/chats/{chat_id}/messages"
    bearer = {"Authorization": f"Bearer {anna.token}"}
    first = await http.post(url, headers=bearer, json={"text": "Your refund is on its way", "client_msg_id": "k-1"})
    again = await http.post(url, headers=bearer, json={"text": "Your refund is on its way", "client_msg_id": "k-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    other = await http.post(url, headers=bearer, json={"text": "Anything else?", "client_msg_id": "k-2"})
    unkeyed = [await http.post(url, headers=bearer, json={"text": "Bye"}) for _ in range(2)]
    assert other.json()["seq"] > first.json()["seq"] and all(r.status_code == 200 for r in unkeyed)
    assert await _texts(anna, chat_id) == ["Your refund is on its way", "Anything else?", "Bye", "Bye"]
    customer = live.customer(client_id="keyed-1")
    try:
        history = await customer.history(chat_id)
        bot = {e["party_id"] for e in history if e["event"] == "chat_session_party_joined" and e["type"] == "scenario"}
        seen = [e["msg_text"] for e in history if e["event"] == "chat_session_message" and e["party_id"] not in bot]
    finally:
        await customer.aclose()
    assert seen == ["Your refund is on its way", "Anything else?", "Bye", "Bye"]


async def test_a_key_reused_for_another_text_is_refused_and_sends_nothing(
        live: LiveServer, anna: AgentClient, http: httpx.AsyncClient) -> None:
    chat_id = await _chat(live, anna, "keyed-2")
    url = f"{live.base_url}{PREFIX}/chats/{chat_id}/messages"
    bearer = {"Authorization": f"Bearer {anna.token}"}
    assert (await http.post(url, headers=bearer, json={"text": "first", "client_msg_id": "k"})).status_code == 200
    reused = await http.post(url, headers=bearer, json={"text": "second", "client_msg_id": "k"})
    assert (reused.status_code, reused.json()) == (409, {"detail": "client_msg_id names another message of this chat"})
    too_long = await http.post(url, headers=bearer, json={"text": "third", "client_msg_id": "k" * 129})
    assert too_long.status_code == 422
    assert await _texts(anna, chat_id) == ["first"]


async def test_a_key_belongs_to_its_chat(live: LiveServer, anna: AgentClient) -> None:
    one, two = await _chat(live, anna, "keyed-3"), await _chat(live, anna, "keyed-4")
    sent = [await anna.send_message(chat_id, "Hello", client_msg_id="same") for chat_id in (one, two)]
    assert sent[0]["msg_id"] != sent[1]["msg_id"]
    assert await _texts(anna, one) == await _texts(anna, two) == ["Hello"]


class _AnswerLostOnce(httpx.AsyncBaseTransport):
    """A real connection to the server whose first message answer never reaches the client, as when
    a balancer closes the connection after the request went through."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/messages") and not self.lost:
            self.lost += 1
            await response.aclose()
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("key", [None, "desk-42"])
async def test_the_client_sends_again_when_the_answer_is_lost_and_the_chat_gets_one_message(
        live: LiveServer, anna: AgentClient, key: str | None) -> None:
    chat_id = await _chat(live, anna, f"keyed-lost-{key}")
    transport = _AnswerLostOnce()
    async with httpx.AsyncClient(transport=transport, timeout=10.0) as http:
        agent = AgentClient(live.base_url, http=http)
        agent.token = anna.token
        sent = await agent.send_message(chat_id, "Sent once", client_msg_id=key)
    assert transport.lost == 1
    assert set(sent) == {"seq", "msg_id"}
    assert await _texts(anna, chat_id) == ["Sent once"]
