"""Monitoring a chat in the supervisor view (Chromium): the messages arrive live and silently, a
whisper reaches the agent and never the customer, barging in lets the supervisor talk to the
customer; hostile text in names and messages stays text."""

from __future__ import annotations

import asyncio
from pathlib import Path

from playwright.async_api import Dialog, Page, expect

from tests.browser.conftest import screenshot
from tests.browser.supervisor_team import (
    TIMEOUT_MS,
    Team,
    connected_chat,
    customer_events_until,
    live,
    sign_in_live,
    team,
)

__all__ = ["live", "team"]  # the fixtures

XSS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "javascript:alert(1)")


def names(events: list[dict[str, object]]) -> list[object]:
    return [e["event"] for e in events]


async def test_monitor_whisper_and_barge(page: Page, team: Team) -> None:
    customer, chat_id = await connected_chat(team, "device-monitor")
    async with customer:
        seen = max(int(e["seq"]) for e in await customer.poll_after(chat_id, 0))
        await sign_in_live(page)
        row = page.locator(f"tr[data-chat='{chat_id}']")
        await expect(row).to_contain_text("Connected", timeout=TIMEOUT_MS)
        await row.get_by_role("button", name="Monitor").click()
        monitor = page.locator(f"[data-monitor='{chat_id}']")
        await expect(monitor).to_contain_text("Silent: the customer and the agent are not told.")
        await expect(monitor.locator("[data-field=customer]")).to_have_text("Ada", timeout=TIMEOUT_MS)
        await expect(row.get_by_role("button", name="Monitoring")).to_be_visible(timeout=TIMEOUT_MS)

        # live and silent: both sides' messages appear; the customer learns nothing of it
        await customer.send_message(chat_id, "my bike has a flat tyre")
        await team.bob.send_message(chat_id, "let me check the stock")
        log = monitor.get_by_role("log")
        await expect(log).to_contain_text("my bike has a flat tyre", timeout=TIMEOUT_MS)
        await expect(log).to_contain_text("let me check the stock", timeout=TIMEOUT_MS)
        polled = await customer_events_until(customer, chat_id, seen,
                                             lambda e: e.get("msg_text") == "let me check the stock")
        assert "chat_session_party_joined" not in names(polled)
        seen = max(int(e["seq"]) for e in polled)

        # a whisper reaches the agent, never the customer
        await monitor.get_by_label("Whisper to the agent (the customer never sees it)").fill("offer the 10% discount")
        await monitor.get_by_role("button", name="Whisper", exact=True).click()
        await expect(log.locator("[data-event=whisper]")).to_contain_text("offer the 10% discount", timeout=TIMEOUT_MS)
        agent_view = await team.bob.events(chat_id, 0)
        assert [e["event"]["msg"] for e in agent_view if e["event"]["event"] == "frontdesk_whisper"] == [
            "offer the 10% discount"]
        await screenshot(page, "supervisor-monitor-whisper")
        await team.bob.send_message(chat_id, "after the whisper")
        polled = await customer_events_until(customer, chat_id, seen,
                                             lambda e: e.get("msg_text") == "after the whisper")
        history = await customer.history(chat_id)
        assert "frontdesk_whisper" not in names(polled) + names(history)
        assert all("discount" not in str(e) for e in polled + history)
        seen = max(int(e["seq"]) for e in polled)

        # barging in: the customer sees the supervisor join and read the supervisor's message
        await monitor.get_by_role("button", name="Barge in").click()
        await monitor.get_by_role("group").get_by_role("button", name="Barge in").click()
        await expect(monitor).to_contain_text("You are in this chat", timeout=TIMEOUT_MS)
        joined = await customer_events_until(customer, chat_id, seen,
                                             lambda e: e["event"] == "chat_session_party_joined")
        assert joined[-1]["display_name"] == "Sue (supervisor)" and joined[-1]["type"] == "internal"
        await monitor.get_by_label("Message to the customer").fill("Hello, I am the team lead.")
        await monitor.get_by_role("button", name="Send").click()
        said = await customer_events_until(customer, chat_id, int(joined[-1]["seq"]),
                                           lambda e: e.get("msg_text") == "Hello, I am the team lead.")
        assert said[-1]["party_id"] == joined[-1]["party_id"]
        await expect(log).to_contain_text("Hello, I am the team lead.", timeout=TIMEOUT_MS)
        await expect(row).to_contain_text("Sue (supervisor)", timeout=TIMEOUT_MS)
        await screenshot(page, "supervisor-monitor-barged")

        # leaving again: the customer sees the supervisor go, the agent stays
        await monitor.get_by_role("button", name="Leave the chat").click()
        await expect(monitor).to_have_count(0, timeout=TIMEOUT_MS)
        left = await customer_events_until(customer, chat_id, int(said[-1]["seq"]),
                                           lambda e: e["event"] == "chat_session_party_left")
        assert left[-1]["party_id"] == joined[-1]["party_id"]
        await expect(row).not_to_contain_text("Sue (supervisor)", timeout=TIMEOUT_MS)

        # monitoring again, the end of the chat shows
        await row.get_by_role("button", name="Monitor").click()
        await expect(monitor.get_by_role("log")).to_contain_text("Hello, I am the team lead.", timeout=TIMEOUT_MS)
        await customer.end(chat_id)
        await expect(monitor.get_by_role("log")).to_contain_text("The chat has ended.", timeout=TIMEOUT_MS)


async def test_hostile_names_and_messages_stay_text_in_the_monitor(page: Page, team: Team) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)

    page.on("dialog", on_dialog)
    long_word = "W" * 10_000
    customer, chat_id = await connected_chat(team, "device-xss", {"first_name": XSS[1], "last_name": XSS[0]})
    async with customer:
        for text in (*XSS, long_word):
            await customer.send_message(chat_id, text)
        await sign_in_live(page)
        await page.locator(f"tr[data-chat='{chat_id}']").get_by_role("button", name="Monitor").click()
        monitor = page.locator(f"[data-monitor='{chat_id}']")
        log = monitor.get_by_role("log")
        await expect(log).to_contain_text(long_word, timeout=TIMEOUT_MS)
        for text in XSS:
            await expect(log).to_contain_text(text)
        await expect(monitor.locator("[data-field=customer]")).to_have_text(f"{XSS[1]} {XSS[0]}")

        # a file with a hostile name: its name is text, its link our own download of it
        await customer.send_file(chat_id, f"{XSS[1]}.txt", b"the receipt", "text/plain")
        link = log.locator("[data-event=file] a")
        await expect(link).to_contain_text("onerror", timeout=TIMEOUT_MS)
        href = await link.get_attribute("href")
        assert href is not None and href.startswith(f"/agent/api/v1/chats/{chat_id}/files/")
        assert await link.get_attribute("rel") == "noopener noreferrer"
        async with page.expect_download() as downloading:
            await link.click()
        download = await downloading.value
        assert (await asyncio.to_thread(Path(await download.path()).read_bytes)) == b"the receipt"
        await team.bob.send_message(chat_id, XSS[2])
        await monitor.get_by_label("Whisper to the agent (the customer never sees it)").fill(XSS[1])
        await monitor.get_by_role("button", name="Whisper", exact=True).click()
        await expect(log.locator("[data-event=whisper]")).to_contain_text(XSS[1], timeout=TIMEOUT_MS)

        # nothing was injected, nothing ran, and the 10,000-character word wraps inside the page
        assert dialogs == []
        assert await page.locator("#app img, #app script, #app a[href^='javascript']").count() == 0
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        box = await monitor.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1280
        await screenshot(page, "supervisor-monitor-xss")
