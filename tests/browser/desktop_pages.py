"""Helpers of the agent desktop's browser tests: signing in through the page, and following what a
customer (the API ``CustomerClient``) receives with the explicit cursor."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from playwright.async_api import Browser, ConsoleMessage, Page, expect

from frontdesk.client import CustomerClient
from frontdesk.settings import DEMO_AGENT_PASSWORD, DEMO_AGENT_USERNAME
from tests.browser.conftest import PageProblems, open_page
from tests.conftest import LiveServer

JsonObject = dict[str, Any]
WAIT_MS = 20_000  # generous: the machine is shared


class ExpectedProblems(PageProblems):
    """Page problems, except console errors the test causes on purpose (a refused upload's 413, a
    server that is down while the desktop reconnects); each must contain one of ``expected``."""

    def __init__(self, *expected: str) -> None:
        super().__init__()
        self.expected = expected
        self.tolerated: list[str] = []

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and any(text in message.text for text in self.expected):
            self.tolerated.append(message.text)
            return
        super().on_console(message)


async def desktop_page(browser: Browser, live: LiveServer, problems: PageProblems,
                       width: int = 1280, height: int = 800, **context: object) -> Page:
    """A desktop page in its own browser context (its own session cookie)."""
    return await open_page(browser, live, problems, viewport={"width": width, "height": height}, **context)


async def sign_in(page: Page, username: str = DEMO_AGENT_USERNAME, password: str = DEMO_AGENT_PASSWORD,
                  tenant: str = "") -> None:
    await page.goto("/agent")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    if tenant:
        await page.get_by_label("Tenant").fill(tenant)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_test_id("agent-state")).to_be_visible(timeout=WAIT_MS)


async def go_ready(page: Page) -> None:
    await expect(page.get_by_test_id("agent-state")).to_have_text("Not ready", timeout=WAIT_MS)
    await page.get_by_test_id("toggle-state").click()
    await expect(page.get_by_test_id("agent-state")).to_have_text("Ready", timeout=WAIT_MS)


class CustomerTail:
    """Everything the customer receives in one chat, read with the explicit ``after`` cursor."""

    def __init__(self, customer: CustomerClient, chat_id: str) -> None:
        self.customer, self.chat_id = customer, chat_id
        self.cursor = 0
        self.seen: list[JsonObject] = []

    async def until(self, matches: Callable[[JsonObject], bool], timeout: float = 30.0) -> JsonObject:
        """The first event received (now or earlier) that ``matches``."""
        async with asyncio.timeout(timeout):
            while True:
                for event in self.seen:
                    if matches(event):
                        return event
                batch = await self.customer.poll_after(self.chat_id, self.cursor)
                for event in batch:
                    self.cursor = int(event["seq"])
                    self.seen.append(event)


def named(name: str, **fields: object) -> Callable[[JsonObject], bool]:
    return lambda e: e.get("event") == name and all(e.get(k) == v for k, v in fields.items())
