"""frontdesk's two halves together: a customer in the widget on the demo page and the agent in the
desktop, in two browser contexts — chat both ways with typing and receipts, the customer's page,
and a file each way."""

from __future__ import annotations

import re

from playwright.async_api import Browser, FilePayload, Page, expect

from tests.browser.conftest import screenshot
from tests.browser.desktop_pages import WAIT_MS, ExpectedProblems, desktop_page, go_ready, sign_in
from tests.browser.widget_driver import log, message_box, open_widget, send_keys, start_chat
from tests.conftest import LiveServer


async def test_a_customer_in_the_widget_and_an_agent_in_the_desktop(browser: Browser, page: Page,
                                                                     live: LiveServer) -> None:
    problems = ExpectedProblems()
    desk = await desktop_page(browser, live, problems)
    try:
        await sign_in(desk)
        await go_ready(desk)
        await open_widget(page)
        await start_chat(page, "Rae", "Do you have the Quayside City 7 in stock?")

        offer = desk.get_by_role("article", name="Rae wants to chat")
        await expect(offer.get_by_test_id("offer-countdown")).to_be_visible(timeout=WAIT_MS)
        await offer.get_by_role("button", name="Accept").click()
        conversation = desk.locator(".fd-log")
        question = conversation.get_by_text("Do you have the Quayside City 7 in stock?")
        await expect(question).to_be_visible(timeout=WAIT_MS)
        await expect(log(page)).to_contain_text("Anna joined the chat", timeout=WAIT_MS)
        await expect(desk.get_by_test_id("current-page")).to_contain_text("Harbour Lane Cycles", timeout=WAIT_MS)
        # the widget's user_platform shows as the browser it names, not as the raw user agent string
        await expect(desk.get_by_test_id("pre-chat")).to_contain_text(re.compile(r"Browser\s*Chrome \d+ on Linux"))
        await expect(desk.get_by_test_id("pre-chat")).not_to_contain_text("Mozilla/5.0")

        # agent → customer: typing in the desktop shows in the widget, then the message and its receipts
        box = desk.get_by_label("Message", exact=True)
        await box.press_sequentially("Yes, two in green")
        await expect(page.get_by_text("Anna is typing…")).to_be_visible(timeout=WAIT_MS)
        await box.press_sequentially(". Want me to hold one?")
        await box.press("Enter")
        await expect(log(page)).to_contain_text("Yes, two in green. Want me to hold one?", timeout=WAIT_MS)
        mine = desk.locator(".fd-msg--mine").filter(has_text="Want me to hold one?")
        await expect(mine.locator("[data-receipt]")).to_have_attribute("data-receipt", "read", timeout=WAIT_MS)

        # customer → agent: the typing preview in the desktop, the message, and the desktop's read receipt
        await message_box(page).focus()
        await page.keyboard.type("Yes please")
        # (the widget sends its draft at intervals: what it had typed by then)
        await expect(desk.locator(".fd-typing")).to_contain_text(re.compile(r"Rae is typing: Y"), timeout=WAIT_MS)
        await page.keyboard.type(", I'll come by on Saturday")
        await page.keyboard.press("Enter")
        await expect(conversation.get_by_text("Yes please, I'll come by on Saturday")).to_be_visible(timeout=WAIT_MS)
        saturday = log(page).locator(".row.mine").filter(has_text="I'll come by on Saturday")
        await expect(saturday.get_by_text("Read")).to_be_visible(timeout=WAIT_MS)

        # a file each way
        await desk.get_by_test_id("file-input").set_input_files(
            files=[FilePayload(name="hold-receipt.txt", mimeType="text/plain", buffer=b"held until Saturday")])
        await expect(log(page).get_by_text("hold-receipt.txt")).to_be_visible(timeout=WAIT_MS)
        await page.locator("#frontdesk-widget input[type=file]").set_input_files(
            files=[FilePayload(name="frame-size.txt", mimeType="text/plain", buffer=b"I am 1.78 m tall")])
        await expect(conversation.get_by_role("link", name="frame-size.txt")).to_be_visible(timeout=WAIT_MS)
        await send_keys(page, "Thanks!")
        await expect(conversation.get_by_text("Thanks!")).to_be_visible(timeout=WAIT_MS)
        assert await conversation.get_by_text("Yes please, I'll come by on Saturday").count() == 1
        await screenshot(desk, "desktop-with-widget")
        await screenshot(page, "widget-with-desktop")
    finally:
        await desk.context.close()
    assert problems.errors == [], problems.errors
