"""The widget is usable by keyboard alone, has no serious axe-core violations on the demo page with
the window open, and takes the whole screen at phone width."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import REPO, PageProblems, open_page, screenshot
from tests.browser.widget_driver import (
    TIMEOUT_MS,
    AgentSide,
    connected_chat,
    launcher,
    log,
    message_box,
    offered_chat,
    window,
)
from tests.conftest import LiveServer

AXE = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"  # npm ci in web/ installs it
FOCUSED = """() => {
  const root = document.querySelector('#frontdesk-widget')?.shadowRoot;
  const active = document.activeElement?.id === 'frontdesk-widget' ? root.activeElement : null;
  if (!active) return null;
  const name = active.getAttribute('aria-label') || active.labels?.[0]?.textContent || active.textContent || '';
  return name.trim();
}"""


async def focused(page: Page) -> str | None:
    value = await page.evaluate(FOCUSED)
    return None if value is None else str(value)


async def test_keyboard_only(page: Page, live: LiveServer) -> None:
    agent = await live.agent()
    try:
        await page.goto("/")
        await expect(launcher(page)).to_be_visible(timeout=TIMEOUT_MS)
        # Tab through the page until the chat button has the focus
        for _ in range(80):
            await page.keyboard.press("Tab")
            if await focused(page) == "Open chat":
                break
        assert await focused(page) == "Open chat"
        assert await launcher(page).get_attribute("aria-expanded") == "false"
        await page.keyboard.press("Enter")
        await expect(window(page)).to_be_visible(timeout=TIMEOUT_MS)
        assert await launcher(page).get_attribute("aria-expanded") == "true"
        await expect(page.get_by_label("First name")).to_be_focused(timeout=TIMEOUT_MS)
        await page.keyboard.type("Kai")
        await page.keyboard.press("Tab")
        await page.keyboard.type("Brandt")
        await page.keyboard.press("Tab")
        await page.keyboard.type("kai@example.com")
        await page.keyboard.press("Tab")
        await page.keyboard.type("Can I book a bike fitting?")
        await page.keyboard.press("Tab")
        assert await focused(page) == "Start chat"
        await page.keyboard.press("Enter")
        await expect(message_box(page)).to_be_focused(timeout=TIMEOUT_MS)
        chat_id = await offered_chat(agent)
        side = AgentSide(agent, chat_id)
        await side.customer_message("Can I book a bike fitting?")
        await agent.accept(chat_id)
        await page.keyboard.type("Tuesday works for me")
        await page.keyboard.press("Enter")
        await side.customer_message("Tuesday works for me")
        await agent.send_message(chat_id, "Tuesday at 10 is booked.")
        await expect(log(page)).to_contain_text("Tuesday at 10 is booked.", timeout=TIMEOUT_MS)
        # Escape closes and gives the focus back to the button; Enter opens again, into the message box
        await page.keyboard.press("Escape")
        await expect(window(page)).to_be_hidden()
        assert await focused(page) == "Open chat"
        assert await launcher(page).get_attribute("aria-expanded") == "false"
        await page.keyboard.press("Enter")
        await expect(message_box(page)).to_be_focused(timeout=TIMEOUT_MS)
        # the rest of the window is reachable: the attach button, back to the header's buttons
        await page.keyboard.press("Shift+Tab")
        assert await focused(page) == "Attach a file"
        names = []
        for _ in range(3):
            await page.keyboard.press("Shift+Tab")
            names.append(await focused(page))
        assert names == ["Chat messages", "Close", "End chat"]  # the log scrolls by keyboard too
        await screenshot(page, "widget-keyboard")
        await page.keyboard.press("Enter")  # End chat
        await expect(log(page)).to_contain_text("The chat has ended.", timeout=TIMEOUT_MS)
    finally:
        await agent.aclose()


async def axe_violations(page: Page) -> list[str]:
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("""async () => {
      const r = await axe.run(document, {resultTypes: ['violations']});
      return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '));
    }""")
    return [str(v) for v in result]


async def test_axe_finds_no_serious_violations_on_the_demo_page_with_the_widget(
        browser: Browser, live: LiveServer, page_problems: PageProblems) -> None:
    # the page's CSP allows no inline script, which is how Playwright adds axe: this context bypasses it
    page = await open_page(browser, live, page_problems, bypass_csp=True)
    await page.goto("/")
    await expect(launcher(page)).to_be_visible(timeout=TIMEOUT_MS)
    assert await axe_violations(page) == []
    agent = await live.agent()
    try:
        chat_id, _ = await connected_chat(page, agent)
        await agent.send_message(chat_id, "Hello! How can I help?")
        await expect(log(page)).to_contain_text("Hello! How can I help?", timeout=TIMEOUT_MS)
        assert await axe_violations(page) == []
        await screenshot(page, "widget-axe")
    finally:
        await agent.aclose()
        await page.context.close()


async def test_phone_width_full_screen(browser: Browser, live: LiveServer, page_problems: PageProblems) -> None:
    page = await open_page(browser, live, page_problems, viewport={"width": 390, "height": 844}, is_mobile=True,
                           has_touch=True, device_scale_factor=2)
    agent = await live.agent()
    try:
        await page.goto("/")
        await screenshot(page, "demo-phone")
        chat_id, _ = await connected_chat(page, agent)
        await agent.send_message(chat_id, "Hi Rae, Anna here from the workshop. What can I do for you?")
        await expect(log(page)).to_contain_text("What can I do for you?", timeout=TIMEOUT_MS)
        box = await window(page).bounding_box()
        assert box is not None and (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 390, 844)
        await expect(launcher(page)).to_be_hidden()  # the window's close button closes it
        await screenshot(page, "widget-phone")
        await window(page).get_by_role("button", name="Close").click()
        await expect(launcher(page)).to_be_visible()
    finally:
        await agent.aclose()
        await page.context.close()
