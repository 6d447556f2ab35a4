"""The agent desktop in Chromium against a real server, the customer driven through the API: sign
in, go ready, an offer with its countdown, accept, and chat both ways with typing and receipts."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.desktop_pages import WAIT_MS, CustomerTail, go_ready, named, sign_in
from tests.conftest import LiveServer


async def test_sign_in_accept_and_chat_both_ways(page: Page, live: LiveServer) -> None:
    await page.set_viewport_size({"width": 1280, "height": 800})
    await sign_in(page)
    await go_ready(page)
    await screenshot(page, "desktop-ready")

    customer = live.customer(client_id="mia-device")
    chat_id = str((await customer.request_chat({"first_name": "Mia", "last_name": "Jones",
                                                "email": "mia@example.com"}))["chat_id"])
    offer = page.get_by_role("article", name="Mia Jones wants to chat")
    await expect(offer).to_be_visible(timeout=WAIT_MS)
    countdown = offer.get_by_test_id("offer-countdown")
    await expect(countdown).to_have_text(__import__("re").compile(r"^\d+ s left$"), timeout=WAIT_MS)
    seconds = int((await countdown.inner_text()).split()[0])
    assert 0 < seconds <= 30  # the demo queue's offer timeout
    await screenshot(page, "desktop-offer")

    await offer.get_by_role("button", name="Accept").click()
    conversation = page.get_by_role("region", name="Mia Jones")
    await expect(conversation.get_by_role("heading", name="Mia Jones")).to_be_visible(timeout=WAIT_MS)
    await expect(page.get_by_test_id("pre-chat")).to_contain_text("mia@example.com")
    tail = CustomerTail(customer, chat_id)
    await tail.until(named("chat_session_status", state="connected"))

    # customer → agent, with the typing preview first; the desktop marks the message read
    await customer.send_typing(chat_id, "Hello, my bike")
    await expect(page.get_by_text("Mia Jones is typing: Hello, my bike")).to_be_visible(timeout=WAIT_MS)
    msg_id = await customer.send_message(chat_id, "Hello, my bike has a flat tyre")
    await expect(page.locator(".fd-log").get_by_text("Hello, my bike has a flat tyre")).to_be_visible(timeout=WAIT_MS)
    await expect(page.get_by_text("Mia Jones is typing: Hello, my bike")).to_be_hidden(timeout=WAIT_MS)
    read = await tail.until(named("chat_session_message_read", ref_msg_id=msg_id))
    assert read["party_id"] != chat_id

    # agent → customer: typing reaches the customer, then the message
    composer = page.get_by_label("Message", exact=True)
    await composer.fill("")
    await composer.press_sequentially("Sorry to hear")
    await tail.until(named("chat_session_typing"))
    await composer.press_sequentially(" that! Which model?")
    await composer.press("Enter")
    sent = await tail.until(named("chat_session_message", msg_text="Sorry to hear that! Which model?"))
    mine = page.locator(".fd-msg--mine").filter(has_text="Sorry to hear that! Which model?")
    await expect(mine.locator("[data-receipt]")).to_have_attribute("data-receipt", "sent", timeout=WAIT_MS)
    await customer.send_events(chat_id, {"event": "chat_session_message_delivered", "msg_id": customer.next_msg_id(),
                                         "ref_msg_id": sent["msg_id"]})
    await expect(mine.locator("[data-receipt]")).to_have_attribute("data-receipt", "delivered", timeout=WAIT_MS)
    await customer.send_events(chat_id, {"event": "chat_session_message_read", "msg_id": customer.next_msg_id(),
                                         "ref_msg_id": sent["msg_id"]})
    await expect(mine.locator("[data-receipt]")).to_have_attribute("data-receipt", "read", timeout=WAIT_MS)
    assert await page.locator(".fd-log").get_by_text("Hello, my bike has a flat tyre").count() == 1
    await screenshot(page, "desktop-chat-1280")
    await customer.aclose()


async def test_a_rejected_offer_goes_away_and_one_that_lapses_makes_the_agent_not_ready(page: Page,
                                                                                     live: LiveServer) -> None:
    await sign_in(page)
    await go_ready(page)
    customer = live.customer(client_id="rejected-device")
    chat_id = str((await customer.request_chat({"first_name": "Pia"}))["chat_id"])
    offer = page.get_by_role("article", name="Pia wants to chat")
    await offer.get_by_role("button", name="Reject").click()
    await expect(offer).to_have_count(0, timeout=WAIT_MS)
    tail = CustomerTail(customer, chat_id)
    offered = await tail.until(named("chat_session_status", state="connecting"))
    # back in the queue after the offer
    await tail.until(lambda e: e.get("event") == "chat_session_status" and e.get("state") == "queued"
                     and int(e["seq"]) > int(offered["seq"]))
    await screenshot(page, "desktop-offer-rejected")

    late = live.customer(client_id="late-device")
    await late.request_chat({"first_name": "Ivo"})
    lapsing = page.get_by_role("article", name="Ivo wants to chat")
    await expect(lapsing.get_by_test_id("offer-countdown")).to_be_visible(timeout=WAIT_MS)
    await live.advance(31)  # past the queue's 30 s offer timeout (the server's clock)
    await expect(lapsing).to_have_count(0, timeout=WAIT_MS)
    await expect(page.get_by_test_id("agent-state")).to_have_text("Not ready", timeout=WAIT_MS)
    await screenshot(page, "desktop-offer-lapsed")
    await customer.aclose()
    await late.aclose()
