"""The inactivity warning and the end after inactivity in the widget (the server's fake clock moves
with live.advance; the widget shows what the server sends)."""

from __future__ import annotations

from playwright.async_api import Page, expect

from frontdesk.domain.config import DEFAULT_INACTIVITY_TIMEOUT_MSG, DEFAULT_INACTIVITY_WARNING_MSG
from tests.browser.conftest import screenshot
from tests.browser.widget_driver import TIMEOUT_MS, connected_chat, log, message_box, send_keys
from tests.conftest import LiveServer


async def test_the_inactivity_warning_then_the_end(page: Page, live: LiveServer) -> None:
    agent = await live.agent()
    try:
        _, side = await connected_chat(page, agent)
        await send_keys(page, "Is the workshop open on Monday?")
        await side.customer_message("Is the workshop open on Monday?")
        entry = live.frontdesk.settings.contact_center.tenants["demo.local"].entries["demo"]
        assert await live.advance(entry.inactivity_warning_secs + 1) >= 1
        await expect(log(page)).to_contain_text(DEFAULT_INACTIVITY_WARNING_MSG, timeout=TIMEOUT_MS)
        await expect(message_box(page)).to_be_visible()  # a warning does not end the chat
        await screenshot(page, "widget-inactivity-warning")
        assert await live.advance(entry.inactivity_timeout_secs - entry.inactivity_warning_secs) >= 1
        await expect(log(page)).to_contain_text(DEFAULT_INACTIVITY_TIMEOUT_MSG, timeout=TIMEOUT_MS)
        await expect(message_box(page)).to_be_hidden(timeout=TIMEOUT_MS)
        await expect(page.get_by_role("button", name="Start a new chat")).to_be_visible()
        # the end is shown once (the server also sends chat_session_ended to this client)
        assert await log(page).get_by_text(DEFAULT_INACTIVITY_TIMEOUT_MSG).count() == 1
        assert await log(page).get_by_text("The chat has ended.").count() == 0
        await screenshot(page, "widget-inactivity-ended")
        # a reload after the end starts afresh
        await page.reload()
        await page.locator("#frontdesk-widget .launcher").click()
        await expect(page.get_by_role("button", name="Start chat")).to_be_visible(timeout=TIMEOUT_MS)
    finally:
        await agent.aclose()
