"""The widget embedded on another site: with data-server pointing at frontdesk, a page whose origin the
entry allows (the demo allows http://localhost:*) chats over credentialed CORS, with the tag's
language, title and colour; a site the entry does not allow gets no chat (the browser refuses the
answers) and the widget says the chat is not available."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.async_api import Browser, Page, expect

from frontdesk.client import AgentClient
from tests.browser.conftest import PageProblems, open_page, screenshot
from tests.browser.widget_driver import TIMEOUT_MS, AgentSide, launcher, log, offered_chat, send_keys, window
from tests.conftest import LiveServer

SHOP_PAGE = """<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Fahrradladen</title></head>
<body><h1>Ein anderer Laden</h1>
<script src="{server}/widget.js" data-app-id="demo" data-tenant-url="demo.local" data-server="{server}"
        data-lang="de" data-title="Harbour Lane Hilfe" data-colour="#8a3b12" async></script></body></html>"""


@contextmanager
def shop_site(address: str, server: str) -> Iterator[int]:
    """Another site: an HTTP server on ``address`` serving one page that embeds the widget; yields its port."""
    page = SHOP_PAGE.format(server=server).encode()

    class Shop(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer((address, 0), Shop)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


async def test_an_allowed_site_chats_across_origins(browser: Browser, live: LiveServer,
                                                    page_problems: PageProblems) -> None:
    page = await open_page(browser, live, page_problems)
    agent = await live.agent()
    try:
        with shop_site("127.0.0.1", live.base_url) as port:
            shop = f"http://localhost:{port}/laden.html"  # another origin than the server's 127.0.0.1:<port>
            await page.goto(shop)
            await chat_from_the_shop(page, agent, shop)
    finally:
        await agent.aclose()
        await page.context.close()


async def chat_from_the_shop(page: Page, agent: AgentClient, shop: str) -> None:
    await launcher(page).click()
    dialog = window(page)
    await expect(dialog.get_by_role("heading", name="Harbour Lane Hilfe")).to_be_visible(timeout=TIMEOUT_MS)
    colour = await page.evaluate("""() => getComputedStyle(document.querySelector('#frontdesk-widget')
        .shadowRoot.querySelector('.header')).backgroundColor""")
    assert colour == "rgb(138, 59, 18)"
    await page.get_by_label("Vorname").fill("Jonas")
    await page.get_by_role("button", name="Chat starten").click()
    chat_id = await offered_chat(agent)
    side = AgentSide(agent, chat_id)
    await agent.accept(chat_id)
    await expect(log(page)).to_contain_text("Anna ist dem Chat beigetreten", timeout=TIMEOUT_MS)
    await send_keys(page, "Hallo aus einem anderen Laden")
    await side.customer_message("Hallo aus einem anderen Laden")
    navigation = await side.wait_for(lambda e: e["event"] == "chat_session_navigation", "the page")
    assert navigation["page"] == shop
    await agent.send_message(chat_id, "Willkommen!")
    await expect(log(page)).to_contain_text("Willkommen!", timeout=TIMEOUT_MS)
    await screenshot(page, "widget-other-site-de")


async def test_a_site_the_entry_does_not_allow_gets_no_chat(browser: Browser, live: LiveServer,
                                                            page_problems: PageProblems) -> None:
    page = await open_page(browser, live, page_problems)
    try:
        # 127.0.0.2 is this machine too, but an origin the demo entry does not allow
        with shop_site("127.0.0.2", live.base_url) as port:
            await page.goto(f"http://127.0.0.2:{port}/")
            await launcher(page).click()
            await expect(window(page)).to_contain_text("Der Chat ist gerade nicht verfügbar.", timeout=TIMEOUT_MS)
            assert await page.get_by_role("button", name="Chat starten").count() == 0
            await screenshot(page, "widget-site-not-allowed")
    finally:
        await page.context.close()
    # the browser reports the refused cross-origin answers itself; nothing else may have gone wrong
    page_problems.errors = [e for e in page_problems.errors if "CORS policy" not in e and "net::ERR_FAILED" not in e]
