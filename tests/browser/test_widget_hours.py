"""Out of hours: availability says the entry is closed, so the widget shows the out-of-hours message
(the configured one, or its own translated text) and offers no chat."""

from __future__ import annotations

import copy

from playwright.async_api import Browser, expect

from frontdesk.domain.config import HoursConfig, default_widget_configuration
from tests.browser.conftest import PageProblems, open_page, screenshot
from tests.browser.widget_driver import TIMEOUT_MS, launcher, widget_settings, window
from tests.conftest import StartServer

CLOSED = HoursConfig("closed", "UTC")  # no opening hours on any day


async def test_out_of_hours_shows_the_default_message_in_the_visitors_language(
        browser: Browser, start_server: StartServer, page_problems: PageProblems) -> None:
    live = await start_server(settings=widget_settings(hours_tables=(CLOSED,), hours="closed"))
    page = await open_page(browser, live, page_problems, locale="de-DE")
    try:
        await page.goto("/")
        await launcher(page).click()
        dialog = window(page)
        await expect(dialog.get_by_role("heading", name="Wir sind gerade nicht erreichbar")).to_be_visible(
            timeout=TIMEOUT_MS)
        await expect(dialog).to_contain_text("während unserer Öffnungszeiten")
        assert await page.get_by_role("button", name="Chat starten").count() == 0
        assert await launcher(page).get_attribute("aria-label") == "Chat schließen"
        await screenshot(page, "widget-out-of-hours-de")
    finally:
        await page.context.close()


async def test_out_of_hours_shows_the_configured_message(browser: Browser, start_server: StartServer,
                                                         page_problems: PageProblems) -> None:
    document = copy.deepcopy(default_widget_configuration())
    message = "Back on Monday at 9:00. Write to hello@harbourlane.example meanwhile."
    document["definition"]["chatInitiations"][0]["contactTab"]["outOfHoursMsg"] = message
    settings = widget_settings(hours_tables=(CLOSED,), hours="closed", widget_configuration=document)
    live = await start_server(settings=settings)
    page = await open_page(browser, live, page_problems)
    try:
        await page.goto("/")
        await launcher(page).click()
        await expect(window(page).get_by_role("heading", name="We are offline right now")).to_be_visible(
            timeout=TIMEOUT_MS)
        await expect(window(page)).to_contain_text(message)
        assert await page.get_by_role("button", name="Start chat").count() == 0
        await screenshot(page, "widget-out-of-hours")
    finally:
        await page.context.close()
