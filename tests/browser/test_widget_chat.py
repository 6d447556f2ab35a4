"""The customer widget on the demo page chats with an agent (the agent API's client) in real
Chromium: both ways, with typing indicators and delivered/read receipts."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.widget_driver import TIMEOUT_MS, AgentSide, log, offered_chat, open_widget, send_keys, start_chat
from tests.conftest import LiveServer


async def test_the_widget_chats_with_an_agent_both_ways_with_typing_and_receipts(page: Page, live: LiveServer) -> None:
    agent = await live.agent()
    try:
        await open_widget(page)
        await screenshot(page, "widget-prechat")
        await start_chat(page, "Rae", "Do you have the Quayside City 7 in stock?")
        chat_id = await offered_chat(agent)
        side = AgentSide(agent, chat_id)
        # the pre-chat answers reach the agent: the question as the first message
        await side.customer_message("Do you have the Quayside City 7 in stock?")
        assert (await agent.chat(chat_id))["chat_id"] == chat_id
        await agent.accept(chat_id)
        await expect(log(page)).to_contain_text("Anna joined the chat", timeout=TIMEOUT_MS)

        # agent → customer: typing, then a message, which the widget marks delivered and read
        await agent.typing(chat_id, True)
        await expect(page.get_by_text("Anna is typing…")).to_be_visible(timeout=TIMEOUT_MS)
        sent = await agent.send_message(chat_id, "Yes, two in green. Want me to hold one?")
        await expect(log(page)).to_contain_text("Yes, two in green. Want me to hold one?", timeout=TIMEOUT_MS)
        await expect(page.get_by_text("Anna is typing…")).to_be_hidden(timeout=TIMEOUT_MS)
        await side.wait_for(lambda e: e["event"] == "chat_session_message_delivered"
                            and e.get("ref_msg_id") == sent["msg_id"], "the delivered receipt")
        await side.wait_for(lambda e: e["event"] == "chat_session_message_read"
                            and e.get("ref_msg_id") == sent["msg_id"], "the read receipt")

        # customer → agent: the typing preview, then the message
        await page.locator("#frontdesk-widget textarea.message-input").focus()
        await page.keyboard.type("Yes please")
        # the typing preview catches up with the draft (at most one typing event every two seconds)
        await side.wait_for(lambda e: e["event"] == "chat_session_typing" and e.get("party_id") == chat_id
                            and e.get("msg") == "Yes please", "the customer's typing preview")
        await page.keyboard.type(", I'll come by on Saturday")
        await page.keyboard.press("Enter")
        mine = await side.customer_message("Yes please, I'll come by on Saturday")
        await expect(log(page)).to_contain_text("Yes please, I'll come by on Saturday")

        # the agent's receipts show on the customer's message
        await agent.receipt(chat_id, str(mine["msg_id"]), "delivered")
        await expect(log(page).get_by_text("Delivered")).to_be_visible(timeout=TIMEOUT_MS)
        await agent.receipt(chat_id, str(mine["msg_id"]), "read")
        await expect(log(page).get_by_text("Read")).to_be_visible(timeout=TIMEOUT_MS)
        await agent.typing(chat_id, True)
        await expect(page.get_by_text("Anna is typing…")).to_be_visible(timeout=TIMEOUT_MS)
        await agent.typing(chat_id, False)
        await expect(page.get_by_text("Anna is typing…")).to_be_hidden(timeout=TIMEOUT_MS)
        await send_keys(page, "Thanks!")
        await side.customer_message("Thanks!")
        await screenshot(page, "widget-chat")

        # closed, the button counts what arrives; the message is read only once the window opens
        await page.get_by_role("button", name="Close", exact=True).click()
        late = await agent.send_message(chat_id, "It's on hold for you until Saturday.")
        await expect(page.locator("#frontdesk-widget .badge")).to_have_text("1", timeout=TIMEOUT_MS)
        await side.wait_for(lambda e: e["event"] == "chat_session_message_delivered"
                            and e.get("ref_msg_id") == late["msg_id"], "the delivered receipt")
        assert not [e for e in side.events_named("chat_session_message_read") if e.get("ref_msg_id") == late["msg_id"]]
        await screenshot(page, "widget-closed-unread")
        await page.get_by_role("button", name="Open chat").click()
        await expect(page.locator("#frontdesk-widget .badge")).to_be_hidden()
        await side.wait_for(lambda e: e["event"] == "chat_session_message_read"
                            and e.get("ref_msg_id") == late["msg_id"], "the read receipt after opening")
    finally:
        await agent.aclose()
