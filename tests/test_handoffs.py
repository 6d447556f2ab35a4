"""Transfers, conferences, leaving, wrap-up, location requests and the customer's earlier chats,
over real HTTP on a fake clock: what each agent and the customer see, and bad requests that
change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from frontdesk.client.agent import AgentClient, AgentError
from tests.center import Center, names, start_center, statuses
from tests.conftest import StartServer

JsonObject = dict[str, Any]


async def refused(status: int, call: Any) -> None:
    with pytest.raises(AgentError) as caught:
        await call
    assert caught.value.status == status, caught.value


async def connected(center: Center, agent: AgentClient, client_id: str,
                    app_id: str = "support") -> tuple[Any, str, int]:
    """A chat the agent holds; returns the customer, the chat id and how many events they had."""
    customer, chat_id = await center.chat(client_id, app_id)
    await agent.accept(chat_id)
    return customer, chat_id, len(await customer.poll_after(chat_id, 0))


async def test_transfer_to_a_queue(start_server: StartServer) -> None:
    center = await start_center(start_server)
    bob = await center.agent("bob")
    customer, chat_id, seen = await connected(center, bob, "tq")
    await refused(404, bob.transfer(chat_id, queue="nowhere"))
    assert (await bob.chat(chat_id))["state"] == "connected"  # unchanged
    ann = await center.agent("ann")
    await bob.transfer(chat_id, queue="billing")
    assert [o["chat_id"] for o in await ann.offers()] == [chat_id]
    assert await bob.chats() == []
    await ann.accept(chat_id)
    after = (await customer.poll_after(chat_id, 0))[seen:]
    assert names(after) == ["chat_session_party_left", "chat_session_status", "chat_session_status",
                            "chat_session_party_joined", "chat_session_status"]
    assert [s for s, _ in statuses(after)] == ["queued", "connecting", "connected"]
    assert after[3]["display_name"] == "Ann"
    assert (await ann.chat(chat_id))["queue_id"] == "billing"
    await center.close()


async def test_transfer_to_an_agent_and_its_refusal(start_server: StartServer) -> None:
    center = await start_center(start_server)
    bob = await center.agent("bob")
    cat = await center.agent("cat", ready=False)  # a direct transfer reaches a logged-in agent
    customer, chat_id, seen = await connected(center, bob, "ta")
    await refused(404, bob.transfer(chat_id, agent="nobody"))
    await refused(400, bob.transfer(chat_id, agent="bob"))
    await refused(400, bob.transfer(chat_id))
    await refused(403, cat.transfer(chat_id, agent="bob"))
    await bob.transfer(chat_id, agent="cat")
    assert [o["chat_id"] for o in await cat.offers()] == [chat_id]
    await cat.reject(chat_id)  # back to the queue; bob gave it away, cat declined: nobody is offered it
    assert await bob.offers() == [] and await cat.offers() == []
    after = (await customer.poll_after(chat_id, 0))[seen:]
    assert names(after)[0] == "chat_session_party_left"
    assert [s for s, _ in statuses(after)] == ["connecting", "queued"]
    ann = await center.agent("ann")
    assert [o["chat_id"] for o in await ann.offers()] == [chat_id]
    await center.close()


async def test_transfer_to_a_full_agent_is_refused(start_server: StartServer) -> None:
    center = await start_center(start_server)
    bob = await center.agent("bob")
    _, chat_id, _ = await connected(center, bob, "full1")
    await bob.set_state("not_ready")
    cat = await center.agent("cat")
    await connected(center, cat, "full2")
    await connected(center, cat, "full3")
    await refused(409, bob.transfer(chat_id, agent="cat"))
    assert [c["chat_id"] for c in await bob.chats()] == [chat_id]
    await center.close()


async def test_conference_invite_join_leave_and_wrap_up(start_server: StartServer) -> None:
    center = await start_center(start_server)
    bob = await center.agent("bob")
    customer, chat_id, seen = await connected(center, bob, "conf")
    ann = await center.agent("ann", ready=False)
    await refused(409, ann.join(chat_id))  # not invited
    await bob.invite(chat_id, "ann")
    await refused(409, bob.invite(chat_id, "ann"))
    async with ann.live() as ws:
        snapshot = await ws.receive()
        assert [c["chat_id"] for c in snapshot["invitations"]] == [chat_id]
    assert (await ann.chat(chat_id))["chat_id"] == chat_id  # an invited agent may read the chat first
    await ann.join(chat_id)
    await bob.send_message(chat_id, "Ann from billing joins us.")
    await ann.send_message(chat_id, "Hello!")
    await refused(409, bob.transfer(chat_id, queue="billing"))  # others are here: leave instead
    await refused(409, bob.wrap_up(chat_id, "resolved"))  # still in the chat
    await bob.leave(chat_id)
    await refused(409, ann.leave(chat_id))  # the last agent ends or transfers
    record = await bob.wrap_up(chat_id, "handed over", "billing question")
    assert record["disposition"] == "handed over" and record["queue_id"] == "general"
    await refused(409, bob.wrap_up(chat_id, "again"))
    await ann.end(chat_id)
    await ann.wrap_up(chat_id, "resolved")
    cat = await center.agent("cat")
    await refused(403, cat.wrap_up(chat_id, "resolved"))
    after = (await customer.poll_after(chat_id, 0))[seen:]
    assert names(after) == ["chat_session_party_joined", "chat_session_message", "chat_session_message",
                            "chat_session_party_left", "chat_session_party_left", "chat_session_ended"]
    parties = (await ann.chat(chat_id))["parties"]
    assert sorted(p["display_name"] for p in parties if p["type"] == "internal") == ["Ann", "Bob"]
    agent_only = [e["event"]["event"] for e in await ann.events(chat_id)]
    assert "frontdesk_invited" in agent_only and "frontdesk_wrap_up" in agent_only
    assert not any(e["event"].startswith("frontdesk_") for e in after)
    await center.close()


async def test_declined_invitation_and_dispositions_of_the_queue(start_server: StartServer) -> None:
    center = await start_center(start_server)
    ann = await center.agent("ann")
    customer, chat_id, _ = await connected(center, ann, "disp", app_id="billing")
    bob = await center.agent("bob", ready=False)
    await ann.invite(chat_id, "bob")
    await bob.decline(chat_id)
    await refused(409, bob.join(chat_id))
    await ann.end(chat_id)
    await refused(400, ann.wrap_up(chat_id, "whatever"))  # billing lists its dispositions
    assert (await ann.wrap_up(chat_id, "callback", "call back Tuesday"))["notes"] == "call back Tuesday"
    assert customer is not None
    await center.close()


async def test_location_request_and_the_customers_earlier_chats(start_server: StartServer) -> None:
    center = await start_center(start_server)
    bob = await center.agent("bob")
    customer, first, seen = await connected(center, bob, "returning")
    await customer.send_message(first, "my order is late")
    form_id = await bob.request_location(first, timeout_secs=60)
    shown = (await customer.poll_after(first, 0))[seen:][-1]
    assert shown["event"] == "chat_session_form_show" and shown["form_name"] == "RequestLocation"
    assert shown["form_request_id"] == form_id
    await bob.end(first)
    center.live.clock.advance(60)
    second_ticket = await customer.request_chat({})
    second = str(second_ticket["chat_id"])
    await bob.accept(second)
    (earlier,) = await bob.customer_history(second)
    assert earlier["chat_id"] == first and earlier["state"] == "completed"
    assert "my order is late" in [e.get("msg_text") for e in earlier["events"]]
    other, _, _ = await connected(center, bob, "stranger")
    assert other is not None
    cat = await center.agent("cat")
    await refused(403, cat.customer_history(second))
    await center.close()
