"""The supervisor view's live overview in Chromium: queues, agents and chats pushed by
``/supervisor/ws`` as they change (never by polling the overview), and a visible reconnection."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page, Request, expect

from frontdesk.app import build_app
from frontdesk.client import CustomerClient
from frontdesk.server import make_server
from tests.browser.conftest import PageProblems, screenshot
from tests.browser.supervisor_team import TIMEOUT_MS, Team, live, sign_in_live, team

__all__ = ["live", "team"]  # the fixtures


async def test_a_new_chat_appears_live_and_follows_the_agent_accepting_it(page: Page, team: Team) -> None:
    overview_requests: list[str] = []

    def note(request: Request) -> None:
        if "/supervisor/overview" in request.url:
            overview_requests.append(request.url)

    page.on("request", note)
    await sign_in_live(page)
    queue = page.locator("[data-queue=general]")
    await expect(queue.locator("[data-field=waiting]")).to_have_text("0", timeout=TIMEOUT_MS)
    bob = page.locator("tr[data-agent=bob]")
    await expect(bob.locator("[data-field=state]")).to_have_text("Not ready", timeout=TIMEOUT_MS)
    await expect(page.get_by_text("No open chats.")).to_be_visible()

    async with team.live.customer("device-live") as customer:
        chat_id = (await customer.request_chat({"first_name": "Ada"}))["chat_id"]
        row = page.locator(f"tr[data-chat='{chat_id}']")
        await expect(row).to_contain_text("Queued", timeout=TIMEOUT_MS)
        await expect(queue.locator("[data-field=waiting]")).to_have_text("1", timeout=TIMEOUT_MS)
        await expect(queue.locator("[data-field=ewt]")).to_have_text("no estimate")
        await screenshot(page, "supervisor-live-queued")

        # the longest wait moves with the server's clock (here a fake one) at the next push
        team.live.frontdesk.supervisor_feed.recheck_secs = 1.0  # no wake-up for a clock move: re-check soon
        await team.live.advance(75)
        await expect(queue.locator("[data-field=longest]")).to_contain_text("1:1", timeout=TIMEOUT_MS)

        await team.bob.set_state("ready")
        await expect(bob.locator("[data-field=state]")).to_have_text("Ready", timeout=TIMEOUT_MS)
        await expect(row).to_contain_text("Being offered", timeout=TIMEOUT_MS)
        await team.bob.accept(chat_id)
        await expect(row).to_contain_text("Connected", timeout=TIMEOUT_MS)
        await expect(row).to_contain_text("Bob")
        await expect(bob.locator("[data-field=load]")).to_have_text("1 / 2")
        await expect(queue.locator("[data-field=waiting]")).to_have_text("0")
        await screenshot(page, "supervisor-live-connected")

        await customer.end(chat_id)
        await expect(row).to_have_count(0, timeout=TIMEOUT_MS)
    assert overview_requests == []  # everything came over the push stream


async def test_the_view_shows_reconnecting_while_the_server_is_down_and_recovers(
        page: Page, team: Team, page_problems: PageProblems) -> None:
    await sign_in_live(page)
    status = page.locator("[data-status]")
    settings = team.live.frontdesk.settings
    await team.live.stop()
    await expect(status).to_have_attribute("data-status", "reconnecting", timeout=TIMEOUT_MS)
    await expect(status).to_have_text("Connection lost — reconnecting…")
    await screenshot(page, "supervisor-reconnecting")

    restarted = build_app(settings, clock=team.live.clock)  # same port, same database: the session lives on
    server = make_server(restarted, "127.0.0.1", settings.port, log_level="warning")
    task = asyncio.ensure_future(server.serve())
    try:
        await expect(status).to_have_attribute("data-status", "live", timeout=TIMEOUT_MS * 2)
        async with CustomerClient(team.base_url, app_id="demo", client_id="device-after",
                                  tenant_url="demo.local") as customer:
            chat_id = (await customer.request_chat())["chat_id"]
            await expect(page.locator(f"tr[data-chat='{chat_id}']")).to_be_visible(timeout=TIMEOUT_MS)
    finally:
        server.should_exit = True
        await task
    # while the server was down the browser logged the refused connections: expected here, nothing else
    expected = ("net::ERR_CONNECTION_REFUSED", "WebSocket connection to")
    page_problems.errors[:] = [e for e in page_problems.errors if not any(x in e for x in expected)]
