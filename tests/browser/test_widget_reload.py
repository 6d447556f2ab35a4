"""Reloading a page mid-chat while the agent keeps writing: the widget resumes the same chat and
shows every message exactly once (history with seqs once, then the poll after it)."""

from __future__ import annotations

import asyncio
from collections import Counter

from playwright.async_api import Page, Route, expect

from tests.browser.conftest import PageProblems, screenshot
from tests.browser.widget_driver import TIMEOUT_MS, connected_chat, log, send_keys, shown_texts, window
from tests.conftest import LiveServer

WELCOME = "Welcome to the frontdesk demo! An agent will be with you shortly."


async def test_reload_mid_chat_shows_every_message_once(page: Page, live: LiveServer) -> None:
    agent = await live.agent()
    try:
        chat_id, side = await connected_chat(page, agent)
        await send_keys(page, "customer: my chain skips")
        await side.customer_message("customer: my chain skips")
        await agent.send_message(chat_id, "agent: which gear?")
        await expect(log(page)).to_contain_text("agent: which gear?", timeout=TIMEOUT_MS)

        # the agent writes while the page reloads
        await asyncio.gather(page.reload(), agent.send_message(chat_id, "agent: during the reload"))
        await expect(window(page)).to_be_visible(timeout=TIMEOUT_MS)  # it stays open across the reload
        await expect(log(page)).to_contain_text("agent: during the reload", timeout=TIMEOUT_MS)

        # the page goes away for a while; the agent writes twice meanwhile
        await page.goto("about:blank")
        await agent.send_message(chat_id, "agent: while away 1")
        await agent.send_message(chat_id, "agent: while away 2")
        await page.goto("/")
        await expect(log(page)).to_contain_text("agent: while away 2", timeout=TIMEOUT_MS)

        # the chat goes on both ways
        await send_keys(page, "customer: the third one")
        await side.customer_message("customer: the third one")
        await agent.send_message(chat_id, "agent: after the reloads")
        await expect(log(page)).to_contain_text("agent: after the reloads", timeout=TIMEOUT_MS)

        expected = [WELCOME, "customer: my chain skips", "agent: which gear?", "agent: during the reload",
                    "agent: while away 1", "agent: while away 2", "customer: the third one", "agent: after the reloads"]
        shown = await shown_texts(page)
        assert shown == expected, shown
        assert all(count == 1 for count in Counter(shown).values())
        # one chat throughout: the agent holds the same one, with one "joined" notice in the widget
        assert [c["chat_id"] for c in await agent.chats()] == [chat_id]
        assert await log(page).get_by_text("Anna joined the chat").count() == 1
        await screenshot(page, "widget-after-reload")
    finally:
        await agent.aclose()


async def test_a_lost_connection_shows_reconnecting_and_loses_nothing(page: Page, live: LiveServer,
                                                                      page_problems: PageProblems) -> None:
    agent = await live.agent()
    try:
        chat_id, _ = await connected_chat(page, agent)
        polls = {"refused": 0}

        async def refuse(route: Route) -> None:
            polls["refused"] += 1
            await route.abort("connectionrefused")

        # the network goes away for the widget's polls only; the agent goes on writing
        await page.route("**/chats/*/events?*", refuse)
        await expect(page.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible(timeout=TIMEOUT_MS)
        await agent.send_message(chat_id, "agent: are you still there?")
        await screenshot(page, "widget-reconnecting")
        refused = polls["refused"]
        await page.unroute("**/chats/*/events?*")
        await expect(log(page)).to_contain_text("agent: are you still there?", timeout=TIMEOUT_MS * 2)
        await expect(page.get_by_role("status").filter(has_text="Reconnecting")).to_be_hidden()
        assert refused >= 1
        assert (await shown_texts(page)).count("agent: are you still there?") == 1
    finally:
        await agent.aclose()
    page_problems.errors = [e for e in page_problems.errors if "net::ERR_CONNECTION_REFUSED" not in e]


async def test_a_second_tab_shows_the_same_chat(page: Page, live: LiveServer) -> None:
    agent = await live.agent()
    second = await page.context.new_page()
    try:
        chat_id, side = await connected_chat(page, agent)
        await send_keys(page, "customer: from the first tab")
        await side.customer_message("customer: from the first tab")
        await second.goto("/")
        await second.locator("#frontdesk-widget .launcher").click()
        await expect(log(second)).to_contain_text("customer: from the first tab", timeout=TIMEOUT_MS)
        # both tabs follow the chat (each polls with its own cursor)
        await agent.send_message(chat_id, "agent: to both tabs")
        await expect(log(page)).to_contain_text("agent: to both tabs", timeout=TIMEOUT_MS)
        await expect(log(second)).to_contain_text("agent: to both tabs", timeout=TIMEOUT_MS)
        await send_keys(second, "customer: from the second tab")
        await side.customer_message("customer: from the second tab")
        assert (await shown_texts(second)).count("agent: to both tabs") == 1
        assert [c["chat_id"] for c in await agent.chats()] == [chat_id]
        await screenshot(second, "widget-second-tab")
    finally:
        await second.close()
        await agent.aclose()
