"""The desktop survives losing its server and notices when its session ends: after a restart it
reconnects by its cursors and shows what was sent meanwhile exactly once; a logout elsewhere (the
socket's 4410, or a 401 on any request) brings back the login page."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from playwright.async_api import Browser, Page, Route, WebSocketRoute, expect

from frontdesk.client import AgentClient
from frontdesk.settings import DEMO_AGENT_PASSWORD, DEMO_AGENT_USERNAME
from tests.browser.conftest import screenshot
from tests.browser.desktop_pages import WAIT_MS, CustomerTail, ExpectedProblems, desktop_page, go_ready, named, sign_in
from tests.conftest import LiveServer, StartServer


async def accepted_chat(page: Page, live: LiveServer, first_name: str) -> tuple[object, str]:
    customer = live.customer(client_id=f"{first_name}-device")
    chat_id = str((await customer.request_chat({"first_name": first_name}))["chat_id"])
    offer = page.get_by_role("article", name=f"{first_name} wants to chat")
    await offer.get_by_role("button", name="Accept").click()
    await expect(page.get_by_role("heading", name=first_name)).to_be_visible(timeout=WAIT_MS)
    return customer, chat_id


async def test_the_desktop_reconnects_after_a_server_restart_and_shows_each_message_once(
        browser: Browser, start_server: StartServer) -> None:
    live = await start_server()
    port = urlsplit(live.base_url).port
    # while the server is down the browser logs its refused connections: expected here
    problems = ExpectedProblems("ERR_CONNECTION_REFUSED", "WebSocket connection to")
    page = await desktop_page(browser, live, problems)
    try:
        await sign_in(page)
        await go_ready(page)
        customer, chat_id = await accepted_chat(page, live, "Rosa")
        log = page.locator(".fd-log")
        await customer.send_message(chat_id, "before the restart")  # type: ignore[attr-defined]
        await expect(log.get_by_text("before the restart")).to_be_visible(timeout=WAIT_MS)

        # the desktop's next tickets wait until the messages below were sent: they are sent while
        # it is away, whatever the speed of its reconnection
        released = asyncio.Event()

        async def hold_ticket(route: Route) -> None:
            await released.wait()
            await route.continue_()

        await page.route("**/agent/api/v1/ws-ticket", hold_ticket)
        await live.stop()
        banner = page.get_by_test_id("connection")
        await expect(banner).to_have_text("Connection lost — reconnecting…", timeout=WAIT_MS)
        await screenshot(page, "desktop-reconnecting")
        restarted = await start_server(data_dir=live.data_dir, port=port)
        for n in range(3):
            await customer.send_message(chat_id, f"meanwhile {n}")  # type: ignore[attr-defined]
        await expect(banner).to_be_visible()
        released.set()
        await expect(banner).to_be_hidden(timeout=WAIT_MS)
        await expect(log.get_by_text("meanwhile 2")).to_be_visible(timeout=WAIT_MS)
        texts = await log.locator(".fd-msg--customer .fd-bubble__text").all_inner_texts()
        assert texts == ["before the restart", "meanwhile 0", "meanwhile 1", "meanwhile 2"]
        seqs = await log.locator("[data-seq]").evaluate_all("items => items.map(i => Number(i.dataset.seq))")
        assert seqs == sorted(set(seqs))  # no event twice, in log order

        # and the chat goes on both ways
        tail = CustomerTail(customer, chat_id)  # type: ignore[arg-type]
        await page.get_by_label("Message", exact=True).fill("back again")
        await page.get_by_label("Message", exact=True).press("Enter")
        await tail.until(named("chat_session_message", msg_text="back again"))
        await screenshot(page, "desktop-reconnected")
        await customer.aclose()  # type: ignore[attr-defined]
        await restarted.stop()
    finally:
        await page.context.close()
    assert problems.errors == [], problems.errors


async def test_a_logout_elsewhere_brings_back_the_login_page(browser: Browser, live: LiveServer) -> None:
    problems = ExpectedProblems()
    page = await desktop_page(browser, live, problems)
    try:
        await sign_in(page)
        elsewhere = AgentClient(live.base_url)
        await elsewhere.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
        await elsewhere.logout()  # ends every session of the agent: the socket closes with 4410
        await expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT_MS)
        await expect(page.get_by_test_id("agent-state")).to_have_count(0)
        await screenshot(page, "desktop-signed-out")
        await elsewhere.aclose()
    finally:
        await page.context.close()
    assert problems.errors == [], problems.errors


async def test_a_401_on_any_request_brings_back_the_login_page(browser: Browser, live: LiveServer) -> None:
    # the browser logs the refused request itself
    problems = ExpectedProblems("status of 401")
    page = await desktop_page(browser, live, problems)
    held: list[WebSocketRoute] = []

    async def keep_socket_open(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        server.on_close(lambda code, reason: None)  # the server's 4410 does not reach the page
        held.append(ws)

    try:
        await page.route_web_socket("**/agent/api/v1/ws*", keep_socket_open)
        await sign_in(page)
        await expect(page.get_by_test_id("agent-state")).to_have_text("Not ready", timeout=WAIT_MS)
        elsewhere = AgentClient(live.base_url)
        await elsewhere.login(DEMO_AGENT_USERNAME, DEMO_AGENT_PASSWORD)
        await elsewhere.logout()
        await page.get_by_test_id("toggle-state").click()  # POST /state answers 401
        await expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT_MS)
        assert held, "the socket went through the route"
        await screenshot(page, "desktop-after-401")
        await elsewhere.aclose()
    finally:
        await page.context.close()
    assert problems.errors == [], problems.errors


async def test_a_dropped_socket_reconnects_and_loses_nothing(browser: Browser, live: LiveServer) -> None:
    """A network loss with the server still up: the page's socket is cut (by the test's route), the
    customer writes meanwhile, the desktop reconnects with its cursors and shows each message once."""
    problems = ExpectedProblems()
    page = await desktop_page(browser, live, problems)
    sockets: list[WebSocketRoute] = []
    released = asyncio.Event()
    released.set()

    def through(ws: WebSocketRoute) -> None:
        ws.connect_to_server()
        sockets.append(ws)

    async def hold_ticket(route: Route) -> None:
        await released.wait()
        await route.continue_()

    try:
        await page.route_web_socket("**/agent/api/v1/ws*", through)
        await page.route("**/agent/api/v1/ws-ticket", hold_ticket)
        await sign_in(page)
        await go_ready(page)
        customer, chat_id = await accepted_chat(page, live, "Omar")
        log = page.locator(".fd-log")
        await customer.send_message(chat_id, "one")  # type: ignore[attr-defined]
        await expect(log.get_by_text("one", exact=True)).to_be_visible(timeout=WAIT_MS)

        released.clear()
        await sockets[-1].close(code=4000, reason="network lost")
        banner = page.get_by_test_id("connection")
        await expect(banner).to_have_text("Connection lost — reconnecting…", timeout=WAIT_MS)
        await customer.send_message(chat_id, "two")  # type: ignore[attr-defined]
        await customer.send_message(chat_id, "three")  # type: ignore[attr-defined]
        released.set()
        await expect(banner).to_be_hidden(timeout=WAIT_MS)
        await expect(log.get_by_text("three", exact=True)).to_be_visible(timeout=WAIT_MS)
        texts = await log.locator(".fd-msg--customer .fd-bubble__text").all_inner_texts()
        assert texts == ["one", "two", "three"]
        assert len(sockets) == 2
        await customer.aclose()  # type: ignore[attr-defined]
    finally:
        await page.context.close()
    assert problems.errors == [], problems.errors
