"""Hostile text in the widget stays text: script tags, event-handler attributes and javascript: links
from the agent, the customer and file names are shown literally, run nothing and inject nothing, and a
10,000-character word does not break the layout."""

from __future__ import annotations

from playwright.async_api import Dialog, Page, expect

from tests.browser.conftest import screenshot
from tests.browser.widget_driver import TIMEOUT_MS, connected_chat, log, png_bytes, send_keys
from tests.conftest import LiveServer

PAYLOADS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "javascript:alert(1)")
INJECTED = """() => {
  const root = document.querySelector('#frontdesk-widget').shadowRoot;
  return {
    scripts: root.querySelectorAll('script').length + document.querySelectorAll('body script:not([src])').length,
    images: [...root.querySelectorAll('img')].filter(i => !i.src.includes('/files/')).length,
    handlers: [...root.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
    badLinks: [...root.querySelectorAll('a')].filter(a => !/^(https?:|mailto:)/.test(a.href)).length,
  };
}"""


async def test_xss_payloads_stay_inert_and_long_words_wrap(page: Page, live: LiveServer) -> None:
    dialogs: list[str] = []

    async def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    agent = await live.agent()
    try:
        chat_id, side = await connected_chat(page, agent, first_name="<img src=x onerror=alert(1)>")
        for payload in PAYLOADS:
            await agent.send_message(chat_id, payload)
            await expect(log(page).get_by_text(payload, exact=True)).to_be_visible(timeout=TIMEOUT_MS)
        for payload in PAYLOADS:
            await send_keys(page, payload)
            await side.customer_message(payload)
            await expect(log(page).get_by_text(payload, exact=True).last).to_be_visible()
        await agent.send_message(chat_id, "see https://example.com/frames?size=56 and javascript:alert(2)")
        link = log(page).get_by_role("link", name="https://example.com/frames?size=56")
        await expect(link).to_be_visible(timeout=TIMEOUT_MS)
        assert await link.get_attribute("rel") == "noopener noreferrer"
        assert await link.get_attribute("target") == "_blank"
        await agent.send_file(chat_id, "<img src=x onerror=alert(3)>.png", png_bytes(), "image/png")
        await expect(log(page).locator("[data-kind=file]")).to_be_visible(timeout=TIMEOUT_MS)
        word = "W" * 10_000
        await agent.send_message(chat_id, word)
        await expect(log(page).get_by_text(word)).to_be_visible(timeout=TIMEOUT_MS)
        assert await page.evaluate(INJECTED) == {"scripts": 0, "images": 0, "handlers": 0, "badLinks": 0}
        # the layout holds: nothing in the log is wider than the log
        overflow = await page.evaluate("""() => {
          const log = document.querySelector('#frontdesk-widget').shadowRoot.querySelector('[role=log]');
          return log.scrollWidth - log.clientWidth; }""")
        assert overflow <= 0
        await screenshot(page, "widget-xss")
        assert dialogs == []
    finally:
        await agent.aclose()
