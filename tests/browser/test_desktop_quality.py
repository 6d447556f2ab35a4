"""The desktop as an agent lives with it: several chats with unread counts, the customer's page,
earlier chats and left messages; hostile text stays inert and the layout holds; axe-core finds no
serious problem; the main actions work from the keyboard; and it is usable at 1280 and 390 wide."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from frontdesk.client import CustomerClient
from frontdesk.domain.config import ContactCenterConfig, EntryConfig, FormConfig, FormField, ScenarioConfig, Step
from frontdesk.settings import Settings
from tests.browser.conftest import REPO, screenshot
from tests.browser.desktop_pages import WAIT_MS, CustomerTail, ExpectedProblems, desktop_page, go_ready, named, sign_in
from tests.conftest import LiveServer, StartServer

AXE = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"
XSS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "javascript:alert(1)")


async def accept(page: Page, name: str) -> None:
    await page.get_by_role("article", name=f"{name} wants to chat").get_by_role("button", name="Accept").click()
    await expect(page.get_by_role("heading", name=name)).to_be_visible(timeout=WAIT_MS)


async def serious_violations(page: Page, axe: Path = AXE) -> list[str]:
    await page.add_script_tag(path=str(axe))
    found = await page.evaluate("""async () => {
        const result = await axe.run(document, { resultTypes: ["violations"] });
        return result.violations.filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => v.id + ": " + v.nodes.map(n => n.target.join(" ")).join(", "));
    }""")
    return list(found)


def with_left_messages(config: ContactCenterConfig) -> ContactCenterConfig:
    """The demo tenant plus an entry ``leave`` whose scenario takes a message for the agents."""
    tenant = config.tenants[config.default_tenant]
    contact = FormConfig("contact", "Leave a message", fields=(
        FormField("email", "E-mail", type="email", required=True), FormField("message", "Message", required=True)))
    leave = EntryConfig(app_id="leave", name="After hours", queue_id="general", scenario="leave")
    steps = (Step("leave_message", {"leave_message": "contact"}, ""),)
    return replace(config, tenants={tenant.name: replace(
        tenant, forms={**tenant.forms, "contact": contact}, entries={**tenant.entries, "leave": leave},
        scenarios={**tenant.scenarios, "leave": ScenarioConfig("leave", steps)})})


async def test_several_chats_unread_counts_page_history_and_left_messages(
        browser: Browser, start_server: StartServer, demo_config: ContactCenterConfig) -> None:
    live = await start_server(settings=Settings(contact_center=with_left_messages(demo_config), poll_hold_secs=0.25))
    problems = ExpectedProblems()
    page = await desktop_page(browser, live, problems)
    clients: list[CustomerClient] = []
    try:
        # a message left out of hours, through the real scenario
        leaver = CustomerClient(live.base_url, app_id="leave", client_id="leaver", tenant_url="demo.local")
        clients.append(leaver)
        left_chat = str((await leaver.request_chat({"first_name": "Noor"}))["chat_id"])
        form = await CustomerTail(leaver, left_chat).until(named("chat_session_form_show", form_name="contact"))
        await leaver.send_events(left_chat, {"event": "chat_session_form_data",
                                             "form_request_id": form["form_request_id"], "form_name": "contact",
                                             "data": {"email": "noor@example.com", "message": "Call me back"}})

        await sign_in(page)
        await go_ready(page)
        # an earlier chat of the same client, ended
        first = live.customer(client_id="returning")
        clients.append(first)
        earlier = str((await first.request_chat({"first_name": "Kai"}))["chat_id"])
        await accept(page, "Kai")
        await first.send_message(earlier, "my first visit")
        await expect(page.locator(".fd-log").get_by_text("my first visit")).to_be_visible(timeout=WAIT_MS)
        await page.get_by_role("button", name="End chat").click()
        await page.get_by_role("button", name="End chat").click()
        await expect(page.locator(".fd-pill")).to_have_text("Ended", timeout=WAIT_MS)
        await page.get_by_role("button", name="Close", exact=True).click()

        # two chats at once: Kai again (with history), and Zoe
        again = str((await first.request_chat({"first_name": "Kai"}))["chat_id"])
        await accept(page, "Kai")
        await expect(page.get_by_test_id("history")).to_contain_text("general", timeout=WAIT_MS)
        await page.get_by_test_id("history").locator("summary").first.click()
        await expect(page.get_by_test_id("history")).to_contain_text("my first visit")
        zoe = live.customer(client_id="zoe")
        clients.append(zoe)
        zoe_chat = str((await zoe.request_chat({"first_name": "Zoe"}))["chat_id"])
        await page.get_by_role("article", name="Zoe wants to chat").get_by_role("button", name="Accept").click()
        zoe_item = page.locator(f'[data-chat-id="{zoe_chat}"]')
        kai_item = page.locator(f'[data-chat-id="{again}"]')
        await expect(zoe_item).to_be_visible(timeout=WAIT_MS)
        await kai_item.click()
        await expect(page.get_by_role("heading", name="Kai")).to_be_visible()
        await zoe.send_message(zoe_chat, "hello?")
        await zoe.send_message(zoe_chat, "anyone there?")
        await expect(zoe_item.get_by_test_id("unread")).to_have_text("2", timeout=WAIT_MS)
        await zoe.send_events(zoe_chat, {"event": "chat_session_navigation", "msg_id": zoe.next_msg_id(),
                                         "page": "https://shop.example/bikes/gravel", "title": "Gravel bikes"})
        await screenshot(page, "desktop-two-chats")
        await zoe_item.click()
        await expect(zoe_item.get_by_test_id("unread")).to_have_count(0, timeout=WAIT_MS)
        await expect(page.get_by_test_id("current-page").get_by_role("link", name="Gravel bikes")).to_have_attribute(
            "href", "https://shop.example/bikes/gravel", timeout=WAIT_MS)
        # keyboard: Alt+↑ goes back to Kai
        await page.keyboard.press("Alt+ArrowUp")
        await expect(page.get_by_role("heading", name="Kai")).to_be_visible()

        # the left message, marked handled
        await page.get_by_role("button", name="Left messages").click()
        card = page.locator(".fd-card").filter(has_text="noor@example.com")
        await expect(card).to_contain_text("Call me back", timeout=WAIT_MS)
        await screenshot(page, "desktop-left-messages")
        await card.get_by_role("button", name="Mark handled").click()
        await expect(page.get_by_text("No messages waiting.")).to_be_visible(timeout=WAIT_MS)
    finally:
        for client in clients:
            await client.aclose()
        await page.context.close()
    assert problems.errors == [], problems.errors


async def test_hostile_text_stays_inert_and_the_layout_holds(browser: Browser, live: LiveServer) -> None:
    problems = ExpectedProblems()
    page = await desktop_page(browser, live, problems)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    customer = live.customer(client_id="mallory")
    try:
        await sign_in(page)
        await go_ready(page)
        chat_id = str((await customer.request_chat({"first_name": XSS[1], "last_name": "", "note": XSS[2],
                                                    "email": XSS[0]}))["chat_id"])
        await page.get_by_role("article").get_by_role("button", name="Accept").click()
        log = page.locator(".fd-log")
        # from the customer (the server keeps the text of their HTML, tags dropped) ...
        for payload in XSS:
            await customer.send_message(chat_id, payload)
        long_word = "W" * 10_000
        await customer.send_message(chat_id, long_word)
        await customer.send_events(chat_id, {"event": "chat_session_navigation", "msg_id": customer.next_msg_id(),
                                             "page": XSS[2], "title": XSS[0]})
        await expect(log.locator(".fd-bubble__text").filter(has_text="WWWW")).to_be_visible(timeout=WAIT_MS)
        await expect(log.locator(".fd-msg--customer").get_by_text(XSS[2], exact=True)).to_be_visible()
        # ... and typed by the agent: shown exactly as typed
        box = page.get_by_label("Message", exact=True)
        for payload in XSS:
            await box.fill(payload)
            await box.press("Enter")
            await expect(log.locator(".fd-msg--mine").get_by_text(payload, exact=True)).to_be_visible(timeout=WAIT_MS)
        await expect(page.get_by_test_id("current-page")).to_have_text(XSS[0], timeout=WAIT_MS)
        # nothing ran, nothing was injected, no javascript: link exists
        assert dialogs == []
        assert await page.locator("#app script, #app img[src='x']").count() == 0
        assert await page.locator("a[href^='javascript:' i]").count() == 0
        assert await page.get_by_role("heading", name=XSS[1]).count() == 1  # the name, as text
        # the 10,000-character word wraps inside its bubble: nothing scrolls sideways
        overflow = await page.evaluate("""() => {
            const log = document.querySelector('.fd-log');
            const bubbles = [...document.querySelectorAll('.fd-bubble')];
            return {
                page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
                log: log.scrollWidth - log.clientWidth,
                widest: Math.max(...bubbles.map(b => b.getBoundingClientRect().right))
                    - log.getBoundingClientRect().right,
            };
        }""")
        assert overflow["page"] <= 0 and overflow["log"] <= 0 and overflow["widest"] <= 0, overflow
        await screenshot(page, "desktop-xss")
    finally:
        await customer.aclose()
        await page.context.close()
    assert problems.errors == [], problems.errors


async def test_axe_finds_no_serious_violations_on_the_login_page_and_the_desktop(browser: Browser,
                                                                                 live: LiveServer) -> None:
    problems = ExpectedProblems()
    # the page's CSP rightly refuses injected scripts; this context lets the test inject axe-core
    page = await desktop_page(browser, live, problems, bypass_csp=True)
    customer = live.customer(client_id="axe")
    try:
        await page.goto("/agent")
        await expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT_MS)
        assert await serious_violations(page) == []
        await sign_in(page)
        await go_ready(page)
        chat_id = str((await customer.request_chat({"first_name": "Ines"}))["chat_id"])
        await expect(page.get_by_role("article", name="Ines wants to chat")).to_be_visible(timeout=WAIT_MS)
        assert await serious_violations(page) == []  # with an offer showing
        await accept(page, "Ines")
        await customer.send_message(chat_id, "Hello")
        await expect(page.locator(".fd-log").get_by_text("Hello")).to_be_visible(timeout=WAIT_MS)
        assert await serious_violations(page) == []
        await page.set_viewport_size({"width": 390, "height": 844})
        assert await serious_violations(page) == []
    finally:
        await customer.aclose()
        await page.context.close()
    assert problems.errors == [], problems.errors


async def focus_by_tab(page: Page, target: str, limit: int = 60) -> None:
    """Press Tab until the element matching ``target`` (a CSS selector) has the focus."""
    for _ in range(limit):
        if await page.evaluate("sel => document.activeElement?.matches(sel) ?? false", target):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{target} is not reachable with Tab")


async def test_the_main_actions_work_from_the_keyboard(browser: Browser, live: LiveServer) -> None:
    problems = ExpectedProblems()
    page = await desktop_page(browser, live, problems)
    customer = live.customer(client_id="keys")
    try:
        await page.goto("/agent")
        await expect(page.get_by_label("Username")).to_be_visible(timeout=WAIT_MS)
        await focus_by_tab(page, "input[name=username]")
        await page.keyboard.type("anna")
        await page.keyboard.press("Tab")
        await page.keyboard.type("frontdesk-demo")
        await page.keyboard.press("Enter")
        await expect(page.get_by_test_id("agent-state")).to_have_text("Not ready", timeout=WAIT_MS)
        await focus_by_tab(page, "[data-testid=toggle-state]")
        await page.keyboard.press("Enter")
        await expect(page.get_by_test_id("agent-state")).to_have_text("Ready", timeout=WAIT_MS)
        chat_id = str((await customer.request_chat({"first_name": "Theo"}))["chat_id"])
        await expect(page.get_by_role("article", name="Theo wants to chat")).to_be_visible(timeout=WAIT_MS)
        await focus_by_tab(page, ".fd-offer .fd-button--primary")
        await screenshot(page, "desktop-keyboard-focus")
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("heading", name="Theo")).to_be_visible(timeout=WAIT_MS)
        await focus_by_tab(page, "textarea.fd-composer__text")
        await page.keyboard.type("typed without a mouse")
        await page.keyboard.press("Enter")
        await CustomerTail(customer, chat_id).until(named("chat_session_message", msg_text="typed without a mouse"))
        for target in ("[data-testid=transfer-target]", ".fd-details .fd-button--danger",
                       ".fd-composer .fd-button--ghost"):
            await focus_by_tab(page, target)
        # the shortcut toggles the state
        await page.keyboard.press("Alt+r")
        await expect(page.get_by_test_id("agent-state")).to_have_text("Not ready", timeout=WAIT_MS)
    finally:
        await customer.aclose()
        await page.context.close()
    assert problems.errors == [], problems.errors


async def test_usable_at_1280_and_on_a_phone(browser: Browser, live: LiveServer) -> None:
    problems = ExpectedProblems()
    page = await desktop_page(browser, live, problems)
    customer = live.customer(client_id="sizes")
    try:
        await sign_in(page)
        await go_ready(page)
        chat_id = str((await customer.request_chat({"first_name": "Ada", "last_name": "Lovelace",
                                                    "email": "ada@example.com"}))["chat_id"])
        await accept(page, "Ada Lovelace")
        await customer.send_message(chat_id, "Is the gravel bike in stock in size M?")
        await page.get_by_label("Message", exact=True).fill("Yes, two of them. Shall I reserve one?")
        await page.get_by_label("Message", exact=True).press("Enter")
        await expect(page.locator(".fd-msg--mine")).to_have_count(1, timeout=WAIT_MS)
        await screenshot(page, "desktop-1280x800")
        await page.set_viewport_size({"width": 1024, "height": 768})
        await page.get_by_role("button", name="Customer details").click()
        await expect(page.get_by_test_id("pre-chat")).to_be_visible()
        await screenshot(page, "desktop-1024-details")
        await page.get_by_role("button", name="Close details").click()
        await expect(page.get_by_test_id("pre-chat")).to_be_hidden()

        await page.set_viewport_size({"width": 390, "height": 844})
        # on a phone: the list first, then the chat, and back
        await expect(page.get_by_test_id("agent-state")).to_be_visible()
        await page.locator(f'[data-chat-id="{chat_id}"]').click()
        await expect(page.get_by_label("Message", exact=True)).to_be_visible()
        await expect(page.get_by_test_id("agent-state")).to_be_hidden()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        await screenshot(page, "desktop-390-chat")
        await page.get_by_role("button", name="Chats", exact=True).click()
        await expect(page.get_by_test_id("agent-state")).to_be_visible()
        await screenshot(page, "desktop-390-list")
    finally:
        await customer.aclose()
        await page.context.close()
    assert problems.errors == [], problems.errors


RECORD_ALERTS = """
(() => {
  window.__notes = [];
  window.__tones = 0;
  const Real = window.Notification;
  class Recorded extends Real {
    constructor(title, options) { super(title, options); window.__notes.push([title, options?.body ?? ""]); }
  }
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  Recorded.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Recorded;
  const oscillator = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function () { window.__tones += 1; return oscillator.call(this); };
})();
"""


async def test_an_offer_chimes_and_notifies_in_german(browser: Browser, live: LiveServer) -> None:
    problems = ExpectedProblems()
    # a German browser with notifications granted; the init script records what the page asks of
    # Notification and WebAudio
    page = await desktop_page(browser, live, problems, permissions=["notifications"], locale="de-DE")
    await page.add_init_script(RECORD_ALERTS)
    customer = live.customer(client_id="alerts")
    try:
        await page.goto("/agent")
        await page.get_by_label("Benutzername").fill("anna")
        await page.get_by_label("Passwort").fill("frontdesk-demo")
        await page.get_by_role("button", name="Anmelden").click()
        await expect(page.get_by_test_id("agent-state")).to_have_text("Nicht bereit", timeout=WAIT_MS)
        assert await page.evaluate("document.documentElement.lang") == "de"
        await page.get_by_role("button", name="Bereit schalten").click()  # the gesture that unlocks audio
        await expect(page.get_by_test_id("agent-state")).to_have_text("Bereit", timeout=WAIT_MS)
        assert await page.evaluate("Notification.permission") == "granted"
        await customer.request_chat({"first_name": "Uma"})
        await expect(page.get_by_role("article", name="Uma möchte chatten")).to_be_visible(timeout=WAIT_MS)
        await page.wait_for_function("window.__notes.length === 1")
        assert await page.evaluate("window.__notes") == [["Eingehender Chat", "Uma möchte chatten"]]
        await page.wait_for_function("window.__tones === 2")  # two tones of the chime
        await screenshot(page, "desktop-german-offer")
    finally:
        await customer.aclose()
        await page.context.close()
    assert problems.errors == [], problems.errors
