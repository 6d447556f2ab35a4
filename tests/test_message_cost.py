"""What an agent's message costs, counted in SQLite statements and rows over real HTTP (never in
time): the agent's POST (its credential and the action) and the customer's poll that delivers it
(the read and the cursor's move after the answer)."""

from __future__ import annotations

import pytest

from frontdesk.client import AgentClient
from frontdesk.storage.sqlite.store import SqliteStorage
from tests.conftest import LiveServer

pytestmark = pytest.mark.sqlite_only  # SQLite's statement counts

# the token, its agent; the chat, its parties, the event's insert, the chat's sequence moved
STATEMENTS_PER_SENT_MESSAGE = 6
# ... and with the client's key (client_msg_id): the key looked up, the key stored
STATEMENTS_PER_KEYED_MESSAGE = STATEMENTS_PER_SENT_MESSAGE + 2
# the chat's delivery state, its events after the cursor; the cursor's move
STATEMENTS_PER_DELIVERED_MESSAGE = 3


async def test_a_message_costs_its_statements_to_send_and_to_deliver(live: LiveServer, anna: AgentClient) -> None:
    storage = live.frontdesk.storage
    assert isinstance(storage, SqliteStorage)
    customer = live.customer(client_id="cost-1")
    try:
        chat_id = str((await customer.request_chat({"first_name": "Ada"}))["chat_id"])
        await anna.accept(chat_id)
        while await customer.poll(chat_id):
            pass  # everything so far delivered
        with storage.counting() as sent:
            answer = await anna.http.post(f"{anna.api}/chats/{chat_id}/messages", json={"text": "hello"},
                                          headers={"Authorization": f"Bearer {anna.token}"})
        assert answer.status_code == 200
        with storage.counting() as keyed:
            await anna.send_message(chat_id, "hello again")  # the client sends its key
        with storage.counting() as delivered:
            events = await customer.poll(chat_id)
    finally:
        await customer.aclose()
    assert [e["event"] for e in events] == ["chat_session_message"] * 2
    assert (sent.statements, sent.rows_written) == (STATEMENTS_PER_SENT_MESSAGE, 2)  # the event, the chat
    assert (keyed.statements, keyed.rows_written) == (STATEMENTS_PER_KEYED_MESSAGE, 3)  # ... and the key
    assert (delivered.statements, delivered.rows_written) == (STATEMENTS_PER_DELIVERED_MESSAGE, 1)  # the cursor
