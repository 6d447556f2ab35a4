"""Queue status in the widget: while the chat waits for an agent (chat_session_status queued) the
widget says so with the server's estimated wait, and the notice goes when an agent joins."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, Response, expect

from tests.browser.conftest import screenshot
from tests.browser.widget_driver import TIMEOUT_MS, log, open_widget, start_chat
from tests.conftest import LiveServer


async def test_the_queue_notice_shows_the_estimated_wait(page: Page, live: LiveServer) -> None:
    agent = await live.agent()
    customers = [live.customer(client_id=f"device-{n}") for n in range(3)]
    try:
        # Anna is busy with as many chats as she takes (3): the widget's chat waits behind them
        for customer in customers:
            ticket = await customer.request_chat({"first_name": customer.client_id})
            await agent.accept(str(ticket["chat_id"]))
        announced: list[str] = []

        async def on_response(response: Response) -> None:
            if "/clientweb/api/v1/chats/" in response.url and "/events?" in response.url and response.ok:
                body: dict[str, Any] = await response.json()
                announced.extend(str(e["ewt"]) for e in body["events"]
                                 if e["event"] == "chat_session_status" and e["state"] == "queued")

        page.on("response", on_response)
        await open_widget(page)
        await start_chat(page, "Rae")
        banner = page.get_by_role("status").filter(has_text="Waiting for the next available agent")
        await expect(banner).to_be_visible(timeout=TIMEOUT_MS)
        await expect(banner).to_contain_text("Estimated wait: about", timeout=TIMEOUT_MS)
        # the wait the server announced, in minutes
        assert announced and int(announced[-1]) >= 90
        await expect(banner).to_contain_text(f"Estimated wait: about {round(int(announced[-1]) / 60)} min")
        await screenshot(page, "widget-queued")
        # a chat ends, the widget's chat is offered and taken: the notice goes
        await agent.end(str((await agent.chats())[0]["chat_id"]))
        offers: list[dict[str, object]] = []
        for _ in range(200):
            offers = await agent.offers()
            if offers:
                break
        assert offers, "the waiting chat was never offered"
        await agent.accept(str(offers[0]["chat_id"]))
        await expect(log(page)).to_contain_text("Anna joined the chat", timeout=TIMEOUT_MS)
        await expect(banner).to_be_hidden()
    finally:
        for customer in customers:
            await customer.aclose()
        await agent.aclose()
