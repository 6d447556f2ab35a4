"""A customer chats with an agent end to end over real HTTP."""

from __future__ import annotations

from tests.conftest import LiveServer


async def test_customer_and_agent_chat_end_to_end(live: LiveServer) -> None:
    async with live.customer() as customer:
        chat = await customer.request_chat({"first_name": "Ada"})
        assert chat["is_new_chat"] is True
        chat_id = chat["chat_id"]
        agent = await live.agent()
        offers = await agent.offers()
        assert [o["chat_id"] for o in offers] == [chat_id]
        await agent.accept(chat_id)
        await customer.send_message(chat_id, "Hello, I need help")
        agent_events = await agent.events(chat_id)
        assert any(e["event"]["event"] == "chat_session_message" and e["event"]["msg"] == "Hello, I need help"
                   for e in agent_events)
        await agent.send_message(chat_id, "Hi Ada!")
        received: list[str] = []
        async for event in customer.events(chat_id):
            if event["event"] == "chat_session_message":
                received.append(event["msg"])
                if event["msg"] == "Hi Ada!":
                    await agent.end(chat_id)
        assert received[-1] == "Hi Ada!"
        await agent.aclose()
