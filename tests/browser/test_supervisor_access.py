"""Who may use the supervisor view, and how accessible it is (Chromium): an agent who is not a
supervisor gets a clear refusal; axe-core finds no serious or critical violation on any screen, at
desktop and phone widths; the live view works from the keyboard alone."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Page, expect

from frontdesk.client import AgentClient
from tests.browser.conftest import REPO, PageProblems, open_page, screenshot
from tests.browser.supervisor_team import (
    BOB,
    SUE,
    TIMEOUT_MS,
    Team,
    connected_chat,
    live,
    sign_in,
    sign_in_live,
    team,
)

__all__ = ["live", "team"]  # the fixtures

# axe-core (a dev dependency of web/), run in the page through the DevTools protocol: the page's CSP
# (script-src 'self') rightly refuses an injected <script> element
AXE_SOURCE = (REPO / "web" / "node_modules" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
PHONE = {"width": 390, "height": 844}


async def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE_SOURCE)
    result: dict[str, Any] = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


async def test_an_agent_who_is_not_a_supervisor_is_refused_clearly(page: Page, team: Team) -> None:
    await sign_in(page, BOB)
    await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(page.get_by_text("You are signed in as Bob, who is not a supervisor.")).to_be_visible()
    assert await page.locator("[data-status]").count() == 0  # no live overview was opened
    assert await serious_violations(page) == []
    await screenshot(page, "supervisor-not-allowed")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=TIMEOUT_MS)


async def test_a_session_that_ends_elsewhere_leads_back_to_the_sign_in(page: Page, team: Team) -> None:
    await sign_in_live(page)
    elsewhere = AgentClient(team.base_url)
    try:
        await elsewhere.login(*SUE)
        await elsewhere.logout()  # ends every token and session of sue, the browser's too
    finally:
        await elsewhere.aclose()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=TIMEOUT_MS)
    await page.reload()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=TIMEOUT_MS)
    await sign_in_live(page)  # and signing in again works
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=TIMEOUT_MS)


async def test_no_serious_accessibility_violations_and_keyboard_use(page: Page, team: Team) -> None:
    customer, chat_id = await connected_chat(team, "device-axe")
    async with customer:
        await page.goto("/supervisor")
        await expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=TIMEOUT_MS)
        assert await serious_violations(page) == []
        await sign_in_live(page)
        row = page.locator(f"tr[data-chat='{chat_id}']")
        await expect(row).to_contain_text("Connected", timeout=TIMEOUT_MS)
        assert await serious_violations(page) == []

        # keyboard only: tab to the chat's Monitor button, open it, whisper with Enter
        monitor_button = row.get_by_role("button", name="Monitor")
        for _ in range(60):
            if await monitor_button.evaluate("b => b === document.activeElement"):
                break
            await page.keyboard.press("Tab")
        else:
            raise AssertionError("the Monitor button is not reachable with Tab")
        await page.keyboard.press("Enter")
        monitor = page.locator(f"[data-monitor='{chat_id}']")
        await expect(monitor).to_be_visible(timeout=TIMEOUT_MS)
        whisper = monitor.get_by_label("Whisper to the agent (the customer never sees it)")
        await whisper.focus()
        await page.keyboard.type("keyboard whisper")
        await page.keyboard.press("Enter")
        await expect(monitor.locator("[data-event=whisper]")).to_contain_text("keyboard whisper", timeout=TIMEOUT_MS)
        assert await serious_violations(page) == []
        await screenshot(page, "supervisor-monitor-desktop")

        await page.get_by_role("button", name="Reports").click()
        await expect(page.locator("table[data-report=queues]")).to_be_attached(timeout=TIMEOUT_MS)
        assert await serious_violations(page) == []


async def test_the_view_at_phone_width(browser: Browser, team: Team, page_problems: PageProblems) -> None:
    customer, chat_id = await connected_chat(team, "device-phone", {"first_name": "Ada", "last_name": "Lovelace"})
    async with customer:
        await customer.send_message(chat_id, "Hello from a phone-sized view")
        page = await open_page(browser, team.live, page_problems, viewport=PHONE)
        try:
            await page.goto("/supervisor")
            await expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=TIMEOUT_MS)
            await screenshot(page, "supervisor-phone-login")
            await sign_in_live(page)
            row = page.locator(f"tr[data-chat='{chat_id}']")
            await expect(row).to_contain_text("Ada Lovelace", timeout=TIMEOUT_MS)
            assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert await serious_violations(page) == []
            await screenshot(page, "supervisor-phone-live")
            await row.get_by_role("button", name="Monitor").click()
            monitor = page.locator(f"[data-monitor='{chat_id}']")
            await expect(monitor.get_by_role("log")).to_contain_text("Hello from a phone-sized view",
                                                                     timeout=TIMEOUT_MS)
            await monitor.scroll_into_view_if_needed()
            assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert await serious_violations(page) == []
            await screenshot(page, "supervisor-phone-monitor")
            await page.get_by_role("button", name="Reports").click()
            await expect(page.locator("table[data-report=queues]")).to_be_attached(timeout=TIMEOUT_MS)
            assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            await screenshot(page, "supervisor-phone-reports")
        finally:
            await page.context.close()


async def test_the_view_speaks_german_to_a_german_browser(browser: Browser, team: Team,
                                                         page_problems: PageProblems) -> None:
    page = await open_page(browser, team.live, page_problems, locale="de-DE")
    try:
        await page.goto("/supervisor")
        await page.get_by_label("Benutzername").fill(SUE[0])
        await page.get_by_label("Passwort").fill(SUE[1])
        await page.get_by_role("button", name="Anmelden").click()
        await expect(page.locator("[data-status=live]")).to_be_visible(timeout=TIMEOUT_MS)
        await expect(page.get_by_role("heading", name="Supervisor-Ansicht")).to_be_visible()
        await expect(page.get_by_role("heading", name="Warteschlangen")).to_be_visible()
        await expect(page.locator("tr[data-agent=bob] [data-field=state]")).to_have_text("Nicht bereit")
        assert await page.evaluate("document.documentElement.lang") == "de"
        await page.get_by_role("button", name="Berichte").click()
        await expect(page.get_by_role("link", name="CSV herunterladen")).to_be_visible(timeout=TIMEOUT_MS)
        await screenshot(page, "supervisor-german-reports")
    finally:
        await page.context.close()
