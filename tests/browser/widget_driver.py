"""Driving frontdesk's customer widget in a browser for the widget tests: open it on the demo page,
start a chat, and follow the agent side through the agent API (``live.agent()``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.async_api import Locator, Page, expect

from frontdesk.client import AgentClient

JsonObject = dict[str, Any]
TIMEOUT_MS = 20_000  # generous: the machine is shared
TIMEOUT_SECS = TIMEOUT_MS / 1000


def launcher(page: Page) -> Locator:
    return page.locator("#frontdesk-widget .launcher")


def window(page: Page) -> Locator:
    return page.get_by_role("dialog")


def log(page: Page) -> Locator:
    return page.get_by_role("log")


def message_box(page: Page) -> Locator:
    return page.locator("#frontdesk-widget textarea.message-input")


async def open_widget(page: Page, path: str = "/") -> None:
    await page.goto(path)
    await expect(launcher(page)).to_be_visible(timeout=TIMEOUT_MS)
    await launcher(page).click()
    await expect(window(page)).to_be_visible(timeout=TIMEOUT_MS)


async def start_chat(page: Page, first_name: str = "Rae", question: str = "") -> None:
    """Fill the pre-chat form (built from the entry's expected parameters) and start."""
    await page.get_by_label("First name").fill(first_name, timeout=TIMEOUT_MS)
    if question:
        await page.get_by_label("How can we help?").fill(question)
    await page.get_by_role("button", name="Start chat").click()
    await expect(message_box(page)).to_be_visible(timeout=TIMEOUT_MS)


async def offered_chat(agent: AgentClient) -> str:
    """The chat offered to the agent (the widget's chat), once routing offered it."""
    deadline = time.monotonic() + TIMEOUT_SECS
    while time.monotonic() < deadline:
        offers = await agent.offers()
        if offers:
            return str(offers[0]["chat_id"])
        await asyncio.sleep(0.05)
    pytest.fail("no chat was offered to the agent")


async def send_keys(page: Page, text: str) -> None:
    await message_box(page).focus()
    await page.keyboard.type(text)
    await page.keyboard.press("Enter")


class AgentSide:
    """The agent's view of one chat: its events read with the agent API's cursor."""

    def __init__(self, agent: AgentClient, chat_id: str) -> None:
        self.agent = agent
        self.chat_id = chat_id
        self.cursor = 0
        self.seen: list[JsonObject] = []

    async def wait_for(self, predicate: Callable[[JsonObject], bool], what: str) -> JsonObject:
        for event in self.seen:
            if predicate(event):
                return event
        deadline = time.monotonic() + TIMEOUT_SECS
        while time.monotonic() < deadline:
            for item in await self.agent.events(self.chat_id, after=self.cursor, wait=1.0):
                self.cursor = max(self.cursor, int(item["seq"]))
                self.seen.append(item["event"])
                if predicate(item["event"]):
                    return dict(item["event"])
        pytest.fail(f"the agent never saw {what}")

    async def customer_message(self, text: str) -> JsonObject:
        return await self.wait_for(lambda e: e["event"] == "chat_session_message" and e.get("party_id") == self.chat_id
                                   and e.get("msg_text") == text, f"the customer's message {text!r}")

    def events_named(self, name: str) -> list[JsonObject]:
        return [e for e in self.seen if e["event"] == name]
