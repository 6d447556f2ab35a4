"""Driving frontdesk's customer widget in a browser for the widget tests: open it on the demo page,
start a chat, and follow the agent side through the agent API (``live.agent()``)."""

from __future__ import annotations

import asyncio
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from playwright.async_api import Locator, Page, expect

from frontdesk.client import AgentClient
from frontdesk.domain.config import FormConfig, HoursConfig, ScenarioConfig
from frontdesk.settings import DEMO_APP_ID, DEMO_TENANT, Settings, demo_contact_center
from tests.conftest import TEST_HOLD_SECS, TEST_PASSWORD_COST

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


def png_bytes(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (29, 107, 88)) -> bytes:
    """A small valid PNG of one colour (the server tells images by their magic bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


async def connected_chat(page: Page, agent: AgentClient, first_name: str = "Rae") -> tuple[str, AgentSide]:
    """Open the widget, start a chat, and let the agent accept it: the widget shows the agent."""
    await open_widget(page)
    await start_chat(page, first_name)
    chat_id = await offered_chat(agent)
    await agent.accept(chat_id)
    await expect(log(page)).to_contain_text("Anna joined the chat", timeout=TIMEOUT_MS)
    return chat_id, AgentSide(agent, chat_id)


def widget_settings(forms: tuple[FormConfig, ...] = (), scenarios: tuple[ScenarioConfig, ...] = (),
                    hours_tables: tuple[HoursConfig, ...] = (), **entry_changes: Any) -> Settings:
    """Settings for a server whose demo entry is changed as given, with the tenant's extra forms,
    scenarios and hours tables (and the tests' short idle-poll hold)."""
    demo = demo_contact_center(password_cost=TEST_PASSWORD_COST)
    tenant = demo.tenants[DEMO_TENANT]
    entry = replace(tenant.entries[DEMO_APP_ID], **entry_changes)
    tenant = replace(tenant, entries={DEMO_APP_ID: entry}, forms={f.name: f for f in forms},
                     scenarios={s.name: s for s in scenarios}, hours={h.hours_id: h for h in hours_tables})
    return Settings(contact_center=replace(demo, tenants={tenant.name: tenant}), poll_hold_secs=TEST_HOLD_SECS)


async def shown_texts(page: Page) -> list[str]:
    """The text of every message bubble in the widget's log, in order."""
    texts = await page.locator("#frontdesk-widget [role=log] .bubble .text").all_text_contents()
    return [t.strip() for t in texts]
