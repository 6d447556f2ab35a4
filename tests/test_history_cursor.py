"""History with frontdesk's explicit cursor (``history?after=N``), over real HTTP: the events after
``N`` with their ``seq``, a plain read that moves no cursor and leaves nothing out — what frontdesk's
own widget reads when a page with a chat is reloaded (docs/event-delivery.md)."""

from __future__ import annotations

from typing import Any

import httpx

from frontdesk.client import CustomerClient
from tests.conftest import LiveServer

JsonObject = dict[str, Any]


async def history_after(customer: CustomerClient, chat_id: str, after: str) -> httpx.Response:
    return await customer.http.get(f"{customer.api}/chats/{chat_id}/history",
                                   params={"tenantUrl": "demo.local", "after": after},
                                   headers={"Authorization": customer.authorization})


def texts(events: list[JsonObject]) -> list[str]:
    return [str(e["msg_text"]) for e in events if e["event"] == "chat_session_message"]


async def test_history_after_a_cursor_carries_seqs_and_matches_the_poll(live: LiveServer) -> None:
    customer = live.customer(client_id="browser-7f3c", version="v1")
    agent = await live.agent()
    try:
        chat_id = str((await customer.request_chat({"first_name": "Rae"}))["chat_id"])
        await agent.accept(chat_id)
        await customer.send_message(chat_id, "customer: hello")
        await agent.send_message(chat_id, "agent: hi")
        whole = (await history_after(customer, chat_id, "0")).json()["events"]
        # every event carries its sequence number, in order; the customer's own message too
        seqs = [int(e["seq"]) for e in whole]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert texts(whole) == ["Welcome to the frontdesk demo! An agent will be with you shortly.",
                                "customer: hello", "agent: hi"]
        mine = [e for e in whole if e["event"] == "chat_session_message" and e["party_id"] == chat_id]
        assert [e["msg_text"] for e in mine] == ["customer: hello"]
        # the same events as the plain history, which stays as it was (no seq)
        plain = await customer.history(chat_id)
        assert [{k: v for k, v in e.items() if k != "seq"} for e in whole] == plain
        assert all("seq" not in e for e in plain)
        # a cursor in the middle: only what came after it
        cursor = seqs[-1]
        await agent.send_message(chat_id, "agent: later")
        later = (await history_after(customer, chat_id, str(cursor))).json()["events"]
        assert texts(later) == ["agent: later"] and all(int(e["seq"]) > cursor for e in later)
        # a plain read: the explicit-cursor poll after the history's last seq has exactly the rest
        assert texts(await customer.poll_after(chat_id, int(later[-1]["seq"]))) == []
        assert texts(await customer.poll_after(chat_id, cursor)) == ["agent: later"]
    finally:
        await customer.aclose()
        await agent.aclose()


async def test_history_after_reads_an_ended_chat_until_its_end_was_seen(live: LiveServer) -> None:
    customer = live.customer(client_id="browser-91a2", version="v1")
    agent = await live.agent()
    try:
        chat_id = str((await customer.request_chat({}))["chat_id"])
        await agent.accept(chat_id)
        await agent.send_message(chat_id, "agent: bye")
        await agent.end(chat_id)
        events = (await history_after(customer, chat_id, "0")).json()["events"]
        assert events[-1]["event"] == "chat_session_ended"
        # once the cursor is at the end the chat is gone, as for polls
        gone = await history_after(customer, chat_id, str(events[-1]["seq"]))
        assert gone.status_code == 404 and gone.json()["error_code"] == "5005"
    finally:
        await customer.aclose()
        await agent.aclose()


async def test_a_malformed_history_cursor_is_a_clear_error(live: LiveServer) -> None:
    customer = live.customer(client_id="browser-c0de", version="v1")
    try:
        chat_id = str((await customer.request_chat({}))["chat_id"])
        for bad in ("-1", "x", "²"):
            answer = await history_after(customer, chat_id, bad)
            assert answer.status_code == 400 and answer.json()["error_code"] == "5003"
    finally:
        await customer.aclose()
