"""Two agents, each in their own desktop (two browser contexts): a transfer from one to the other,
then a conference (invite, join, both talk, leave), the end and the wrap-up of each."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import screenshot
from tests.browser.desktop_pages import WAIT_MS, CustomerTail, ExpectedProblems, desktop_page, go_ready, named, sign_in
from tests.center import PASSWORD, TENANT, start_center
from tests.conftest import StartServer


async def say(page: Page, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    await box.fill(text)
    await box.press("Enter")


async def test_transfer_between_two_agents_then_a_conference(browser: Browser, start_server: StartServer) -> None:
    center = await start_center(start_server)
    problems = ExpectedProblems()
    bob = await desktop_page(browser, center.live, problems)
    ann = await desktop_page(browser, center.live, problems)
    try:
        await sign_in(bob, "bob", PASSWORD, TENANT)
        await sign_in(ann, "ann", PASSWORD, TENANT)
        await go_ready(bob)  # ann stays not ready: the chat goes to bob
        customer, chat_id = await center.chat("Lena")
        tail = CustomerTail(customer, chat_id)
        await bob.get_by_role("article", name="Lena wants to chat").get_by_role("button", name="Accept").click()
        await expect(bob.get_by_role("heading", name="Lena")).to_be_visible(timeout=WAIT_MS)
        await say(bob, "Hi Lena, I am passing you to Ann.")
        await tail.until(named("chat_session_message", msg_text="Hi Lena, I am passing you to Ann."))

        # transfer bob → ann
        await bob.get_by_test_id("transfer-target").select_option(f"agent:{TENANT}/ann")
        await bob.get_by_role("button", name="Transfer", exact=True).click()
        offer = ann.get_by_role("article", name="Lena wants to chat")
        await expect(offer).to_be_visible(timeout=WAIT_MS)
        await screenshot(ann, "desktop-transfer-offer")
        await offer.get_by_role("button", name="Accept").click()
        await expect(ann.get_by_role("heading", name="Lena")).to_be_visible(timeout=WAIT_MS)
        # ann sees what was said before
        await expect(ann.locator(".fd-log").get_by_text("Hi Lena, I am passing you to Ann.")).to_be_visible()
        await tail.until(named("chat_session_party_joined", display_name="Ann"))

        # bob left: he wraps up (the general queue has no fixed dispositions: free text)
        await expect(bob.locator(".fd-pill")).to_have_text("You left", timeout=WAIT_MS)
        await bob.get_by_label("Disposition").fill("transferred")
        await bob.get_by_label("Notes").fill("wanted Ann")
        await bob.get_by_role("button", name="Save wrap-up").click()
        await expect(bob.get_by_text("Wrap-up saved.")).to_be_visible(timeout=WAIT_MS)
        await bob.get_by_role("button", name="Close", exact=True).click()
        await expect(bob.get_by_text("No chats yet.")).to_be_visible()

        # conference: ann invites bob, bob joins
        await ann.get_by_test_id("invite-target").select_option(f"{TENANT}/bob")
        await ann.get_by_role("button", name="Invite", exact=True).click()
        invitation = bob.locator(".fd-offer--invite")
        await expect(invitation).to_contain_text("Invited to a chat with Lena", timeout=WAIT_MS)
        await invitation.get_by_role("button", name="Join").click()
        await expect(bob.get_by_role("heading", name="Lena")).to_be_visible(timeout=WAIT_MS)
        await say(ann, "Bob is here too.")
        await expect(bob.locator(".fd-log").get_by_text("Bob is here too.")).to_be_visible(timeout=WAIT_MS)
        await say(bob, "Hello again from Bob.")
        await expect(ann.locator(".fd-log").get_by_text("Hello again from Bob.")).to_be_visible(timeout=WAIT_MS)
        await tail.until(named("chat_session_message", msg_text="Hello again from Bob."))
        await screenshot(bob, "desktop-conference")

        # bob leaves, ann ends the chat and wraps up
        await bob.get_by_role("button", name="Leave chat").click()
        await expect(bob.locator(".fd-pill")).to_have_text("You left", timeout=WAIT_MS)
        # bob left twice: after the transfer, and now
        await expect(ann.locator(".fd-log").get_by_text("Bob left")).to_have_count(2, timeout=WAIT_MS)
        await ann.get_by_role("button", name="End chat").click()
        await ann.get_by_role("button", name="End chat").click()  # confirm
        await tail.until(named("chat_session_ended"))
        await expect(ann.locator(".fd-pill")).to_have_text("Ended", timeout=WAIT_MS)
        await ann.get_by_label("Disposition").fill("resolved")
        await ann.get_by_role("button", name="Save wrap-up").click()
        await expect(ann.get_by_text("Wrap-up saved.")).to_be_visible(timeout=WAIT_MS)
        await screenshot(ann, "desktop-wrapped-up")
    finally:
        await bob.context.close()
        await ann.context.close()
        await center.close()
    assert problems.errors == [], problems.errors


async def test_transfer_to_a_queue_and_a_wrap_up_with_the_queues_dispositions(browser: Browser,
                                                                            start_server: StartServer) -> None:
    center = await start_center(start_server)
    problems = ExpectedProblems()
    ann = await desktop_page(browser, center.live, problems)
    bob = await desktop_page(browser, center.live, problems)
    try:
        await sign_in(ann, "ann", PASSWORD, TENANT)
        await sign_in(bob, "bob", PASSWORD, TENANT)
        await go_ready(ann)
        await go_ready(bob)
        customer, chat_id = await center.chat("Ravi", app_id="billing")  # only ann has the billing skill
        tail = CustomerTail(customer, chat_id)
        await ann.get_by_role("article", name="Ravi wants to chat").get_by_role("button", name="Accept").click()
        await expect(ann.get_by_role("heading", name="Ravi")).to_be_visible(timeout=WAIT_MS)
        await ann.get_by_test_id("transfer-target").select_option("queue:general")
        await ann.get_by_role("button", name="Transfer", exact=True).click()
        offer = bob.get_by_role("article", name="Ravi wants to chat")
        await offer.get_by_role("button", name="Accept").click(timeout=WAIT_MS)
        await tail.until(named("chat_session_party_joined", display_name="Bob"))
        await expect(ann.locator(".fd-pill")).to_have_text("You left", timeout=WAIT_MS)
        # the chat is in the general queue now, which has no fixed dispositions: free text
        await ann.get_by_label("Disposition").fill("to general")
        await ann.get_by_role("button", name="Save wrap-up").click()
        await expect(ann.get_by_text("Wrap-up saved.")).to_be_visible(timeout=WAIT_MS)
        await ann.get_by_role("button", name="Close", exact=True).click()

        # a billing chat ann ends herself: the billing queue's dispositions, as a choice
        second, second_id = await center.chat("Sara", app_id="billing")
        await ann.get_by_role("article", name="Sara wants to chat").get_by_role("button", name="Accept").click()
        await expect(ann.get_by_role("heading", name="Sara")).to_be_visible(timeout=WAIT_MS)
        await ann.get_by_role("button", name="End chat").click()
        await ann.get_by_role("button", name="End chat").click()
        await CustomerTail(second, second_id).until(named("chat_session_ended"))
        disposition = ann.get_by_label("Disposition")
        await expect(disposition).to_have_js_property("tagName", "SELECT", timeout=WAIT_MS)
        assert await disposition.evaluate("e => [...e.options].map(o => o.value)") == ["resolved", "callback"]
        await disposition.select_option("callback")
        await ann.get_by_role("button", name="Save wrap-up").click()
        await expect(ann.get_by_text("Wrap-up saved.")).to_be_visible(timeout=WAIT_MS)
        await screenshot(ann, "desktop-wrap-up-dispositions")
    finally:
        await ann.context.close()
        await bob.context.close()
        await center.close()
    assert problems.errors == [], problems.errors
